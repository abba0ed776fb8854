// The floor under any Node proxy, for the benchmark's reference row: node:http in, undici's
// dispatcher out, the answer written to the socket as it comes, hop-by-hop headers dropped and
// nothing else (no routing, no checks, no logs). What gatehouse costs above this row is ours;
// what this row costs above nginx is Node's HTTP stack. Started by bench/run.ts:
// node dist-scripts/bench/floor.js PORT UPSTREAM_ORIGIN
import { createServer, type IncomingHttpHeaders } from 'node:http'
import { Agent } from 'undici'

const [port, origin] = process.argv.slice(2)
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'trailer', 'te', 'host'])
const agent = new Agent({ connections: 256, pipelining: 1, keepAliveTimeout: 10_000 })

createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  const headers: Record<string, string | string[]> = {}
  for (const name in req.headers) if (!HOP_BY_HOP.has(name)) headers[name] = req.headers[name]!
  agent.dispatch(
    { origin: origin!, path: req.url!, method: req.method!, headers, body: req.method === 'GET' || req.method === 'HEAD' ? null : req },
    {
      onRequestStart() {},
      onResponseStart(_controller, status, upstream: IncomingHttpHeaders) {
        const out: string[] = []
        for (const name in upstream) if (!HOP_BY_HOP.has(name)) out.push(name, String(upstream[name]))
        res.writeHead(status, out)
      },
      onResponseData(controller, chunk) {
        if (!res.write(chunk)) {
          controller.pause()
          res.once('drain', () => controller.resume())
        }
      },
      onResponseEnd() {
        res.end()
      },
      onResponseError() {
        if (!res.headersSent) res.writeHead(502)
        res.end()
      },
    },
  )
}).listen(Number(port), '127.0.0.1')
