// `npm run demo`: an echo upstream on 127.0.0.1:9000 that answers with what it received, and the
// gateway on config/gatehouse.yaml in front of it, so that the README's curl lines work as written.
// Both stop with the process (Ctrl-C).
import { createServer } from 'node:http'
import { closeOnSignals, startServer } from './server.js'

const echo = createServer((req, res) => {
  res.setHeader('content-type', 'application/json')
  res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers }, null, 2) + '\n')
})
await new Promise<void>((resolve) => echo.listen(9000, '127.0.0.1', resolve))
console.error('echo upstream listening on http://127.0.0.1:9000')

const gateway = await startServer(process.env.GATEHOUSE_CONFIG || 'config/gatehouse.yaml').catch((err: Error) => {
  console.error(err.message)
  process.exit(1)
})
closeOnSignals(gateway)
