// Builds the runtime for one config: a fastify instance holding every route, hook and verifier that
// the config makes. Registration order is the security model, so it is explicit here: health and
// metrics, then the OAuth endpoints, then the proxy catch-all that every other request goes
// through. gateway.ts owns the listener and what outlives a reload (store, pools, metrics).
import cookie from '@fastify/cookie'
import fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify'
import type { GatehouseConfig } from './config/compile.js'
import { GatehouseError } from './errors.js'
import { countHeader } from './http/client-error.js'
import { registerHealth, type Lifecycle } from './http/health.js'
import { registerMetrics, type Metrics } from './http/metrics.js'
import { requestId } from './http/request-id.js'
import { errorHandler, sendError } from './http/reply-error.js'
import { createAccessTokenIssuer, createAccessTokenVerifier, type Clock } from './oauth/access-token.js'
import { registerAuthorizeEndpoint } from './oauth/authorize.js'
import { registerCors } from './oauth/cors.js'
import { createClientVerifier } from './oauth/client-auth.js'
import { JWKS_PATH, METADATA_PATH, registerDiscovery } from './oauth/discovery.js'
import { registerFormParser } from './oauth/form-params.js'
import { createTokenIssuer } from './oauth/grants/issue-tokens.js'
import { INTROSPECT_PATH, registerIntrospectionEndpoint } from './oauth/introspect.js'
import { deriveKey, type SigningKeys } from './oauth/keys.js'
import { decoyHashLike } from './config/secret-hash.js'
import { REVOKE_PATH, registerRevocationEndpoint } from './oauth/revoke.js'
import { registerTokenEndpoint, routeUrl } from './oauth/token-endpoint.js'
import { createTokenState } from './oauth/token-state.js'
import { createUserVerifier } from './oauth/user-auth.js'
import { basicAuthenticator } from './pipeline/authn-basic.js'
import { bearerAuthenticator } from './pipeline/authn-bearer.js'
import type { ClientAddress } from './net/client-address.js'
import { createPipeline } from './pipeline/index.js'
import { reservePaths } from './pipeline/reserved-paths.js'
import { forward, type ForwardDeps } from './proxy/forward.js'
import type { Store } from './store/index.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** What the access log line says about this request. */
    audit: {
      route?: string
      client?: string
      /** Who the credentials say is calling: a user, or the client itself. */
      subject?: string
      /** How it authenticated: bearer or basic. */
      auth?: string
      /** The client's address, through trusted proxies (the line's req.ip is the peer's). */
      address?: string
      /** Milliseconds from sending upstream to the upstream's answer. */
      upstreamMs?: number
      reason?: string
      /** The error code of a refusal (invalid_token, rate_limited, ...), for the metrics. */
      error?: string
      /** The grant a token was issued by, at the token endpoint. */
      issued?: string
    }
  }
}

/**
 * What a runtime is built with besides its config: the parts that outlive a reload (gateway.ts
 * makes them once per process) and the signing keys loaded for this config.
 */
export interface RuntimeParts {
  readonly log: FastifyBaseLogger
  readonly keys: SigningKeys
  readonly clock: Clock
  readonly store: Store
  /** Limiters by name, so that counters survive a reload (store/limiter-cache.ts). */
  readonly limiter: Store['limiter']
  readonly lifecycle: Lifecycle
  readonly metrics: Metrics
  readonly resolveClientAddress: (req: FastifyRequest['raw']) => ClientAddress
  readonly forwarding: ForwardDeps
  /** When this config went live (ms since the epoch), for /readyz. */
  readonly loadedAt: number
}

/**
 * Builds the runtime for one config: a fastify instance that is made ready but never listens
 * (gateway.ts's listener hands each request to the runtime live when it arrives). Nothing here
 * outlives the config: a reload builds another and drops this one once its requests are done.
 */
