// Builds the gateway as a fastify instance, without listening (server.ts listens). Registration
// order is the security model, so it is explicit here: OAuth endpoints first, then the proxy
// catch-all that every other request goes through.
import cookie from '@fastify/cookie'
import fastify, { LogController, type FastifyInstance } from 'fastify'
import type { GatehouseConfig } from './config/compile.js'
import { GatehouseError } from './errors.js'
import { answerClientError, countHeader } from './http/client-error.js'
import { loggerOptions, type LoggerOptions } from './http/logging.js'
import { registerHealth, type Lifecycle } from './http/health.js'
import { createMetrics, registerMetrics } from './http/metrics.js'
import { requestId } from './http/request-id.js'
import { errorHandler, sendError } from './http/reply-error.js'
import { createAccessTokenIssuer, createAccessTokenVerifier, systemClock, type Clock } from './oauth/access-token.js'
import { registerAuthorizeEndpoint } from './oauth/authorize.js'
import { registerCors } from './oauth/cors.js'
import { createClientVerifier } from './oauth/client-auth.js'
import { JWKS_PATH, METADATA_PATH, registerDiscovery } from './oauth/discovery.js'
import { registerFormParser } from './oauth/form-params.js'
import { createTokenIssuer } from './oauth/grants/issue-tokens.js'
import { INTROSPECT_PATH, registerIntrospectionEndpoint } from './oauth/introspect.js'
import { deriveKey, loadSigningKeys, type SigningKeys } from './oauth/keys.js'
import { decoyHashLike } from './oauth/secret-hash.js'
import { REVOKE_PATH, registerRevocationEndpoint } from './oauth/revoke.js'
import { registerTokenEndpoint, routeUrl } from './oauth/token-endpoint.js'
import { createTokenState } from './oauth/token-state.js'
import { createUserVerifier } from './oauth/user-auth.js'
import { basicAuthenticator } from './pipeline/authn-basic.js'
import { bearerAuthenticator } from './pipeline/authn-bearer.js'
import { createClientAddressResolver } from './pipeline/client-address.js'
import { createPipeline } from './pipeline/index.js'
import { reservePaths } from './pipeline/reserved-paths.js'
import { createAdmission } from './proxy/admission.js'
import { createBodyBuffering } from './proxy/buffer-body.js'
import { createUpstreams, forward } from './proxy/forward.js'
import type { Store } from './store/index.js'
import { createMemoryStore } from './store/memory.js'
import { createRedisStore } from './store/redis.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** What the access log line says about this request. */
    audit: {
      route?: string
      client?: string
      reason?: string
      /** The error code of a refusal (invalid_token, rate_limited, ...), for the metrics. */
      error?: string
      /** The grant a token was issued by, at the token endpoint. */
      issued?: string
    }
  }
  interface FastifyInstance {
    /** The gateway's own parts that operators (and tests) look at: the store, the lifecycle. */
    gatehouse: { readonly store: Store; readonly lifecycle: Lifecycle; readonly config: GatehouseConfig }
  }
}

/** Keep-alive connections per upstream origin; requests past it wait in admission, under timeoutMs. */
const UPSTREAM_CONNECTIONS = 256

export interface AppOptions {
  /** pino options (level, stream) over the defaults: JSON at server.logLevel on stdout; false: no logs. */
  logger?: false | LoggerOptions
  clock?: Clock
  /** Signing keys, when the caller has loaded them already. */
  keys?: SigningKeys
}

