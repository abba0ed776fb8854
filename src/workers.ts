// server.workers > 1: this process becomes the primary of node:cluster workers that share its
// port, each a whole gateway (config, runtime, its own Redis connections). The primary serves
// nothing itself: it starts the workers and starts another when one dies, passes SIGHUP on (each
// worker reloads), passes SIGTERM/SIGINT on and exits when every worker has drained, and sums the
// workers' metrics for whichever worker is scraped. The config has already been checked to name
// a key file and a Redis, so every worker signs and counts alike. Each worker starts on the
// config text the primary started on (server.ts), so that a worker restarted after the file
// changed a restart-only key (the port, the store) does not apply it alone.
import cluster, { type Worker } from 'node:cluster'
import type { FastifyBaseLogger } from 'fastify'
import type { GatehouseConfig } from './config/compile.js'
import { serveWorkersMetrics } from './http/metrics.js'

/** A worker that dies sooner than this after its start is restarted after a pause, not at once. */
const CRASH_LOOP_MS = 5_000

export function runPrimary(config: GatehouseConfig, configText: string, log: FastifyBaseLogger): void {
  let stopping = false
  const started = new Map<Worker, number>()
  /** Workers that listen: they get SIGHUP and are asked for metrics (one starting has no handlers yet). */
  const serving = new Set<Worker>()
  const restarts = new Set<NodeJS.Timeout>()
  const start = () => {
    if (stopping) return
    const worker = cluster.fork({ GATEHOUSE_PRIMARY_CONFIG: configText })
    started.set(worker, Date.now())
    worker.on('listening', () => serving.add(worker))
    // An IPC send to a worker that has just died fails here, not in the primary's face.
    worker.on('error', (err: Error) => log.warn({ err, worker: worker.process.pid }, 'a worker could not be reached'))
  }

  serveWorkersMetrics(() => serving)
  cluster.on('exit', (worker, code, signal) => {
    const ranFor = Date.now() - (started.get(worker) ?? 0)
    started.delete(worker)
    serving.delete(worker)
    if (stopping) {
      if (started.size === 0) process.exit(0)
      return
    }
    log.error({ worker: worker.process.pid, code, signal }, 'a worker exited: starting another')
    const timer = setTimeout(
      () => {
        restarts.delete(timer)
        start()
      },
      ranFor < CRASH_LOOP_MS ? 1_000 : 0,
    )
    restarts.add(timer)
  })
  for (let i = 0; i < config.server.workers; i++) start()
  log.info({ workers: config.server.workers, host: config.server.host, port: config.server.port }, 'gatehouse primary: starting workers')

  process.on('SIGHUP', () => {
    if (stopping) return
    for (const worker of serving) worker.process.kill('SIGHUP')
  })
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return
    stopping = true
    for (const timer of restarts) clearTimeout(timer)
    log.info({ signal }, 'shutting down: workers finish their in-flight requests')
    for (const worker of started.keys()) worker.process.kill('SIGTERM')
    if (started.size === 0) process.exit(0)
    // Each worker cuts what is left at shutdownTimeout; a worker that hangs past it is killed.
    setTimeout(
      () => {
        for (const worker of started.keys()) worker.process.kill('SIGKILL')
      },
      (config.server.shutdownTimeout + 5) * 1000,
    ).unref()
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}
