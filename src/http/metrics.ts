// Prometheus metrics (issue 11), with prom-client on a registry of our own. Every label value comes
// from the config (route ids, client ids, the paths fastify was given) or from a fixed set (methods,
// status classes, our error codes, grant types), never from what a request says, so the number of
// series is bounded by the config, whatever strangers send.
import cluster, { type Worker } from 'node:cluster'
import { randomUUID } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client'
import type { GatehouseConfig } from '../config/compile.js'
import type { IpMatcher } from '../net/cidr.js'
import { GatehouseError } from '../errors.js'
import type { ClientAddress } from '../net/client-address.js'
import type { Store } from '../store/index.js'
import { LightCounter, LightHistogram } from './light-metrics.js'
import { sendError } from './reply-error.js'

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])
const STATUS_CLASSES = ['0xx', '1xx', '2xx', '3xx', '4xx', '5xx']
const SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

export interface Metrics {
  readonly registry: Registry
  /** The text a scrape gets: this process's metrics, or in a worker every worker's, summed. */
  text(): Promise<string>
  /** Counts a finished request: by route, method and status class; its time; its refusal. */
  observe(request: FastifyRequest, reply: FastifyReply): void
  /** A config went live: its version is the one gatehouse_config_info shows. */
  configLoaded(version: string, loadedAt: number): void
  /** A reload ended (a failed one leaves the live config serving). */
  reloaded(result: 'success' | 'failure'): void
}

/** What the upstream pools report (undici's Agent.stats), by origin: a pool's counts, or a client's. */
interface Pools {
  readonly stats: Readonly<Record<string, Partial<Record<'connected' | 'free' | 'pending' | 'running', number | boolean>>>>
}

export function createMetrics(store: Store, pools?: Pools): Metrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'gatehouse_' })
  const registers = [registry]
  // The request path's metrics: counted in plain numbers (light-metrics.ts).
  const requests = new LightCounter(
    'gatehouse_requests_total',
    'Requests answered, by route (or endpoint), method and status class',
    ['route', 'method', 'status'],
    registry,
  )
  const duration = new LightHistogram(
    'gatehouse_request_duration_seconds',
    'From the request to the end of its answer, upstream included, by route',
    ['route'],
    SECONDS,
    registry,
  )
  const upstream = new LightHistogram(
    'gatehouse_upstream_duration_seconds',
    "From sending a request upstream to the upstream's answer, by route",
    ['route'],
    SECONDS,
    registry,
  )
  const refusals = new LightCounter('gatehouse_refusals_total', 'Requests refused, by error code (invalid_token, rate_limited, ...)', ['error'], registry)
  const tokens = new LightCounter('gatehouse_tokens_issued_total', 'Tokens issued, by grant and client', ['grant', 'client'], registry)
  new Gauge({
    name: 'gatehouse_store_up',
    help: '1 while the store (Redis) is reachable and current, else 0; always 1 in memory',
    registers,
    aggregator: 'min', // across workers: 0 if any worker has lost it
    collect() {
      this.set(store.ready ? 1 : 0)
    },
  })
  const reloads = new Counter({
    name: 'gatehouse_config_reloads_total',
    help: 'Config reloads, by result (a failure leaves the live config serving)',
    labelNames: ['result'],
    registers,
  })
  // The store's own counts, turned into counters at each scrape.
  const storeCounter = (name: string, help: string, read: () => number) => {
    let counted = 0
    new Counter({
      name,
      help,
      registers,
      collect() {
        const now = read()
        this.inc(now - counted)
        counted = now
      },
    })
  }
  storeCounter('gatehouse_store_outages_total', 'Times the store (Redis) became unreachable, each outage once', () => store.failures.outages)
  storeCounter('gatehouse_store_errors_total', 'Store commands that failed (then onRedisError applied)', () => store.failures.errors)
  // Across workers, each version that some worker serves shows 1; the loaded time is the oldest.
  const configInfo = new Gauge({
    name: 'gatehouse_config_info',
    help: 'The live config: 1, labelled with its version (the first 12 hex digits of its SHA-256)',
    labelNames: ['version'],
    registers,
    aggregator: 'max',
  })
  const configLoadedAt = new Gauge({ name: 'gatehouse_config_loaded_timestamp_seconds', help: 'When the live config went live', registers, aggregator: 'min' })
  for (const result of ['success', 'failure']) reloads.labels(result).inc(0) // both series exist from the start
  if (pools) {
    // Origins come from the config's routes: bounded like the routes.
    new Gauge({
      name: 'gatehouse_upstream_connections',
      help: 'Upstream keep-alive pools by origin: connections open (connected), idle (free), and requests on them (running) or waiting (pending)',
      labelNames: ['origin', 'state'],
      registers,
      collect() {
        this.reset()
        for (const [origin, stats] of Object.entries(pools.stats)) {
          for (const state of ['connected', 'free', 'running', 'pending'] as const) this.labels(origin, state).set(Number(stats[state] ?? 0))
        }
      },
    })
  }

  if (cluster.isWorker) answerPrimaryWithMetrics(registry)

  return {
    registry,
    text: () => (cluster.isWorker ? askPrimaryForMetrics() : registry.metrics()),
    observe(request, reply) {
      const audit = request.audit
      const route = audit?.route ?? routeOf(request)
      const method = METHODS.has(request.method) ? request.method : 'other'
      const status = STATUS_CLASSES[Math.floor(reply.statusCode / 100)] ?? 'other'
      requests.inc(`${route}\0${method}\0${status}`, route, method, status)
      duration.observe(route, reply.elapsedTime / 1000, route)
      if (audit?.upstreamMs !== undefined) upstream.observe(route, audit.upstreamMs / 1000, route)
      if (audit?.error !== undefined) refusals.inc(audit.error, audit.error)
      if (audit?.issued !== undefined && reply.statusCode < 400) {
        const client = audit.client ?? 'unknown'
        tokens.inc(`${audit.issued}\0${client}`, audit.issued, client)
      }
    },
    configLoaded(version, loadedAt) {
      configInfo.reset()
      configInfo.labels(version).set(1)
      configLoadedAt.set(loadedAt / 1000)
    },
    reloaded(result) {
      reloads.labels(result).inc()
    },
  }
}