export async function buildApp(config: GatehouseConfig, options: AppOptions = {}): Promise<FastifyInstance> {
  const clock = options.clock ?? systemClock
  const keys = options.keys ?? (await loadSigningKeys(config.signing.alg, config.signing.keyFile))
  // One decoy per kind, at that kind's cost: users and clients are told apart by their endpoints
  // anyway, and a cheap client hash must not make "no such user" fast.
  const clientDecoy = await decoyHashLike([...config.clients.values()].flatMap((c) => (c.secret ? [c.secret] : [])))
  const userDecoy = await decoyHashLike([...config.users.values()].map((u) => u.password))

  const app = fastify({
    // Whatever logger options a caller gives, requests are always logged without their query string.
    logger: loggerOptions(config.server.logLevel, options.logger),
    logController: new LogController({ disableRequestLogging: true }), // one access line per request: onResponse below
    // While draining, our onRequest hook answers 503 in our JSON, with Retry-After (fastify's own
    // closing answer has neither).
    return503OnClosing: false,
    // Slow-loris bounds: headers, and the whole request, must arrive in time; Node checks every second.
    http: {
      headersTimeout: config.server.headersTimeout * 1000,
      connectionsCheckingInterval: 1_000,
      maxHeaderSize: 16 * 1024, // larger headers are answered 431
    },
    requestTimeout: config.server.requestTimeout * 1000,
    genReqId: requestId,
    requestIdHeader: false,
    keepAliveTimeout: config.server.keepAliveTimeout * 1000,
    clientErrorHandler: answerClientError,
    // Fastify's own 400s for unparseable requests, as our JSON.
    frameworkErrors: (err, request, reply) => sendError(request, reply, new GatehouseError('invalid_request', 'the request is malformed', { reason: err.code })),
  })
  app.decorateRequest('audit', null as never)
  const lifecycle: Lifecycle = { draining: false, loadedAt: Date.now() }
  // Probes and scrapes are still answered while draining.
  const ownPaths = new Set([config.health.live, config.health.ready, config.metrics.path])
  // Hooks in callback style: the async form costs a promise and a microtask per request each.
  app.addHook('onRequest', (request, reply, done) => {
    request.audit = {}
    reply.header('x-request-id', request.id)
    // Shutting down: in-flight requests finish, new ones go elsewhere (probes still get answers).
    if (lifecycle.draining && !ownPaths.has(request.url)) {
      return done(new GatehouseError('service_unavailable', 'the gateway is shutting down', { reason: 'shutting_down', headers: { 'retry-after': '5', connection: 'close' } }))
    }
    // Node keeps the first of two Authorization headers; an upstream or a proxy in front of us may
    // keep the last. A request that sends two is refused rather than read two ways.
    if (request.headers.authorization !== undefined && countHeader(request.raw.rawHeaders, 'authorization') > 1) {
      return done(new GatehouseError('invalid_request', 'send one Authorization header', { reason: 'authorization_repeated' }))
    }
    done()
  })
  app.addHook('onResponse', (request, reply, done) => {
    metrics.observe(request, reply) // made with the store, below; requests come after buildApp
    // A keep-alive connection whose last request is done would otherwise hold the drain open.
    if (lifecycle.draining) app.server.closeIdleConnections()
    // Built only when it will be written (the bench and many deployments log at warn).
    if ((request.log as { isLevelEnabled?: (level: string) => boolean }).isLevelEnabled?.('info') !== false) {
      request.log.info({ req: request, status: reply.statusCode, ms: Math.round(reply.elapsedTime), ...request.audit }, 'request completed')
    }
    done()
  })
  // A client that leaves before its answer gets no onResponse: its line says so (nginx's 499), at
  // info, since a stranger can make as many as it likes.
  app.addHook('onRequestAbort', async (request) => {
    request.log.info({ req: request, status: 499, ...request.audit, reason: request.audit?.reason ?? 'client_aborted' }, 'request aborted')
  })
  app.setErrorHandler(errorHandler())
  app.setNotFoundHandler((request, reply) => sendError(request, reply, new GatehouseError('not_found', 'no route matches this request', { reason: 'no_route' })))

  if (keys.ephemeral) {
    app.log.warn('signing.keyFile is not set: signing with an ephemeral key; tokens die with this process (make a key with `gatehouse gen-key`)')
  }
  for (const warning of config.warnings) app.log.warn(warning)

  const store: Store = config.store.redis
    ? createRedisStore({ redis: config.store.redis, onRedisError: config.store.onRedisError, log: app.log })
    : createMemoryStore()
  if (store.kind === 'memory') {
    app.log.warn('no store.redis, store.sentinels or store.cluster: rate limits are kept in this process, per instance, and reset on restart')
  }
  app.addHook('onClose', () => store.close())
  app.decorate('gatehouse', { store, lifecycle, config })
  const metrics = createMetrics(store)

  const clients = () => config.clients
  const users = () => config.users
  const resolveClientAddress = createClientAddressResolver(config.server.trustedProxies, config.server.ipv6Subnet)
  const verifyClient = createClientVerifier({
    clients,
    decoyHash: clientDecoy,
    failures: store.limiter('authn-failures:ip', config.tokenEndpoint.failureLimit),
  })
  const verifyUser = createUserVerifier({
    users,
    decoyHash: userDecoy,
    failuresByUser: store.limiter('login-failures:user', config.authorize.loginFailureLimit),
    failuresByIp: store.limiter('login-failures:ip', config.authorize.loginFailureLimitPerIp),
    bucketKey: deriveKey(keys, 'unknown username buckets'),
  })
  const state = createTokenState(store, clock, config.tokens)
  const verifyAccessToken = createAccessTokenVerifier(config, keys, clock)
  const issueTokens = createTokenIssuer(createAccessTokenIssuer(config, keys, clock), state, config.tokens.refreshTokenTtl)

  /** Every path the token endpoint answers at: its paths and their legacy refresh paths. */
  const tokenPaths = config.tokenEndpoint.paths.flatMap((t) => [t.path, ...t.refreshPaths])

  // 0. Liveness, readiness and metrics, answered here, never proxied.
  registerHealth(app, config, store, lifecycle)
  registerMetrics(app, config, metrics, resolveClientAddress)

  // 1. The authorization server, in its own context: form bodies only, cookies for the login form.
  await app.register(async (oauth) => {
    oauth.setErrorHandler(errorHandler({ oauth: true }))
    registerFormParser(oauth)
    await oauth.register(cookie)
    // CORS for what browser apps fetch themselves; the authorize page is navigated to, never fetched.
    const clientOrigins = new Set([...config.clients.values()].flatMap((c) => c.webOrigins))
    const anyOrigin = config.webOrigins.includes('*')
    const discoveryOrigins = new Set([...clientOrigins, ...config.webOrigins])
    const clientEndpoints = { allows: (origin: string) => clientOrigins.has(origin), methods: ['POST'] }
    const discovery = { allows: (origin: string) => anyOrigin || discoveryOrigins.has(origin), methods: ['GET', 'HEAD'] }
    registerCors(
      oauth,
      new Map([
        ...tokenPaths.map((p) => [routeUrl(p), clientEndpoints] as const),
        [REVOKE_PATH, clientEndpoints],
        [INTROSPECT_PATH, clientEndpoints],
        [JWKS_PATH, discovery],
        [METADATA_PATH, discovery],
      ]),
    )
    registerTokenEndpoint(oauth, {
      config,
      resolveClientAddress,
      verifyClient,
      tokenRequests: store.limiter('token:client', config.tokenEndpoint.rateLimit),
      issueTokens,
      state,
      verifyUser,
      users,
      clock,
    })
    registerAuthorizeEndpoint(oauth, { config, keys, resolveClientAddress, verifyUser, state, issueTokens, clock })
    registerRevocationEndpoint(oauth, { resolveClientAddress, verifyClient, verifyAccessToken, state })
    registerIntrospectionEndpoint(oauth, { resolveClientAddress, verifyClient, verifyAccessToken, state })
    registerDiscovery(oauth, config, keys)
  })

  // 2. Everything else goes through the pipeline and, if allowed, upstream.
  const runPipeline = createPipeline({
    routes: config.routes,
    clients,
    resolveClientAddress,
    reservedPaths: reservePaths([
      ...tokenPaths.map((p) => [p, 'POST'] as const),
      ...config.authorize.paths.map((p) => [p, 'GET, HEAD, POST'] as const),
      [REVOKE_PATH, 'POST'],
      [INTROSPECT_PATH, 'POST'],
      [JWKS_PATH, 'GET, HEAD'],
      [METADATA_PATH, 'GET, HEAD'],
      [config.health.live, 'GET, HEAD'],
      [config.health.ready, 'GET, HEAD'],
      [config.metrics.path, 'GET, HEAD'],
    ]),
    authenticators: {
      bearer: bearerAuthenticator({
        verifyAccessToken,
        clients,
        isRevoked: (jti) => state.isAccessTokenRevoked(jti),
        failOpen: config.store.onRedisError === 'insurance',
      }),
      basic: basicAuthenticator({ verifyClient }),
    },
    routeLimiters: new Map(config.routes.flatMap((r) => (r.rateLimit ? [[r.id, store.limiter(`route:${r.id}:${r.rateLimit.by}`, r.rateLimit, { proxied: true })]] : []))),
    clientLimiters: new Map([...config.clients.values()].flatMap((c) => (c.rateLimit ? [[c.id, store.limiter(`client:${c.id}`, c.rateLimit, { proxied: true })]] : []))),
  })
  const upstreams = createUpstreams(UPSTREAM_CONNECTIONS)
  app.addHook('onClose', () => upstreams.destroy())
  const forwarding = {
    prepareBody: createBodyBuffering({
      maxBytes: config.server.requestBufferBytes,
      totalBytes: config.server.requestBufferTotalBytes,
      perAddressBytes: config.server.requestBufferPerAddressBytes,
    }),
    admission: createAdmission({ perOrigin: UPSTREAM_CONNECTIONS, perAddress: config.server.maxInFlightPerAddress }),
    upstreams,
    observeUpstream: metrics.upstream,
  }
  await app.register(async (proxy) => {
    // Bodies are streamed upstream untouched, whatever their type.
    proxy.removeAllContentTypeParsers()
    proxy.addContentTypeParser('*', (_request, payload, done) => done(null, payload))
    proxy.all('/*', async (request, reply) => {
      const decision = await runPipeline(request, reply)
      return forward(reply, decision, forwarding)
    })
  })

  return app
}
