// Turns a validated config file into the runtime config: defaults applied, cross-field rules checked,
// URLs parsed, CIDRs compiled, secrets hashed, everything frozen. Nothing here runs per request.
import { availableParallelism } from 'node:os'
import { cidrProblem, compileIpMatcher, type IpMatcher } from '../net/cidr.js'
import { foldCase, normalisePath } from '../policy/normalise-path.js'
import { ERROR_CODES, type ErrorCode } from '../errors.js'
import type { ConfigFile, GrantTypeName } from './schema.js'
import { costLabel, hashSecret, parseSecretHash, type ScryptHash, type SecretHash } from './secret-hash.js'

export type SigningAlg = 'ES256' | 'RS256' | 'EdDSA'
export type AuthScheme = 'bearer' | 'basic'

export interface RateLimitRule {
  readonly points: number
  /** Seconds. */
  readonly duration: number
  /** Counted in this process and added to Redis this often (route and client limits only). */
  readonly syncMs?: number
}

export interface RouteRateLimitRule extends RateLimitRule {
  readonly by: 'client' | 'ip' | 'route'
}

/** A Redis node or sentinel. */
export interface RedisNode {
  readonly host: string
  readonly port: number
}

/** Where the shared state lives: one server (a URL), the master that sentinels point to, or a cluster. */
export type RedisConnection =
  | { readonly mode: 'server'; readonly url: string }
  | {
      readonly mode: 'sentinels'
      readonly masterName: string
      readonly nodes: readonly RedisNode[]
      readonly username: string | undefined
      readonly password: string | undefined
      readonly sentinelPassword: string | undefined
      readonly tls: boolean
    }
  | {
      readonly mode: 'cluster'
      /** Seeds: the other nodes are found from them. */
      readonly nodes: readonly RedisNode[]
      readonly username: string | undefined
      readonly password: string | undefined
      readonly tls: boolean
    }

export interface Client {
  readonly id: string
  /** What users see on the login page (the id when not configured). */
  readonly name: string
  /** Browser origins that may call the token, revocation and introspection endpoints as this client. */
  readonly webOrigins: readonly string[]
  readonly type: 'confidential' | 'public'
  /** Absent for public clients. */
  readonly secret: SecretHash | undefined
  readonly grants: ReadonlySet<GrantTypeName>
  readonly scopes: readonly string[]
  readonly group: string | undefined
  readonly redirectUris: readonly string[]
  readonly allowIps: IpMatcher | undefined
  /** Across all routes, per client. */
  readonly rateLimit: RateLimitRule | undefined
  /** The "aud" of this client's access tokens (tokens.audience unless the client says otherwise). */
  readonly audience: string
  /** Static claims added to this client's access tokens (never one the gateway sets itself). */
  readonly extraClaims: Readonly<Record<string, string | number | boolean>>
  /** Legacy (POD Shop): client_credentials also returns a refresh token; RFC 6749 §4.4.3 says not to. */
  readonly refreshWithClientCredentials: boolean
}

export interface User {
  readonly username: string
  readonly password: ScryptHash
  /** The most any client can be granted on this user's behalf. */
  readonly scopes: readonly string[]
}

export interface RouteRule {
  readonly id: string
  /** Normalised prefix without a trailing slash ("/" matches everything). */
  readonly path: string
  /** `path` with ASCII case folded, for matching. */
  readonly matchPath: string
  readonly methods: ReadonlySet<string> | undefined
  /** Upstream origin, e.g. "http://127.0.0.1:9000". */
  readonly upstreamOrigin: string
  /** The upstream's host (and port, when not the default): the Host header it receives. */
  readonly upstreamHost: string
  /** Path of the upstream URL without its trailing slash, prepended to every forwarded path. */
  readonly upstreamBasePath: string
  readonly rewritePrefix: string | undefined
  /** Accepted credentials, in order of preference; empty: a public route. */
  readonly auth: readonly AuthScheme[]
  readonly scopes: readonly string[]
  readonly timeoutMs: number
  readonly forwardAuthorization: boolean
  /** Larger request bodies are refused with 413. */
  readonly maxBodyBytes: number
  readonly allowIps: IpMatcher | undefined
  readonly rateLimit: RouteRateLimitRule | undefined
}

