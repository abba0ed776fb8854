// Prometheus metrics (issue 11), with prom-client on a registry of our own. Every label value comes
// from the config (route ids, client ids, the paths fastify was given) or from a fixed set (methods,
// status classes, our error codes, grant types), never from what a request says, so the number of
// series is bounded by the config, whatever strangers send.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { GatehouseConfig } from '../config/compile.js'
import { GatehouseError } from '../errors.js'
import type { ClientAddress } from '../net/client-address.js'
import type { Store } from '../store/index.js'
import { sendError } from './reply-error.js'

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])
const SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

export interface Metrics {
  readonly registry: Registry
  /** Counts a finished request: by route, method and status class; its time; its refusal. */
  observe(request: FastifyRequest, reply: FastifyReply): void
  /** The upstream's time to answer (headers), per route. */
  upstream(routeId: string, seconds: number): void
}

export function createMetrics(store: Store): Metrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'gatehouse_' })
  const registers = [registry]
  const requests = new Counter({ name: 'gatehouse_requests_total', help: 'Requests answered, by route (or endpoint), method and status class', labelNames: ['route', 'method', 'status'], registers })
  const duration = new Histogram({ name: 'gatehouse_request_duration_seconds', help: 'From the request to the end of its answer, upstream included, by route', labelNames: ['route'], buckets: SECONDS, registers })
  const upstream = new Histogram({ name: 'gatehouse_upstream_duration_seconds', help: "From sending a request upstream to the upstream's answer, by route", labelNames: ['route'], buckets: SECONDS, registers })
  const refusals = new Counter({ name: 'gatehouse_refusals_total', help: 'Requests refused, by error code (invalid_token, rate_limited, ...)', labelNames: ['error'], registers })
  const tokens = new Counter({ name: 'gatehouse_tokens_issued_total', help: 'Tokens issued, by grant and client', labelNames: ['grant', 'client'], registers })
  new Gauge({
    name: 'gatehouse_store_up',
    help: '1 while the store (Redis) is reachable and current, else 0; always 1 in memory',
    registers,
    collect() {
      this.set(store.ready ? 1 : 0)
    },
  })
  const requestsBy = children(requests)
  const durationBy = children(duration)
  const upstreamBy = children(upstream)
  const refusalsBy = children(refusals)
  const tokensBy = children(tokens)

  return {
    registry,
    observe(request, reply) {
      const route = request.audit?.route ?? routeOf(request)
      const method = METHODS.has(request.method) ? request.method : 'other'
      requestsBy(route, method, `${Math.floor(reply.statusCode / 100)}xx`).inc()
      durationBy(route).observe(reply.elapsedTime / 1000)
      const audit = request.audit
      if (audit?.error !== undefined) refusalsBy(audit.error).inc()
      if (audit?.issued !== undefined && reply.statusCode < 400) tokensBy(audit.issued, audit.client ?? 'unknown').inc()
    },
    upstream(routeId, seconds) {
      upstreamBy(routeId).observe(seconds)
    },
  }
}

/**
 * A metric's children by label values, so that a request costs a map lookup, not prom-client's
 * label hashing. Bounded as the label values are (by the config and fixed sets).
 */
function children<T>(metric: { labels(...values: string[]): T }): (...values: string[]) => T {
  const made = new Map<string, T>()
  return (...values) => {
    const key = values.join('\0')
    let child = made.get(key)
    if (child === undefined) made.set(key, (child = metric.labels(...values)))
    return child
  }
}

/** The endpoint a request reached, as fastify was given its path; 'none' when none matched. */
function routeOf(request: FastifyRequest): string {
  const url = request.routeOptions.url
  return url === undefined || url === '/*' ? 'none' : url
}

/** GET {metrics.path}: the text format, for the addresses in metrics.allowIps only (403 for others). */
export function registerMetrics(app: FastifyInstance, config: GatehouseConfig, metrics: Metrics, resolveClientAddress: (req: FastifyRequest['raw']) => ClientAddress): void {
  app.get(config.metrics.path, async (request, reply) => {
    if (!config.metrics.allowIps.matches(resolveClientAddress(request.raw).ip)) {
      return sendError(request, reply, new GatehouseError('access_denied', 'metrics are not served to this address', { reason: 'metrics_ip' }))
    }
    return reply.header('cache-control', 'no-store').type(metrics.registry.contentType).send(await metrics.registry.metrics())
  })
}