const METRICS_MESSAGE = 'gatehouse:metrics'
const pendingScrapes = new Map<string, (text: string | Error) => void>()

/** In a worker: every worker's metrics, summed by the primary (workers.ts) with prom-client. */
function askPrimaryForMetrics(): Promise<string> {
  if (pendingScrapes.size === 0) process.on('message', onPrimaryAnswer)
  const id = randomUUID()
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => settle(new Error('the primary process did not answer with the metrics in 5 s')), 5_000)
    const settle = (text: string | Error) => {
      clearTimeout(timer)
      pendingScrapes.delete(id)
      if (pendingScrapes.size === 0) process.off('message', onPrimaryAnswer)
      if (text instanceof Error) reject(text)
      else resolve(text)
    }
    pendingScrapes.set(id, settle)
    process.send!({ type: METRICS_MESSAGE, id })
  })
}

function onPrimaryAnswer(message: unknown): void {
  const { type, id, text, error } = (message ?? {}) as { type?: string; id?: string; text?: string; error?: string }
  if (type !== METRICS_MESSAGE || id === undefined) return
  pendingScrapes.get(id)?.(error === undefined ? (text ?? '') : new Error(error))
}

const WORKER_METRICS_MESSAGE = 'gatehouse:worker-metrics'
/** How long the primary waits for each worker's metrics; a scrape then has the others'. */
const WORKER_METRICS_TIMEOUT_MS = 2_000

/** In a worker: hands this worker's metrics to the primary when it asks. */
function answerPrimaryWithMetrics(registry: Registry): void {
  process.on('message', (message: { type?: string; id?: string } | null) => {
    if (message?.type !== WORKER_METRICS_MESSAGE) return
    void registry
      .getMetricsAsJSON()
      .then((metrics) => process.send?.({ type: WORKER_METRICS_MESSAGE, id: message.id, metrics }, undefined, {}, () => undefined))
  })
}

/**
 * In the primary: answers a worker's scrape with the metrics of every worker that is `serving()`,
 * summed (prom-client's AggregatorRegistry.aggregate). A worker that does not answer within 2 s
 * is left out rather than holding the scrape; a worker that has gone by the time the sum is ready
 * is not answered. Nothing waits longer than that, so nothing piles up.
 */
export function serveWorkersMetrics(serving: () => Iterable<Worker>): void {
  const asked = new Map<string, (metrics: unknown) => void>()
  cluster.on('message', (worker, message: { type?: string; id?: string; metrics?: unknown } | null) => {
    if (message?.type === WORKER_METRICS_MESSAGE && message.id !== undefined) return asked.get(message.id)?.(message.metrics)
    if (message?.type !== METRICS_MESSAGE) return
    const ask = (from: Worker) =>
      new Promise<unknown>((resolve) => {
        const id = randomUUID()
        const done = (metrics: unknown) => {
          clearTimeout(timer)
          asked.delete(id)
          resolve(metrics)
        }
        const timer = setTimeout(() => done(undefined), WORKER_METRICS_TIMEOUT_MS)
        asked.set(id, done)
        if (!from.isConnected()) return done(undefined)
        from.send({ type: WORKER_METRICS_MESSAGE, id }, undefined, (err) => err && done(undefined))
      })
    void Promise.all([...serving()].map(ask))
      .then(async (answers) => {
        const registries = answers.filter((a): a is Parameters<typeof AggregatorRegistry.aggregate>[0][number] => Array.isArray(a))
        return { text: await AggregatorRegistry.aggregate(registries).metrics() }
      })
      .catch((err: Error) => ({ error: err.message }))
      .then((answer) => {
        if (worker.isConnected()) worker.send({ type: METRICS_MESSAGE, id: message.id, ...answer }, undefined, () => undefined)
      })
  })
}

/** The endpoint a request reached, as fastify was given its path; 'none' when none matched. */
function routeOf(request: FastifyRequest): string {
  const url = request.routeOptions.url
  return url === undefined || url === '/*' ? 'none' : url
}

/**
 * GET {metrics.path}: the text format, for the addresses in `allowIps` only (403 for others);
 * `allowIps` undefined: for every address (the admin listener).
 */
export function registerMetrics(
  app: FastifyInstance,
  config: GatehouseConfig,
  metrics: Metrics,
  { allowIps, resolveClientAddress }: { allowIps: IpMatcher | undefined; resolveClientAddress: (req: FastifyRequest['raw']) => ClientAddress },
): void {
  app.get(config.metrics.path, async (request, reply) => {
    if (allowIps && !allowIps.matches(resolveClientAddress(request.raw).ip)) {
      return sendError(request, reply, new GatehouseError('access_denied', 'metrics are not served to this address', { reason: 'metrics_ip' }))
    }
    return reply
      .header('cache-control', 'no-store')
      .type(metrics.registry.contentType)
      .send(await metrics.text())
  })
}