/** A token path and what its legacy clients need; /oauth/token has none of it. */
export interface TokenPathRule {
  readonly path: string
  readonly defaultGrantType: GrantTypeName | undefined
  /** Our error codes → the ones this path's clients expect. */
  readonly errorCodes: Readonly<Partial<Record<string, string>>>
  readonly descriptionField: string
  readonly pretty: boolean
  readonly envelope: boolean
  /** `{path}/refresh`, then the configured refresh paths (`*` matches one segment). */
  readonly refreshPaths: readonly string[]
}

export interface GatehouseConfig {
  readonly file: string
  /** The first 12 hex digits of the SHA-256 of the config text ('' when compiled from data). */
  readonly version: string
  readonly server: {
    readonly host: string
    readonly port: number
    readonly trustedProxies: IpMatcher
    /** Per-address limits count an IPv6 client by its network of this many bits (128: by address). */
    readonly ipv6Subnet: number
    /** Request bodies up to this many bytes are read in full before forwarding (0: stream all). */
    readonly requestBufferBytes: number
    /** All buffered request bodies together; past it, bodies stream. */
    readonly requestBufferTotalBytes: number
    /** What one address may have buffered at once (an eighth of the total). */
    readonly requestBufferPerAddressBytes: number
    /** Proxied requests one address may have in flight; more get 429. */
    readonly maxInFlightPerAddress: number
    /** Seconds to receive a request's headers, and the whole request (slow-loris bounds). */
    readonly headersTimeout: number
    readonly requestTimeout: number
    readonly keepAliveTimeout: number
    /** Seconds in-flight requests get to finish after SIGTERM/SIGINT; the rest are then cut. */
    readonly shutdownTimeout: number
    /** Worker processes on one port (node:cluster); 1: none, the process serves itself. */
    readonly workers: number
    readonly logLevel: string
  }
  /** A second listener for health and metrics only, where production scrapes and probes. */
  readonly admin: { readonly host: string; readonly port: number } | undefined
  /** Liveness and readiness paths: answered by the gateway itself, never proxied. */
  readonly health: { readonly live: string; readonly ready: string }
  /** Prometheus metrics: where, and who may scrape them (by client address). */
  readonly metrics: { readonly path: string; readonly allowIps: IpMatcher }
  readonly issuer: string
  readonly signing: { readonly alg: SigningAlg; readonly keyFile: string | undefined }
  readonly tokens: {
    readonly audience: string
    readonly accessTokenTtl: number
    readonly refreshTokenTtl: number
    readonly authorizationCodeTtl: number
    readonly clockTolerance: number
  }
  readonly tokenEndpoint: {
    /** /oauth/token first, then tokenEndpoint.paths, each exactly as written. */
    readonly paths: readonly TokenPathRule[]
    /** Token requests per claimed client_id; every attempt counts. */
    readonly rateLimit: RateLimitRule
    /** Failed client authentications per IP, here and on Basic routes. */
    readonly failureLimit: RateLimitRule
  }
  readonly store: {
    /** Absent: everything in memory. */
    readonly redis: RedisConnection | undefined
    readonly onRedisError: 'insurance' | 'deny'
  }
  readonly authorize: {
    readonly allowPlainPkce: boolean
    /** Where the login page is served: /oauth/authorize, then authorize.paths, exactly as written. */
    readonly paths: readonly string[]
    /** Failed logins per username, on the login page and with the password grant. */
    readonly loginFailureLimit: RateLimitRule
    /** Failed logins per IP (higher: many users can share one address). */
    readonly loginFailureLimitPerIp: RateLimitRule
  }
  readonly clients: ReadonlyMap<string, Client>
  /** What scopes mean to users, for the login page. */
  readonly scopeDescriptions: ReadonlyMap<string, string>
  /** Browser origins that may read the JWKS and metadata, besides every client's ("*": any). */
  readonly webOrigins: readonly string[]
  readonly users: ReadonlyMap<string, User>
  /** Longest prefix first, so the most specific route wins. */
  readonly routes: readonly RouteRule[]
  /** Things that work but that an operator should hear about at start. */
  readonly warnings: readonly string[]
}

export interface Problem {
  readonly path: readonly (string | number)[]
  readonly message: string
}

export interface CompileOptions {
  /** Resolves a path from the config file (keyFile) against the file's directory. */
  resolvePath: (p: string) => string
  /** `PORT` from the environment, which overrides server.port. */
  portOverride?: number | undefined
  /** `REDIS_URL` from the environment, which overrides store.redis (empty counts as unset). */
  redisUrlOverride?: string | undefined
  /** What identifies this config's text (a hash), for /readyz and the logs. */
  version?: string | undefined
}

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 }
export function durationSeconds(value: number | string): number {
  if (typeof value === 'number') return value
  return Number(value.slice(0, -1)) * UNITS[value.slice(-1)]!
}

