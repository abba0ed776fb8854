// What the load test and the benchmark both need: free ports, a private redis-server, and stopping
// what they started by its PID.
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer as createNetServer, type AddressInfo } from 'node:net'

export async function freePort(): Promise<number> {
  const server = createNetServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** A redis-server on 127.0.0.1:`port` that keeps nothing on disk, once it accepts connections. */
export function startRedis(port: number, extraArgs: string[] = []): Promise<ChildProcess> {
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extraArgs], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  return new Promise((resolve, reject) => {
    let out = ''
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      if (out.includes('Ready to accept connections')) resolve(proc)
    })
    proc.once('exit', (code) => reject(new Error(`redis-server exited with ${code}`)))
  })
}

/** SIGTERM to the process's PID, and waits for its exit. */
export const stop = (proc: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve()
    proc.once('exit', () => resolve())
    process.kill(proc.pid!, 'SIGTERM')
  })
