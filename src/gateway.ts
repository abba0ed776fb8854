// The running gateway: one listener, the parts that outlive a config (store, limiters, upstream
// pools, admission, metrics, logger), and the runtime built from the live config, held behind one
// reference. The listener hands each request to the runtime that is live when the request arrives,
// so a request finishes on the config it started with. A reload builds the next runtime beside
// the live one and swaps the reference only when all of it is good (Kong rebuilds its router the
// same way); what only a restart can change is compared first and refused by name.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import { pino } from 'pino'
import { buildAdminApp, buildApp } from './app.js'
import { restartOnlyChanges, type GatehouseConfig } from './config/compile.js'
import { parseConfig, type Env } from './config/load.js'
import { readSettled } from './config/watch.js'
import { ConfigError } from './errors.js'
import { answerClientError } from './http/client-error.js'
import type { Lifecycle } from './http/health.js'
import { loggerOptions, type LoggerOptions } from './http/logging.js'
import { createMetrics, type Metrics } from './http/metrics.js'
import { systemClock, type Clock } from './oauth/access-token.js'
import { loadSigningKeys, type SigningKeys } from './oauth/keys.js'
import { createClientAddressResolver } from './net/client-address.js'
import { createAdmission } from './proxy/admission.js'
import { createBodyBuffering } from './proxy/buffer-body.js'
import { createUpstreams } from './proxy/forward.js'
import type { Store } from './store/index.js'
import { createLimiterCache } from './store/limiter-cache.js'
import { createMemoryStore } from './store/memory.js'
import { createRedisStore } from './store/redis.js'

/** Keep-alive connections per upstream origin; requests past it wait in admission, under timeoutMs. */
const UPSTREAM_CONNECTIONS = 256

/** What one config compiled to: read once per request, never changed after it is built. */
export interface Runtime {
  readonly config: GatehouseConfig
  readonly keys: SigningKeys
  readonly app: FastifyInstance
  /** What the admin listener serves (health and metrics), when admin is configured. */
  readonly admin: FastifyInstance | undefined
  /** When it went live (ms since the epoch). */
  readonly loadedAt: number
}

export interface GatewayOptions {
  /** pino options (level, stream) over the defaults: JSON at server.logLevel on stdout; false: no logs. */
  logger?: false | LoggerOptions
  clock?: Clock
  /** Signing keys for the first config, when the caller has loaded them already. */
  keys?: SigningKeys
  /** Where `${VAR}` in the config file is read from on reload. */
  env?: Env
}

export interface Gateway {
  readonly server: Server
  /** The admin listener, when admin is configured. */
  readonly adminServer: Server | undefined
  readonly log: FastifyBaseLogger
  readonly store: Store
  readonly metrics: Metrics
  readonly lifecycle: Lifecycle
  /** The runtime live now. */
  readonly runtime: Runtime
  /** Listens (by default where the config says), and on the admin listener when there is one. */
  listen(host?: string, port?: number): Promise<AddressInfo>
  /**
   * Builds a runtime for `config` beside the live one and makes it live once it is complete.
   * Throws a ConfigError (the live runtime keeps serving) when a restart-only key changed or the
   * keys cannot be loaded.
   */
  apply(config: GatehouseConfig): Promise<Runtime>
  /**
   * Reads the config file (and its key file) again and applies it. Never throws: the outcome is
   * logged with every error, counted in gatehouse_config_reloads_total, and returned. Reloads run
   * one at a time; one asked for while another runs follows it.
   */
  reload(trigger: string): Promise<boolean>
  /** Readiness fails and new requests are refused from now on; idle connections are closed. */
  drain(): void
  /** Stops listening, waits for in-flight requests, and closes the store and the pools. */
  close(): Promise<void>
}

