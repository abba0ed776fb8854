// Liveness and readiness, as Kubernetes probes and load balancers ask for them (issue 11).
// - live (/healthz): 200 while the process answers at all.
// - ready (/readyz): 200 with the config's version while the gateway should get traffic; 503 with
//   the reason while it is shutting down, or while Redis is unreachable under onRedisError: deny
//   (every limited request would be refused then anyway).
// Both are answered by the gateway itself, before any route, and never proxied.
import type { FastifyInstance } from 'fastify'
import type { GatehouseConfig } from '../config/compile.js'
import type { Store } from '../store/index.js'

/** Where the process is in its life: a request reads it, the signal handler moves it on. */
export interface Lifecycle {
  /** Set on SIGTERM/SIGINT: readiness fails, new requests are refused, in-flight ones finish. */
  draining: boolean
  /** Closes the listener's idle keep-alive connections (while draining, after each answer). */
  readonly closeIdleConnections: () => void
}

/** `loadedAt`: when this config went live (ms since the epoch). */
export function registerHealth(app: FastifyInstance, config: GatehouseConfig, store: Store, lifecycle: Lifecycle, loadedAt: number): void {
  const noStore = { 'cache-control': 'no-store' }
  app.get(config.health.live, (_request, reply) => reply.headers(noStore).send({ status: 'ok' }))
  app.get(config.health.ready, (_request, reply) => {
    const live = { version: config.version, loadedAt: new Date(loadedAt).toISOString() }
    const reason = lifecycle.draining
      ? 'shutting_down'
      : store.kind === 'redis' && config.store.onRedisError === 'deny' && !store.ready
        ? 'redis_unavailable'
        : undefined
    if (reason)
      return reply
        .code(503)
        .headers({ ...noStore, 'retry-after': '5' })
        .send({ status: 'not_ready', reason, config: live })
    return reply.headers(noStore).send({ status: 'ready', config: live })
  })
}
