// Starts the gateway as a process: load and validate the config, build the gateway, listen; reload
// on SIGHUP or when the config or key file changes; close cleanly on SIGINT/SIGTERM (in-flight
// requests finish within server.shutdownTimeout; new ones get 503).
import cluster from 'node:cluster'
import { pino } from 'pino'
import type { GatehouseConfig } from './config/compile.js'
import { readFile } from 'node:fs/promises'
import { loadConfig, parseConfig, type Env } from './config/load.js'
import { watchFiles, type Watch } from './config/watch.js'
import { createGateway, type Gateway } from './gateway.js'
import { loggerOptions } from './http/logging.js'
import { runPrimary } from './workers.js'

/**
 * `gatehouse --config FILE`: one gateway in this process, or with server.workers > 1 the primary
 * of that many (workers.ts); each worker comes back here and serves.
 */
export async function runGateway(configPath: string, env: Env = process.env): Promise<void> {
  // SIGHUP's default is to end the process: until the reload handler is in place (and after it is
  // gone, while draining), a SIGHUP is ignored rather than cutting what is in flight.
  process.on('SIGHUP', () => undefined)
  // A worker starts on the config its primary started on, so that one the primary restarts later
  // listens where the others do and uses the same store; then it reloads the file as it is now,
  // through the reload's refusal of restart-only changes, like the workers already running.
  const primaryText = cluster.isWorker ? env[PRIMARY_CONFIG] : undefined
  if (primaryText !== undefined) {
    const gateway = await startServer(configPath, env, await parseConfig(primaryText, configPath, env))
    closeOnSignals(gateway)
    if ((await readFile(configPath, 'utf8').catch(() => primaryText)) !== primaryText) await gateway.reload('worker start')
    return
  }
  const text = await readFile(configPath, 'utf8').catch(() => undefined)
  const config = text === undefined ? await loadConfig(configPath, env) : await parseConfig(text, configPath, env)
  if (cluster.isPrimary && config.server.workers > 1) return runPrimary(config, text ?? '', pino(loggerOptions(config.server.logLevel, undefined)))
  closeOnSignals(await startServer(configPath, env, config))
}

/** The environment variable that carries the primary's config text to its workers. */
export const PRIMARY_CONFIG = 'GATEHOUSE_PRIMARY_CONFIG'

export interface RunningGateway extends Gateway {
  /** Stops watching the config and key files. */
  unwatch(): void
}

export async function startServer(configPath: string, env: Env = process.env, loaded?: GatehouseConfig): Promise<RunningGateway> {
  const config = loaded ?? (await loadConfig(configPath, env))
  const gateway = await createGateway(config, { env })
  try {
    await gateway.listen()
  } catch (err) {
    await gateway.close() // the store's connection and timers, so that the process can exit
    throw err
  }
  gateway.log.info(
    { config: configPath, version: config.version, routes: config.routes.length, clients: config.clients.size, issuer: config.issuer },
    'gatehouse is listening',
  )

  // The config file and the key file it names are watched (by stat, so an editor's rename or a
  // Kubernetes ConfigMap's symlink swap is seen too); a burst of changes makes one reload. The
  // watch lasts as long as the process (a change during a reload is then not missed); only a key
  // file that moves is watched anew.
  let watch: Watch | undefined
  let watched = ''
  const watchLive = () => {
    const { file, signing } = gateway.runtime.config
    const files = [file, ...(signing.keyFile ? [signing.keyFile] : [])]
    if (files.join('\n') === watched) return
    watch?.close()
    watched = files.join('\n')
    watch = watchFiles(files, () => void reload('file changed'))
  }
  const reload = async (trigger: string) => {
    await gateway.reload(trigger)
    watchLive() // the key file may be another one now
  }
  watchLive()
  const onHangup = () => void reload('SIGHUP')
  process.on('SIGHUP', onHangup)
  return Object.assign(gateway, {
    unwatch() {
      watch?.close()
      process.off('SIGHUP', onHangup)
    },
  })
}

/**
 * SIGTERM/SIGINT: readiness fails and new requests are refused (503) at once, the listener stops
 * accepting, in-flight requests get server.shutdownTimeout to finish and are then cut, the store
 * and the upstream pools close, and the process exits 0. A second signal does not start another.
 */
export function closeOnSignals(gateway: RunningGateway): void {
  let closing = false
  const close = (signal: string) => {
    if (closing) return // Ctrl-C reaches every worker, and the primary passes a SIGTERM on too
    closing = true
    const shutdownTimeoutSeconds = gateway.runtime.config.server.shutdownTimeout
    gateway.unwatch()
    gateway.drain()
    gateway.log.info({ signal, shutdownTimeout: shutdownTimeoutSeconds }, 'shutting down: finishing in-flight requests')
    const deadline = setTimeout(() => {
      gateway.log.warn('shutdownTimeout has passed: cutting the requests still in flight')
      gateway.server.closeAllConnections()
    }, shutdownTimeoutSeconds * 1000)
    deadline.unref()
    gateway.close().then(
      () => process.exit(0),
      (err: unknown) => {
        gateway.log.error({ err }, 'error while shutting down')
        process.exit(1)
      },
    )
  }
  // Every later signal is one more that must not end the process early (a process-group kill
  // reaches a worker directly and through its primary).
  process.on('SIGINT', close)
  process.on('SIGTERM', close)
}