export async function createGateway(config: GatehouseConfig, options: GatewayOptions = {}): Promise<Gateway> {
  const { server: settings } = config
  const log = pino(loggerOptions(settings.logLevel, options.logger), options.logger ? options.logger.stream : undefined) as FastifyBaseLogger
  const clock = options.clock ?? systemClock
  // server.logLevel applies on every reload, unless the caller chose a level (or no logs).
  const levelFromConfig = options.logger === undefined || (options.logger !== false && options.logger.level === undefined)

  const store: Store = config.store.redis ? createRedisStore({ redis: config.store.redis, onRedisError: config.store.onRedisError, log }) : createMemoryStore()
  if (store.kind === 'memory') {
    log.warn('no store.redis, store.sentinels or store.cluster: rate limits are kept in this process, per instance, and reset on restart')
  }
  const limiters = createLimiterCache(store)
  const upstreams = createUpstreams(UPSTREAM_CONNECTIONS)
  const metrics = createMetrics(store, upstreams)

  // The listener, with the bounds that only a restart changes: slow-loris timeouts (Node checks
  // every second), header size (larger headers are answered 431), keep-alive.
  let runtime: Runtime
  const server = createServer(
    {
      headersTimeout: settings.headersTimeout * 1000,
      requestTimeout: settings.requestTimeout * 1000,
      connectionsCheckingInterval: 1_000,
      maxHeaderSize: 16 * 1024,
      keepAliveTimeout: settings.keepAliveTimeout * 1000,
    },
    (req, res) => runtime.app.routing(req, res),
  )
  server.on('clientError', answerClientError)
  const adminServer = config.admin ? createServer({ headersTimeout: 5_000, requestTimeout: 10_000 }, (req, res) => runtime.admin!.routing(req, res)) : undefined
  adminServer?.on('clientError', answerClientError)
  const lifecycle: Lifecycle = { draining: false, closeIdleConnections: () => server.closeIdleConnections() }

  const shared = {
    log,
    clock,
    store,
    lifecycle,
    metrics,
    resolveClientAddress: createClientAddressResolver(settings.trustedProxies, settings.ipv6Subnet),
    forwarding: {
      prepareBody: createBodyBuffering({
        maxBytes: settings.requestBufferBytes,
        totalBytes: settings.requestBufferTotalBytes,
        perAddressBytes: settings.requestBufferPerAddressBytes,
      }),
      admission: createAdmission({ perOrigin: UPSTREAM_CONNECTIONS, perAddress: settings.maxInFlightPerAddress }),
      upstreams,
    },
  }

  /** Keys for `next`: its key file, read again; without one, the ephemeral key already in use. */
  const keysFor = async (next: GatehouseConfig, current: Runtime | undefined): Promise<SigningKeys> => {
    if (current === undefined && options.keys) return options.keys
    if (next.signing.keyFile === undefined && current?.keys.ephemeral && current.keys.alg === next.signing.alg) return current.keys
    const keys = await loadSigningKeys(next.signing.alg, next.signing.keyFile)
    if (keys.ephemeral)
      log.warn('signing.keyFile is not set: signing with an ephemeral key; tokens die with this process (make a key with `gatehouse gen-key`)')
    return keys
  }

  /** A runtime, and the limiters it asked for (every other one is closed once it is live). */
  type Built = Runtime & { readonly limitersUsed: ReadonlySet<string> }
  const build = async (next: GatehouseConfig, current: Runtime | undefined): Promise<Built> => {
    if (current) {
      const changed = restartOnlyChanges(current.config, next)
      if (changed.length > 0) throw new ConfigError(next.file, changed)
    }
    const keys = await keysFor(next, current)
    const made = limiters.forRuntime()
    const loadedAt = Date.now()
    const parts = { ...shared, keys, limiter: made.limiter, loadedAt }
    const app = await buildApp(next, parts)
    const admin = next.admin ? await buildAdminApp(next, parts) : undefined
    return { config: next, keys, app, admin, loadedAt, limitersUsed: made.used }
  }

  const goLive = (next: Built) => {
    runtime = next
    if (levelFromConfig) log.level = next.config.server.logLevel
    limiters.retainOnly(next.limitersUsed)
    metrics.configLoaded(next.config.version, next.loadedAt)
    for (const warning of next.config.warnings) log.warn(warning)
  }
  goLive(await build(config, undefined))

  let reloading: Promise<boolean> | undefined
  let again: string | undefined
  const reloadOnce = async (trigger: string): Promise<boolean> => {
    const previous = runtime.config.version
    try {
      const file = runtime.config.file
      const text = await readSettled(file).catch((err: NodeJS.ErrnoException) => {
        throw new ConfigError(file, [`cannot read the file: ${err.code ?? err.message}`])
      })
      // An empty file is a valid config at start (every default), but on reload it is far more
      // likely a write caught half-way: it would drop every route and client.
      if (text.trim() === '') throw new ConfigError(file, ['the file is empty: refused on reload (a write in progress?)'])
      const next = await parseConfig(text, file, options.env ?? process.env)
      goLive(await build(next, runtime))
      metrics.reloaded('success')
      log.info(
        { trigger, version: next.version, previous, kid: runtime.keys.kid },
        next.version !== previous
          ? 'config reloaded'
          : next.signing.keyFile
            ? 'config reloaded (text unchanged; key file read again)'
            : 'config reloaded (unchanged)',
      )
      return true
    } catch (err) {
      metrics.reloaded('failure')
      const errors = err instanceof ConfigError ? err.problems : [(err as Error).message]
      log.error({ trigger, file: runtime.config.file, errors, version: previous }, 'config reload failed: the previous config keeps serving')
      return false
    }
  }

  const gateway: Gateway = {
    server,
    adminServer,
    log,
    store,
    metrics,
    lifecycle,
    get runtime() {
      return runtime
    },
    async listen(host = settings.host, port = settings.port) {
      const address = await listenOn(server, host, port)
      if (adminServer && config.admin) await listenOn(adminServer, config.admin.host, config.admin.port)
      return address
    },
    async apply(next) {
      const built = await build(next, runtime)
      goLive(built)
      return built
    },
    reload(trigger) {
      if (reloading) {
        again = trigger // the file may have changed again while the running reload read it
        return reloading
      }
      const run = async (): Promise<boolean> => {
        let ok = await reloadOnce(trigger)
        while (again !== undefined) {
          const next = again
          again = undefined
          ok = await reloadOnce(next)
        }
        return ok
      }
      reloading = run().finally(() => (reloading = undefined))
      return reloading
    },
    drain() {
      lifecycle.draining = true
      lifecycle.closeIdleConnections()
    },
    async close() {
      // Probes keep getting their 503 from the admin listener until the last request is done.
      await closeServer(server)
      if (adminServer) await closeServer(adminServer)
      await Promise.all([store.close(), upstreams.destroy()])
    },
  }
  return gateway
}

function listenOn(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen({ host, port }, () => {
      server.off('error', reject)
      resolve(server.address() as AddressInfo)
    })
  })
}

/** Stops accepting, closes idle keep-alive connections, and waits for the rest to end. */
async function closeServer(server: Server): Promise<void> {
  if (!server.listening) return
  const closed = new Promise<void>((resolve) => server.close(() => resolve()))
  server.closeIdleConnections()
  await closed
}
