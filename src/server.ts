// Starts the gateway: load and validate the config, build the app, listen, and close cleanly on
// SIGINT/SIGTERM (in-flight requests finish within server.shutdownTimeout; new ones get 503).
import type { FastifyInstance } from 'fastify'
import { buildApp } from './app.js'
import { loadConfig, type Env } from './config/load.js'

export async function startServer(configPath: string, env: Env = process.env): Promise<FastifyInstance> {
  const config = await loadConfig(configPath, env)
  const app = await buildApp(config)
  try {
    await app.listen({ host: config.server.host, port: config.server.port })
  } catch (err) {
    await app.close() // the store's connection and timers, so that the process can exit
    throw err
  }
  app.log.info({ config: configPath, routes: config.routes.length, clients: config.clients.size, issuer: config.issuer }, 'gatehouse is listening')
  return app
}

/**
 * SIGTERM/SIGINT: readiness fails and new requests are refused (503) at once, the listener stops
 * accepting, in-flight requests get server.shutdownTimeout to finish and are then cut, the store
 * and the upstream pools close, and the process exits 0. A second signal does not start another.
 */
export function closeOnSignals(app: FastifyInstance): void {
  const shutdownTimeoutSeconds = app.gatehouse.config.server.shutdownTimeout
  const close = (signal: string) => {
    app.gatehouse.lifecycle.draining = true
    app.log.info({ signal, shutdownTimeout: shutdownTimeoutSeconds }, 'shutting down: finishing in-flight requests')
    app.server.closeIdleConnections()
    const deadline = setTimeout(() => {
      app.log.warn('shutdownTimeout has passed: cutting the requests still in flight')
      app.server.closeAllConnections()
    }, shutdownTimeoutSeconds * 1000)
    deadline.unref()
    app.close().then(
      () => process.exit(0),
      (err: unknown) => {
        app.log.error({ err }, 'error while shutting down')
        process.exit(1)
      },
    )
  }
  process.once('SIGINT', close)
  process.once('SIGTERM', close)
}
