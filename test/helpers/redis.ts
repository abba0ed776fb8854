// A real redis-server for tests, on a free port, started and stopped by its PID. Without the
// binary, REDIS_URL is used when set (outage tests then skip: they cannot stop that server);
// with neither, Redis tests are skipped with a printed reason, except under CI=true, where that
// is a failure.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { Redis } from 'ioredis'
import { freePort } from './index.js'

export const hasRedisBinary = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0
const externalUrl = process.env.REDIS_URL || undefined

/** Whether Redis tests can run here; prints why not, and fails under CI. */
export function redisAvailable(needsOwnServer = false): boolean {
  if (hasRedisBinary) return true
  if (!needsOwnServer && externalUrl) return true
  const why = needsOwnServer ? 'redis-server is not on PATH (this test stops and restarts it)' : 'redis-server is not on PATH and REDIS_URL is not set'
  if (process.env.CI === 'true') throw new Error(`Redis tests cannot run: ${why}. .ci/run installs redis-server.`)
  console.warn(`skipping Redis tests: ${why}`)
  return false
}

export interface RedisServer {
  readonly url: string
  /** Empties the database, so that tests in one file do not share counters. */
  flush(): Promise<void>
  /** Makes Redis answer nothing for `seconds` (DEBUG SLEEP), as an overloaded Redis would. */
  stall(seconds: number): Promise<void>
  /** Stops the server (SIGTERM to its PID) and waits until it has exited. */
  stop(): Promise<void>
  /** Starts it again on the same port (nothing to do when it is running). */
  start(): Promise<void>
  close(): Promise<void>
}

export async function startRedis(): Promise<RedisServer> {
  if (!hasRedisBinary) {
    const url = externalUrl!
    return { url, flush: () => flushAt(url), stall: unsupported, stop: unsupported, start: unsupported, close: async () => undefined }
  }
  const port = await freePort()
  const url = `redis://127.0.0.1:${port}`
  let child: ChildProcess | undefined
  const start = async () => {
    if (child && child.exitCode === null) return
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--enable-debug-command', 'local']
    const proc = spawn('redis-server', args, {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    child = proc
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('redis-server did not start within 5 s')), 5_000)
      let out = ''
      proc.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString()
        if (out.includes('Ready to accept connections')) {
          clearTimeout(timer)
          resolve()
        }
      })
      proc.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${out.slice(-500)}`)))
    })
    proc.stdout.resume()
  }
  const stop = async () => {
    const proc = child
    child = undefined
    if (!proc || proc.exitCode !== null) return
    const exited = new Promise((resolve) => proc.once('exit', resolve))
    process.kill(proc.pid!, 'SIGTERM')
    await exited
  }
  await start()
  const stall = async (seconds: number) => {
    const client = new Redis(url, { lazyConnect: true })
    await client.connect()
    // Not awaited: the reply comes only when the sleep ends; the connection is dropped then.
    void client.call('DEBUG', 'SLEEP', String(seconds)).finally(() => client.disconnect())
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return { url, flush: () => flushAt(url), stall, stop, start, close: stop }
}

async function flushAt(url: string) {
  const client = new Redis(url, { lazyConnect: true })
  await client.connect()
  await client.flushdb()
  client.disconnect()
}

async function unsupported(): Promise<void> {
  throw new Error('this test needs its own redis-server')
}
