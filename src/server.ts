// Starts the gateway: load and validate the config, build the app, listen, and close cleanly on
// SIGINT/SIGTERM (in-flight requests finish; new ones get 503).
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

export function closeOnSignals(app: FastifyInstance): void {
  const close = (signal: string) => {
    app.log.info({ signal }, 'shutting down')
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