/** Claims the gateway sets on every access token: a client's token.claims cannot replace them. */
const RESERVED_CLAIMS = new Set(['iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti', 'client_id', 'scope', 'azp', 'app', 'biz', 'auth_time', 'cnf', 'act'])

export const DEFAULT_TOKEN_PATH = '/oauth/token'
export const DEFAULT_AUTHORIZE_PATH = '/oauth/authorize'
const DEFAULT_ROUTE_TIMEOUT_MS = 30_000
const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024

/** Returns the runtime config, or the list of problems that stop it from being one. */
export async function compileConfig(file: string, raw: ConfigFile, options: CompileOptions): Promise<GatehouseConfig | Problem[]> {
  const problems: Problem[] = []
  const warnings: string[] = []
  const problem = (path: (string | number)[], message: string) => problems.push({ path, message })

  const host = raw.server?.host ?? '127.0.0.1'
  const port = options.portOverride ?? raw.server?.port ?? 8080
  const trustedProxies = raw.server?.trustedProxies ?? []

  const ipMatcher = (entries: string[] | undefined, path: (string | number)[]) => {
    if (entries === undefined) return undefined
    const problemsBefore = problems.length
    entries.forEach((entry, i) => {
      const why = cidrProblem(entry)
      if (why) problem([...path, i], why)
    })
    return problems.length === problemsBefore ? compileIpMatcher(entries) : undefined
  }
  const rateLimit = (rule: { points: number; duration: number | string; syncMs?: number } | undefined): RateLimitRule | undefined =>
    rule === undefined ? undefined : { points: rule.points, duration: durationSeconds(rule.duration), ...(rule.syncMs ? { syncMs: rule.syncMs } : {}) }

  /**
   * A secret given as a scrypt hash or, with a warning, in plain text (then hashed at load, so that
   * every secret is verified the same slow, constant-time way). Undefined when neither is given.
   */
  const storedSecret = async (
    at: (string | number)[],
    who: string,
    [hashKey, plainKey]: [string, string],
    hash: string | undefined,
    plain: string | undefined,
  ): Promise<SecretHash | undefined> => {
    if (hash !== undefined && plain !== undefined) problem(at, `give ${hashKey} or ${plainKey}, not both`)
    else if (hash !== undefined) {
      const parsed = parseSecretHash(hash)
      if (typeof parsed !== 'string') return parsed
      problem([...at, hashKey], parsed)
    } else if (plain !== undefined) {
      warnings.push(`${who} has a plain "${plainKey}" in the config; store "${hashKey}" from \`gatehouse hash-secret\` instead`)
      return parseSecretHash(await hashSecret(plain)) as ScryptHash
    }
    return undefined
  }

  const metricsAllowIps = ipMatcher(raw.metrics?.allowIps ?? ['127.0.0.1', '::1'], ['metrics', 'allowIps'])
  const requestBufferBytes = raw.server?.requestBufferBytes ?? 1024 * 1024
  const requestBufferTotalBytes = raw.server?.requestBufferTotalBytes ?? 64 * 1024 * 1024
  // One address may buffer an eighth of the total at once, so that a few cannot take all of it.
  const requestBufferPerAddressBytes = Math.floor(requestBufferTotalBytes / 8)
  if (requestBufferPerAddressBytes < requestBufferBytes) {
    warnings.push(
      `server.requestBufferTotalBytes (${requestBufferTotalBytes}) lets one address buffer ${requestBufferPerAddressBytes} bytes at once, ` +
        `less than server.requestBufferBytes (${requestBufferBytes}): larger bodies always stream; raise it to ${requestBufferBytes * 8} or more`,
    )
  }

  const headersTimeout = durationSeconds(raw.server?.headersTimeout ?? 15)
  const requestTimeout = durationSeconds(raw.server?.requestTimeout ?? 120)
  if (headersTimeout > requestTimeout) problem(['server', 'headersTimeout'], 'must not be longer than server.requestTimeout')

  const trustedProxyMatcher = ipMatcher(trustedProxies, ['server', 'trustedProxies'])

  const redis = redisConnection(raw.store, options.redisUrlOverride, problem)

  // An IPv6 listen address goes in brackets in a URL (http://[::1]:8080).
  const issuerHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host
  const issuer = raw.issuer ?? `http://${issuerHost}:${port}`
  checkUrl(issuer, ['issuer'], problem, { allowPath: true })

  /** Serialised origins (scheme://host[:port], as a browser sends them); "*" only where allowed. */
  const webOrigins = (entries: readonly string[] | undefined, at: (string | number)[], star: boolean): string[] =>
    (entries ?? []).filter((origin, i) => {
      if (origin === '*' && star) return true
      let url: URL | undefined
      try {
        url = new URL(origin)
      } catch {
        // reported below
      }
      if (url && (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === origin) return true
      problem([...at, i], `"${origin}" is not an origin (scheme://host[:port], no path or trailing slash${star ? '; or "*"' : ''})`)
      return false
    })

  const audience = raw.tokens?.audience ?? issuer
  const clients = new Map<string, Client>()
  for (const [i, c] of (raw.clients ?? []).entries()) {
    const at = (...rest: (string | number)[]) => ['clients', i, ...rest]
    if (clients.has(c.id)) problem(at('id'), `duplicate client id "${c.id}"`)
    const type = c.type ?? 'confidential'
    let secret: SecretHash | undefined
    if (type === 'public') {
      if (c.secret !== undefined || c.secretHash !== undefined) problem(at(), 'a public client has no secret')
      if (c.grants?.includes('client_credentials')) problem(at('grants'), 'client_credentials needs a confidential client')
    } else if (c.secretHash === undefined && c.secret === undefined) {
      problem(at(), 'a confidential client needs secretHash (or secret)')
    } else {
      secret = await storedSecret(at(), `client "${c.id}"`, ['secretHash', 'secret'], c.secretHash, c.secret)
    }
    clients.set(
      c.id,
      Object.freeze({
        id: c.id,
        name: c.name ?? c.id,
        webOrigins: Object.freeze(webOrigins(c.webOrigins, at('webOrigins'), false)),
        type,
        secret,
        grants: new Set<GrantTypeName>(c.grants ?? (type === 'public' ? ['authorization_code'] : ['client_credentials'])),
        scopes: Object.freeze([...(c.scopes ?? [])]),
        group: c.group,
        redirectUris: Object.freeze([...(c.redirectUris ?? [])]),
        allowIps: ipMatcher(c.allowIps, at('allowIps')),
        rateLimit: rateLimit(c.rateLimit),
        audience: c.token?.audience === 'client_id' ? c.id : (c.token?.audience ?? audience),
        extraClaims: Object.freeze({ ...c.token?.claims }),
        refreshWithClientCredentials: c.token?.refreshWithClientCredentials ?? false,
      }),
    )
    for (const name of Object.keys(c.token?.claims ?? {})) {
      if (RESERVED_CLAIMS.has(name)) problem(at('token', 'claims', name), `"${name}" is set by the gateway and cannot be configured`)
    }
    if (c.token?.refreshWithClientCredentials && !c.grants?.includes('refresh_token')) {
      problem(at('token', 'refreshWithClientCredentials'), 'needs refresh_token in grants')
    }
  }

  for (const [i, c] of (raw.clients ?? []).entries()) {
    const grants = clients.get(c.id)?.grants
    const needsRedirect = grants?.has('authorization_code') || grants?.has('implicit')
    if (needsRedirect && (c.redirectUris ?? []).length === 0) {
      problem(['clients', i, 'redirectUris'], 'authorization_code and implicit need at least one redirect URI')
    }
    for (const [j, uri] of (c.redirectUris ?? []).entries()) {
      // RFC 6749 §3.1.2: an absolute URI without a fragment; matched exactly.
      let url: URL | undefined
      try {
        url = new URL(uri)
      } catch {
        problem(['clients', i, 'redirectUris', j], `"${uri}" is not an absolute URI`)
      }
      if (url && (url.hash || uri.includes('#'))) problem(['clients', i, 'redirectUris', j], 'must not contain a fragment')
    }
  }

  const users = new Map<string, User>()
  for (const [i, u] of (raw.users ?? []).entries()) {
    const at = (...rest: (string | number)[]) => ['users', i, ...rest]
    if (users.has(u.username)) problem(at('username'), `duplicate username "${u.username}"`)
    if (u.passwordHash === undefined && u.password === undefined) problem(at(), 'a user needs passwordHash (or password)')
    const stored = await storedSecret(at(), `user "${u.username}"`, ['passwordHash', 'password'], u.passwordHash, u.password)
    // People choose passwords, and chosen secrets are guessable: they need scrypt's cost.
    if (stored?.kind === 'sha256')
      problem(at('passwordHash'), 'a password needs a scrypt hash (`gatehouse hash-secret`); $sha256$ is only for generated client secrets')
    const password = stored?.kind === 'scrypt' ? stored : undefined
    if (password) users.set(u.username, Object.freeze({ username: u.username, password, scopes: Object.freeze([...(u.scopes ?? [])]) }))
  }

  warnAboutMixedCosts(
    'client secrets',
    [...clients.values()].flatMap((c) => (c.secret ? [[c.id, c.secret] as const] : [])),
    warnings,
  )
  warnAboutMixedCosts(
    'user passwords',
    [...users.values()].map((u) => [u.username, u.password] as const),
    warnings,
  )

  const routeIds = new Set<string>()
  const routes: RouteRule[] = []
  for (const [i, r] of (raw.routes ?? []).entries()) {
    const at = (...rest: (string | number)[]) => ['routes', i, ...rest]
    if (routeIds.has(r.id)) problem(at('id'), `duplicate route id "${r.id}"`)
    routeIds.add(r.id)
    const path = canonicalPrefix(r.path, at('path'), problem)
    const rewritePrefix = r.rewritePrefix === undefined ? undefined : canonicalPrefix(r.rewritePrefix, at('rewritePrefix'), problem)
    const upstream = checkUrl(r.upstream, at('upstream'), problem, { allowPath: true })
    const auth = r.auth ?? ['bearer']
    const scopes = r.scopes ?? []
    if (auth.length === 0 && scopes.length > 0) problem(at('scopes'), 'a public route (auth: []) cannot require scopes')
    const by = r.rateLimit?.by ?? (auth.length === 0 ? 'ip' : 'client')
    if (r.rateLimit && auth.length === 0 && by === 'client') problem(at('rateLimit', 'by'), 'a public route has no client to count by; use ip or route')
    const matchPath = foldCase(path)
    const twin = routes.find((other) => other.matchPath === matchPath && other.path !== path)
    if (twin) problem(at('path'), `"${path}" differs from route "${twin.id}" only in case, and paths are matched ignoring case`)
    routes.push(
      Object.freeze({
        id: r.id,
        path,
        matchPath,
        // HEAD is GET without a body (RFC 9110 §9.3.2): wherever GET is listed, HEAD is too.
        methods: r.methods ? new Set<string>(r.methods.includes('GET') ? [...r.methods, 'HEAD'] : r.methods) : undefined,
        upstreamOrigin: upstream?.origin ?? '',
        upstreamHost: upstream?.host ?? '',
        upstreamBasePath: upstream ? upstream.pathname.replace(/\/+$/, '') : '',
        rewritePrefix,
        auth: Object.freeze([...auth]),
        scopes: Object.freeze([...scopes]),
        timeoutMs: r.timeoutMs ?? DEFAULT_ROUTE_TIMEOUT_MS,
        forwardAuthorization: r.forwardAuthorization ?? false,
        maxBodyBytes: r.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
        allowIps: ipMatcher(r.allowIps, at('allowIps')),
        rateLimit: r.rateLimit ? { ...rateLimit(r.rateLimit)!, by } : undefined,
      }),
    )
  }
  // Longest prefix first; routes of one prefix stay together, in file order (stable sort).
  routes.sort((a, b) => b.matchPath.length - a.matchPath.length || (a.matchPath < b.matchPath ? -1 : a.matchPath > b.matchPath ? 1 : 0))

  // Legacy paths are served exactly as written: Django OAuth Toolkit's clients use /o/token/ and
  // /o/authorize/, slash and all.
  const exactPath = (p: string, at: (string | number)[]) => {
    // Characters with another meaning to the router or in a URL (a query, a fragment, a fastify
    // parameter, a template) would make a path that is never served, or one served too broadly.
    if (/[?#{}:*]/.test(p)) {
      problem(at, `"${p}" may not contain ? # { } : or * (only refreshPaths take * as a whole segment)`)
      return p
    }
    const canonical = canonicalPrefix(p, at, problem)
    return p.length > 1 && p.endsWith('/') ? `${canonical}/` : canonical
  }
  const authorizePaths = [DEFAULT_AUTHORIZE_PATH]
  for (const [i, p] of (raw.authorize?.paths ?? []).entries()) {
    const exact = exactPath(p, ['authorize', 'paths', i])
    if (authorizePaths.includes(exact)) problem(['authorize', 'paths', i], `"${p}" is served already`)
    authorizePaths.push(exact)
  }
  const tokenPaths: TokenPathRule[] = [tokenPathRule(DEFAULT_TOKEN_PATH, {})]
  for (const [i, entry] of (raw.tokenEndpoint?.paths ?? []).entries()) {
    const at = ['tokenEndpoint', 'paths', i]
    const options = typeof entry === 'string' ? { path: entry } : entry
    const path = exactPath(options.path, typeof entry === 'string' ? at : [...at, 'path'])
    if (tokenPaths.some((t) => t.path === path)) problem(at, `"${path}" is served already`)
    for (const code of Object.keys(options.errors ?? {})) {
      if (!ERROR_CODES.includes(code as ErrorCode))
        problem([...at, 'errors', code], `"${code}" is not an error the gateway answers with (${ERROR_CODES.join(', ')})`)
    }
    const refreshPaths = (options.refreshPaths ?? []).map((p, j) => {
      const withWildcards = p.replace(/\/\*(?=\/|$)/g, '/x') // a whole-segment * is checked as a placeholder
      exactPath(withWildcards, [...at, 'refreshPaths', j])
      return p
    })
    tokenPaths.push(tokenPathRule(path, { ...options, refreshPaths }))
  }

  // Each of the gateway's own paths is answered by one endpoint: two that share one would fail
  // when the runtime is built (fastify refuses the second), after check-config said OK.
  const ownPaths = new Map<string, string>([
    ['/oauth/revoke', 'the revocation endpoint'],
    ['/oauth/introspect', 'the introspection endpoint'],
    ['/.well-known/jwks.json', 'the JWKS'],
    ['/.well-known/oauth-authorization-server', 'the metadata document'],
  ])
  const claim = (path: string, what: string, at: (string | number)[]) => {
    const taken = ownPaths.get(path)
    if (taken === what) return // a path listed twice for one endpoint is reported above
    if (taken !== undefined) problem(at, `"${path}" is ${taken}'s path already`)
    else ownPaths.set(path, what)
  }
  claim(DEFAULT_TOKEN_PATH, 'the token endpoint', ['tokenEndpoint'])
  claim(DEFAULT_AUTHORIZE_PATH, 'the login page', ['authorize'])
  tokenPaths.slice(1).forEach((t, i) => claim(t.path, 'the token endpoint', ['tokenEndpoint', 'paths', i]))
  authorizePaths.slice(1).forEach((p, i) => claim(p, 'the login page', ['authorize', 'paths', i]))
  claim(raw.health?.live ?? '/healthz', 'health.live', ['health', 'live'])
  claim(raw.health?.ready ?? '/readyz', 'health.ready', ['health', 'ready'])
  if (raw.admin === undefined) claim(raw.metrics?.path ?? '/metrics', 'metrics.path', ['metrics', 'path'])

  const keyFile = raw.signing?.keyFile
  // Every worker must sign with the same key and count in the same store: an ephemeral key or an
  // in-memory store per worker would split tokens, login forms and limits N ways.
  const workers = raw.server?.workers === 'auto' ? availableParallelism() : (raw.server?.workers ?? 1)
  if (workers > 1 && (keyFile === undefined || redis === undefined)) {
    const missing = [
      keyFile === undefined ? 'signing.keyFile' : undefined,
      redis === undefined ? 'a shared store (store.redis, store.sentinels or store.cluster)' : undefined,
    ]
      .filter(Boolean)
      .join(' and ')
    problem(['server', 'workers'], `${workers} workers need ${missing}: each worker would otherwise sign with its own key and count in its own memory`)
  }
  if (raw.admin && raw.admin.port !== 0 && raw.admin.port === port && (raw.admin.host ?? '127.0.0.1') === host) {
    problem(['admin', 'port'], `must differ from the listener's port (${port})`)
  }

  if (problems.length > 0) return problems
  return deepFreeze({
    file,
    version: options.version ?? '',
    server: {
      host,
      port,
      trustedProxies: trustedProxyMatcher!,
      ipv6Subnet: raw.server?.ipv6Subnet ?? 64,
      requestBufferBytes,
      requestBufferTotalBytes,
      requestBufferPerAddressBytes,
      maxInFlightPerAddress: raw.server?.maxInFlightPerAddress ?? 32,
      headersTimeout,
      requestTimeout,
      keepAliveTimeout: durationSeconds(raw.server?.keepAliveTimeout ?? 72),
      shutdownTimeout: durationSeconds(raw.server?.shutdownTimeout ?? 30),
      workers,
      logLevel: raw.server?.logLevel ?? 'info',
    },
    admin: raw.admin ? { host: raw.admin.host ?? '127.0.0.1', port: raw.admin.port } : undefined,
    health: { live: raw.health?.live ?? '/healthz', ready: raw.health?.ready ?? '/readyz' },
    metrics: { path: raw.metrics?.path ?? '/metrics', allowIps: metricsAllowIps! },
    issuer,
    signing: { alg: raw.signing?.alg ?? 'ES256', keyFile: keyFile === undefined ? undefined : options.resolvePath(keyFile) },
    tokens: {
      audience,
      accessTokenTtl: durationSeconds(raw.tokens?.accessTokenTtl ?? 3600),
      refreshTokenTtl: durationSeconds(raw.tokens?.refreshTokenTtl ?? 1_209_600),
      authorizationCodeTtl: durationSeconds(raw.tokens?.authorizationCodeTtl ?? 60),
      clockTolerance: durationSeconds(raw.tokens?.clockTolerance ?? 5),
    },
    tokenEndpoint: {
      paths: tokenPaths,
      rateLimit: rateLimit(raw.tokenEndpoint?.rateLimit) ?? { points: 10, duration: 60 },
      failureLimit: rateLimit(raw.tokenEndpoint?.failureLimit) ?? { points: 10, duration: 60 },
    },
    store: { redis, onRedisError: raw.store?.onRedisError ?? 'insurance' },
    authorize: {
      allowPlainPkce: raw.authorize?.allowPlainPkce ?? false,
      paths: authorizePaths,
      loginFailureLimit: rateLimit(raw.authorize?.loginFailureLimit) ?? { points: 5, duration: 300 },
      loginFailureLimitPerIp: rateLimit(raw.authorize?.loginFailureLimitPerIp) ?? { points: 20, duration: 300 },
    },
    clients,
    scopeDescriptions: new Map(Object.entries(raw.scopes ?? {})),
    webOrigins: webOrigins(raw.webOrigins, ['webOrigins'], true),
    users,
    routes,
    warnings,
  })
}

/** store.redis (or REDIS_URL), store.sentinels or store.cluster: at most one of them. */
function redisConnection(
  store: ConfigFile['store'],
  urlOverride: string | undefined,
  problem: (path: (string | number)[], m: string) => void,
): RedisConnection | undefined {
  const url = urlOverride || store?.redis || undefined
  const given = [url && (urlOverride ? 'REDIS_URL' : 'store.redis'), store?.sentinels && 'store.sentinels', store?.cluster && 'store.cluster'].filter(Boolean)
  if (given.length > 1) {
    problem(urlOverride ? ['REDIS_URL'] : ['store'], `give one of store.redis, store.sentinels and store.cluster, not ${given.join(' and ')}`)
    return undefined
  }
  const nodes = (entries: readonly string[], at: (string | number)[]): RedisNode[] =>
    entries.map((entry, i) => {
      // The schema allows host:port or [v6]:port.
      const colon = entry.lastIndexOf(':')
      const port = Number(entry.slice(colon + 1))
      if (!(port >= 1 && port <= 65535)) problem([...at, i], `"${entry}": the port must be 1 to 65535`)
      return { host: entry.slice(0, colon).replace(/^\[(.*)\]$/, '$1'), port }
    })
  if (url !== undefined) {
    if (!/^rediss?:\/\//.test(url)) problem(urlOverride ? ['REDIS_URL'] : ['store', 'redis'], 'must be a redis:// or rediss:// URL')
    return { mode: 'server', url }
  }
  // An empty secret (`password: ${REDIS_PASSWORD:-}`) counts as none.
  if (store?.sentinels) {
    const s = store.sentinels
    return {
      mode: 'sentinels',
      masterName: s.masterName,
      nodes: nodes(s.nodes, ['store', 'sentinels', 'nodes']),
      username: s.username || undefined,
      password: s.password || undefined,
      sentinelPassword: s.sentinelPassword || undefined,
      tls: s.tls ?? false,
    }
  }
  if (store?.cluster) {
    const c = store.cluster
    return {
      mode: 'cluster',
      nodes: nodes(c.nodes, ['store', 'cluster', 'nodes']),
      username: c.username || undefined,
      password: c.password || undefined,
      tls: c.tls ?? false,
    }
  }
  return undefined
}

/**
 * An unknown client or user is checked against a decoy hash at the cost most of its kind use, so
 * that it takes as long as a wrong secret. Where costs differ, those at another cost answer in
 * another time, and timing tells which of them exist (Django CVE-2024-39329): say so, with the fix.
 */
function warnAboutMixedCosts(kind: string, hashes: readonly (readonly [string, SecretHash])[], warnings: string[]): void {
  const byCost = new Map<string, string[]>()
  for (const [who, h] of hashes) {
    const cost = costLabel(h)
    byCost.set(cost, [...(byCost.get(cost) ?? []), who])
  }
  if (byCost.size < 2) return
  const groups = [...byCost].map(([cost, names]) => `${cost}: ${names.slice(0, 5).join(', ')}${names.length > 5 ? ', ...' : ''}`)
  warnings.push(
    `${kind} are hashed at different costs (${groups.join('; ')}), so response times tell which ones exist; ` +
      're-hash them at one cost with `gatehouse hash-secret` (`--generated` for secrets that `gatehouse new-client` made)',
  )
}

function tokenPathRule(path: string, o: Partial<Omit<TokenPathRule, 'path' | 'errorCodes'>> & { errors?: Record<string, string> }): TokenPathRule {
  return {
    path,
    defaultGrantType: o.defaultGrantType,
    errorCodes: { ...o.errors },
    descriptionField: o.descriptionField ?? 'error_description',
    pretty: o.pretty ?? false,
    envelope: o.envelope ?? false,
    refreshPaths: [`${path.replace(/\/+$/, '')}/refresh`, ...(o.refreshPaths ?? [])],
  }
}

/** A prefix must already be in normalised form, so that what the operator wrote is what is matched. */
function canonicalPrefix(p: string, path: (string | number)[], problem: (path: (string | number)[], m: string) => void): string {
  let normalised: string
  try {
    normalised = normalisePath(p)
  } catch (err) {
    problem(path, `"${p}" is not a valid path: ${(err as Error).message}`)
    return p
  }
  const trimmed = normalised.length > 1 ? normalised.replace(/\/$/, '') : normalised
  if (trimmed !== p.replace(/(.)\/$/, '$1')) problem(path, `"${p}" is not a normalised path (did you mean "${trimmed}"?)`)
  return trimmed
}

function checkUrl(
  value: string,
  path: (string | number)[],
  problem: (path: (string | number)[], m: string) => void,
  { allowPath }: { allowPath: boolean },
): URL | undefined {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    problem(path, `"${value}" is not a URL`)
    return undefined
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') problem(path, 'must be an http:// or https:// URL')
  if (url.username || url.password) problem(path, 'must not contain credentials')
  if (url.search || url.hash) problem(path, 'must not contain a query or fragment')
  if (!allowPath && url.pathname !== '/') problem(path, 'must not contain a path')
  return url
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    // Maps and Sets are frozen as objects; their entries are frozen where they are built.
    for (const v of Object.values(value)) deepFreeze(v)
  }
  return value
}

/**
 * What only a restart applies: the listener and its bounds, and the store behind every limit and
 * token. A reload that changes one of them is refused, naming each key, and the live config
 * keeps serving. Values are shown except the store's (its URL may carry a password).
 */
export function restartOnlyChanges(live: GatehouseConfig, next: GatehouseConfig): string[] {
  const settings = (c: GatehouseConfig): Record<string, unknown> => ({
    'server.host': c.server.host,
    'server.port': c.server.port,
    'server.trustedProxies': c.server.trustedProxies.entries,
    'server.ipv6Subnet': c.server.ipv6Subnet,
    'server.requestBufferBytes': c.server.requestBufferBytes,
    'server.requestBufferTotalBytes': c.server.requestBufferTotalBytes,
    'server.maxInFlightPerAddress': c.server.maxInFlightPerAddress,
    'server.headersTimeout': c.server.headersTimeout,
    'server.requestTimeout': c.server.requestTimeout,
    'server.keepAliveTimeout': c.server.keepAliveTimeout,
    'server.workers': c.server.workers,
    admin: c.admin,
    store: c.store,
  })
  const before = settings(live)
  const after = settings(next)
  return Object.keys(before).flatMap((key) => {
    const [was, now] = [JSON.stringify(before[key]), JSON.stringify(after[key])]
    if (was === now) return []
    const change = key === 'store' ? 'changed' : `changed from ${was} to ${now}`
    return [`${key}: ${change}; only a restart applies it (the running config is kept)`]
  })
}