export async function buildApp(config: GatehouseConfig, parts: RuntimeParts): Promise<FastifyInstance> {
  const { keys, clock, store, limiter, lifecycle, metrics, resolveClientAddress } = parts
  // One decoy per kind, at that kind's cost: users and clients are told apart by their endpoints
  // anyway, and a cheap client hash must not make "no such user" fast.
  const clientDecoy = await decoyHashLike([...config.clients.values()].flatMap((c) => (c.secret ? [c.secret] : [])))
  const userDecoy = await decoyHashLike([...config.users.values()].map((u) => u.password))

  const app = fastify({
    loggerInstance: parts.log,
    logController: new LogController({ disableRequestLogging: true }), // one access line per request: onResponse below
    // While draining, our onRequest hook answers 503 in our JSON, with Retry-After (fastify's own
    // closing answer has neither).
    return503OnClosing: false,
    genReqId: requestId,
    requestIdHeader: false,
    // Fastify's own 400s for unparseable requests, as our JSON.
    frameworkErrors: (err, request, reply) => {
      void sendError(request, reply, new GatehouseError('invalid_request', 'the request is malformed', { reason: err.code }))
    },
  })
  app.decorateRequest('audit', null as never)
  // Probes and scrapes are still answered while draining.
  const ownPaths = new Set([config.health.live, config.health.ready, ...(config.admin === undefined ? [config.metrics.path] : [])])
  // Hooks in callback style: the async form costs a promise and a microtask per request each.
  app.addHook('onRequest', (request, reply, done) => {
    request.audit = {}
    reply.header('x-request-id', request.id)
    // Shutting down: in-flight requests finish, new ones go elsewhere (probes still get answers).
    if (lifecycle.draining && !ownPaths.has(request.url)) {
      return done(
        new GatehouseError('service_unavailable', 'the gateway is shutting down', {
          reason: 'shutting_down',
          headers: { 'retry-after': '5', connection: 'close' },
        }),
      )
    }
    // Node keeps the first of two Authorization headers; an upstream or a proxy in front of us may
    // keep the last. A request that sends two is refused rather than read two ways.
    if (request.headers.authorization !== undefined && countHeader(request.raw.rawHeaders, 'authorization') > 1) {
      return done(new GatehouseError('invalid_request', 'send one Authorization header', { reason: 'authorization_repeated' }))
    }
    done()
  })
  app.addHook('onResponse', (request, reply, done) => {
    metrics.observe(request, reply)
    // A keep-alive connection whose last request is done would otherwise hold the drain open.
    if (lifecycle.draining) lifecycle.closeIdleConnections()
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
  app.setNotFoundHandler((request, reply) =>
    sendError(request, reply, new GatehouseError('not_found', 'no route matches this request', { reason: 'no_route' })),
  )

  const clients = () => config.clients
  const users = () => config.users
  const verifyClient = createClientVerifier({
    clients,
    decoyHash: clientDecoy,
    failures: limiter('authn-failures:ip', config.tokenEndpoint.failureLimit),
  })
  const verifyUser = createUserVerifier({
    users,
    decoyHash: userDecoy,
    failuresByUser: limiter('login-failures:user', config.authorize.loginFailureLimit),
    failuresByIp: limiter('login-failures:ip', config.authorize.loginFailureLimitPerIp),
    bucketKey: deriveKey(keys, 'unknown username buckets'),
  })
  const state = createTokenState(store, clock, config.tokens)
  const verifyAccessToken = createAccessTokenVerifier(config, keys, clock)
  const issueTokens = createTokenIssuer(createAccessTokenIssuer(config, keys, clock), state, config.tokens.refreshTokenTtl)

  /** Every path the token endpoint answers at: its paths and their legacy refresh paths. */
  const tokenPaths = config.tokenEndpoint.paths.flatMap((t) => [t.path, ...t.refreshPaths])

  // 0. Liveness, readiness and metrics, answered here, never proxied. With an admin listener,
  // metrics are served there only, and their path here is the routes' like any other.
  registerHealth(app, config, store, lifecycle, parts.loadedAt)
  if (config.admin === undefined) registerMetrics(app, config, metrics, { allowIps: config.metrics.allowIps, resolveClientAddress })

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
      tokenRequests: limiter('token:client', config.tokenEndpoint.rateLimit),
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
      ...(config.admin === undefined ? [[config.metrics.path, 'GET, HEAD'] as const] : []),
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
    routeLimiters: new Map(
      config.routes.flatMap((r) => (r.rateLimit ? [[r.id, limiter(`route:${r.id}:${r.rateLimit.by}`, r.rateLimit, { proxied: true })]] : [])),
    ),
    clientLimiters: new Map(
      [...config.clients.values()].flatMap((c) => (c.rateLimit ? [[c.id, limiter(`client:${c.id}`, c.rateLimit, { proxied: true })]] : [])),
    ),
  })
  const { forwarding } = parts
  await app.register(async (proxy) => {
    // Bodies are streamed upstream untouched, whatever their type.
    proxy.removeAllContentTypeParsers()
    proxy.addContentTypeParser('*', (_request, payload, done) => done(null, payload))
    proxy.all('/*', async (request, reply) => {
      const decision = await runPipeline(request, reply)
      return forward(reply, decision, forwarding)
    })
  })

  await app.ready()
  return app
}

/**
 * The admin listener's runtime (`admin.host`/`admin.port`): health and metrics only, metrics for
 * every address that reaches it (the listener's own address is its access control, as with
 * Envoy's admin port and Kong's status API). Built beside buildApp's, from the same config.
 */
export async function buildAdminApp(config: GatehouseConfig, parts: RuntimeParts): Promise<FastifyInstance> {
  const app = fastify({
    loggerInstance: parts.log,
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: requestId,
    requestIdHeader: false,
    return503OnClosing: false,
  })
  app.setErrorHandler(errorHandler())
  app.setNotFoundHandler((request, reply) =>
    sendError(request, reply, new GatehouseError('not_found', 'the admin listener serves health and metrics only', { reason: 'no_route' })),
  )
  registerHealth(app, config, parts.store, parts.lifecycle, parts.loadedAt)
  registerMetrics(app, config, parts.metrics, { allowIps: undefined, resolveClientAddress: parts.resolveClientAddress })
  await app.ready()
  return app
}
