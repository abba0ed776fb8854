// The config file's shape: one schema that both validates the YAML (Ajv) and gives its TypeScript
// type. Every object is closed (additionalProperties: false) so that a misspelt key is an error,
// never a silently ignored policy. Defaults are applied in compile.ts, in code, where they can be read.
import { Type, type Static } from '@sinclair/typebox'

const closed = <T extends Parameters<typeof Type.Object>[0]>(props: T, description?: string) =>
  Type.Object(props, { additionalProperties: false, ...(description ? { description } : {}) })

/** Seconds as an integer, or a string like "90s", "15m", "1h", "14d". */
export const Duration = Type.Union([Type.Integer({ minimum: 1 }), Type.String({ pattern: '^[1-9][0-9]*[smhd]$' })], {
  description: 'seconds, or a number with s, m, h or d (e.g. "15m")',
})

// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
export const ScopeToken = Type.String({ pattern: '^[\\x21\\x23-\\x5B\\x5D-\\x7E]+$', description: 'a scope token' })

const AllowIps = Type.Array(Type.String(), { minItems: 1, description: 'IP addresses and CIDR ranges' })

const RateLimit = closed({
  points: Type.Integer({ minimum: 1, description: 'requests allowed per duration' }),
  duration: Duration,
})

const SyncMs = Type.Integer({
  minimum: 10,
  maximum: 60_000,
  description: 'count in this process and add to Redis every syncMs milliseconds (approximate across instances); absent: every request counted in Redis',
})

/** A limit on proxied requests: these, and only these, may be counted locally and synced. */
const ProxiedRateLimit = closed({
  points: Type.Integer({ minimum: 1, description: 'requests allowed per duration' }),
  duration: Duration,
  syncMs: Type.Optional(SyncMs),
})

const RouteRateLimit = closed({
  points: Type.Integer({ minimum: 1 }),
  duration: Duration,
  by: Type.Optional(Type.Union([Type.Literal('client'), Type.Literal('ip'), Type.Literal('route')])),
  syncMs: Type.Optional(SyncMs),
})

/** A Redis node or sentinel; an IPv6 address in brackets. The port is checked in compile.ts. */
const RedisNodes = Type.Array(Type.String({ pattern: '^(?:\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9._-]+):[0-9]{1,5}$', description: 'host:port (IPv6: [::1]:6379)' }), {
  minItems: 1,
  uniqueItems: true,
})

const HttpUrl = Type.String({ pattern: '^https?://', description: 'an http:// or https:// URL' })

export const GrantType = Type.Union([
  Type.Literal('client_credentials'),
  Type.Literal('password'),
  Type.Literal('authorization_code'),
  Type.Literal('refresh_token'),
  Type.Literal('implicit'),
])

export const HttpMethod = Type.Union(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'].map((m) => Type.Literal(m)))

const Client = closed({
  id: Type.String({ pattern: '^[\\x21-\\x7E]+$', maxLength: 128, description: 'printable ASCII, no spaces' }),
  /** What users see on the login page; default: the id. */
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  /** Origins of browser apps that call the token, revocation and introspection endpoints as this client (CORS). */
  webOrigins: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { uniqueItems: true })),
  type: Type.Optional(Type.Union([Type.Literal('confidential'), Type.Literal('public')])),
  secretHash: Type.Optional(
    Type.String({ pattern: '^\\$(scrypt|sha256)\\$', description: 'from gatehouse hash-secret ($scrypt$), or --generated ($sha256$)' }),
  ),
  secret: Type.Optional(Type.String({ minLength: 1 })),
  grants: Type.Optional(Type.Array(GrantType, { uniqueItems: true })),
  scopes: Type.Optional(Type.Array(ScopeToken, { uniqueItems: true })),
  group: Type.Optional(Type.String({ pattern: '^[\\x20-\\x7E]+$', description: 'printable ASCII' })),
  redirectUris: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
  allowIps: Type.Optional(AllowIps),
  rateLimit: Type.Optional(ProxiedRateLimit),
  /** The shape of this client's access tokens, for clients of systems that shaped them otherwise. */
  token: Type.Optional(
    closed({
      audience: Type.Optional(Type.String({ minLength: 1, description: "a fixed value, or client_id for the client's own id" })),
      claims: Type.Optional(Type.Record(Type.String({ minLength: 1 }), Type.Union([Type.String(), Type.Number(), Type.Boolean()]))),
      refreshWithClientCredentials: Type.Optional(Type.Boolean()),
    }),
  ),
})

/** A legacy token path, with the compatibility its old clients need (README: "Standing in"). */
const TokenPath = closed({
  path: Type.String({ pattern: '^/' }),
  /** The grant of a request that names none (POD Shop posts Basic credentials and no body at all). */
  defaultGrantType: Type.Optional(GrantType),
  /** The error codes this path's clients expect, by ours (MAXST: T001, T006). */
  errors: Type.Optional(Type.Record(Type.String({ pattern: '^[a-z_]+$' }), Type.String({ minLength: 1 }))),
  /** The name of the description field in its errors (MAXST: description). */
  descriptionField: Type.Optional(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' })),
  /** Honour ?pretty=true (indented JSON) and ?envelope=true ({"status", "content"} with 200), as Atlas does. */
  pretty: Type.Optional(Type.Boolean()),
  envelope: Type.Optional(Type.Boolean()),
  /** More paths for the legacy refresh (refreshToken in the query or body); `*` matches one segment. */
  refreshPaths: Type.Optional(Type.Array(Type.String({ pattern: '^/' }), { minItems: 1 })),
})

const User = closed({
  username: Type.String({ pattern: '^[\\x21-\\x7E]+$', maxLength: 128, description: 'printable ASCII, no spaces' }),
  passwordHash: Type.Optional(
    Type.String({ pattern: '^\\$(scrypt|sha256)\\$', description: 'from gatehouse hash-secret ($scrypt$; a $sha256$ hash is refused for passwords)' }),
  ),
  password: Type.Optional(Type.String({ minLength: 1 })),
  scopes: Type.Optional(Type.Array(ScopeToken, { uniqueItems: true })),
})

const Route = closed({
  id: Type.String({ pattern: '^[A-Za-z0-9_.-]+$' }),
  path: Type.String({ pattern: '^/', description: 'an absolute path, e.g. /api/orders' }),
  methods: Type.Optional(Type.Array(HttpMethod, { minItems: 1, uniqueItems: true })),
  upstream: HttpUrl,
  rewritePrefix: Type.Optional(Type.String({ pattern: '^/' })),
  auth: Type.Optional(Type.Array(Type.Union([Type.Literal('bearer'), Type.Literal('basic')]), { uniqueItems: true })),
  scopes: Type.Optional(Type.Array(ScopeToken, { uniqueItems: true })),
  timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 3_600_000 })),
  forwardAuthorization: Type.Optional(Type.Boolean()),
  maxBodyBytes: Type.Optional(Type.Integer({ minimum: 0 })),
  allowIps: Type.Optional(AllowIps),
  rateLimit: Type.Optional(RouteRateLimit),
})

export const ConfigFileSchema = closed({
  server: Type.Optional(
    closed({
      host: Type.Optional(Type.String({ minLength: 1 })),
      port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
      trustedProxies: Type.Optional(Type.Array(Type.String())),
      ipv6Subnet: Type.Optional(Type.Integer({ minimum: 8, maximum: 128 })),
      requestBufferBytes: Type.Optional(Type.Integer({ minimum: 0 })),
      requestBufferTotalBytes: Type.Optional(Type.Integer({ minimum: 0 })),
      maxInFlightPerAddress: Type.Optional(Type.Integer({ minimum: 1 })),
      headersTimeout: Type.Optional(Duration),
      requestTimeout: Type.Optional(Duration),
      keepAliveTimeout: Type.Optional(Duration),
      shutdownTimeout: Type.Optional(Duration),
      workers: Type.Optional(
        Type.Union([Type.Integer({ minimum: 1, maximum: 256 }), Type.Literal('auto')], {
          description: 'a number of worker processes (1 to 256), or "auto" for one per core',
        }),
      ),
      logLevel: Type.Optional(Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)))),
    }),
  ),
  issuer: Type.Optional(HttpUrl),
  metrics: Type.Optional(
    closed({
      path: Type.Optional(Type.String({ pattern: '^/', description: 'where Prometheus scrapes (default /metrics)' })),
      allowIps: Type.Optional(Type.Array(Type.String(), { description: 'who may scrape; default loopback only' })),
    }),
  ),
  admin: Type.Optional(
    closed({
      host: Type.Optional(Type.String({ minLength: 1, description: 'where health and metrics are also served (default 127.0.0.1)' })),
      port: Type.Integer({ minimum: 0, maximum: 65535 }),
    }),
  ),
  health: Type.Optional(
    closed({
      live: Type.Optional(Type.String({ pattern: '^/', description: 'liveness path: 200 while the process answers' })),
      ready: Type.Optional(Type.String({ pattern: '^/', description: 'readiness path: 503 while shutting down or while a deny-policy Redis is unreachable' })),
    }),
  ),
  signing: Type.Optional(
    closed({
      alg: Type.Optional(Type.Union([Type.Literal('ES256'), Type.Literal('RS256'), Type.Literal('EdDSA')])),
      keyFile: Type.Optional(Type.String({ minLength: 1 })),
    }),
  ),
  tokens: Type.Optional(
    closed({
      audience: Type.Optional(Type.String({ minLength: 1 })),
      accessTokenTtl: Type.Optional(Duration),
      refreshTokenTtl: Type.Optional(Duration),
      authorizationCodeTtl: Type.Optional(Duration),
      clockTolerance: Type.Optional(Type.Union([Type.Literal(0), Duration])),
    }),
  ),
  tokenEndpoint: Type.Optional(
    closed({
      paths: Type.Optional(
        Type.Array(Type.Union([Type.String({ pattern: '^/' }), TokenPath], { description: 'a path, or { path, ... } with what its legacy clients need' }), {
          minItems: 1,
        }),
      ),
      rateLimit: Type.Optional(RateLimit),
      failureLimit: Type.Optional(RateLimit),
    }),
  ),
  store: Type.Optional(
    closed({
      redis: Type.Optional(Type.Union([Type.Null(), Type.String()], { description: 'a redis:// or rediss:// URL, or empty' })),
      sentinels: Type.Optional(
        closed(
          {
            masterName: Type.String({ minLength: 1, description: 'the name the sentinels monitor the master by' }),
            nodes: RedisNodes,
            username: Type.Optional(Type.String({ description: "the master's and replicas' ACL user; empty: none" })),
            password: Type.Optional(Type.String({ description: "the master's and replicas' password; empty: none" })),
            sentinelPassword: Type.Optional(Type.String({ description: "the sentinels' own password; empty: none" })),
            tls: Type.Optional(Type.Boolean({ description: 'TLS to the sentinels and to the master (default false)' })),
          },
          'Redis Sentinel: the sentinels to ask where the master is',
        ),
      ),
      cluster: Type.Optional(
        closed(
          {
            nodes: RedisNodes,
            username: Type.Optional(Type.String({ description: 'ACL user; empty: none' })),
            password: Type.Optional(Type.String({ description: 'empty: none' })),
            tls: Type.Optional(Type.Boolean({ description: 'TLS to every node (default false)' })),
          },
          'Redis Cluster: some of its nodes; the others are found from them',
        ),
      ),
      onRedisError: Type.Optional(Type.Union([Type.Literal('insurance'), Type.Literal('deny')])),
    }),
  ),
  authorize: Type.Optional(
    closed({
      allowPlainPkce: Type.Optional(Type.Boolean()),
      paths: Type.Optional(Type.Array(Type.String({ pattern: '^/' }), { minItems: 1, uniqueItems: true })),
      loginFailureLimit: Type.Optional(RateLimit),
      loginFailureLimitPerIp: Type.Optional(RateLimit),
    }),
  ),
  /** Origins of browser apps that may read the JWKS and metadata (CORS), besides every client's; "*": any. */
  webOrigins: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { uniqueItems: true })),
  /** What each scope means to a user, shown on the login page. */
  scopes: Type.Optional(Type.Record(ScopeToken, Type.String({ minLength: 1, maxLength: 200 }))),
  clients: Type.Optional(Type.Array(Client)),
  users: Type.Optional(Type.Array(User)),
  routes: Type.Optional(Type.Array(Route)),
})

export type ConfigFile = Static<typeof ConfigFileSchema>
export type ClientConfig = Static<typeof Client>
export type RouteConfig = Static<typeof Route>
export type GrantTypeName = Static<typeof GrantType>

/**
 * The config file's JSON Schema, for editors (`gatehouse schema`; config/gatehouse.schema.json,
 * which the bundled configs name for the YAML language server). It is the schema that validates
 * the file at load, with one allowance: a value may be a `${VAR}` reference, which the loader
 * replaces before it validates, so the editor must not flag it.
 */
export function configJsonSchema(): Record<string, unknown> {
  const reference = '\\$\\{[A-Za-z_]'
  const allowReferences = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(allowReferences)
    if (node === null || typeof node !== 'object') return node
    const out: Record<string, unknown> = {}
    for (const [key, value] of Object.entries(node)) out[key] = allowReferences(value)
    if (out.type === 'string' && typeof out.pattern === 'string') out.pattern = `(?:${out.pattern})|${reference}`
    if (out.type === 'integer' || out.type === 'number' || out.type === 'boolean') {
      return { anyOf: [out, { type: 'string', pattern: reference }], ...(out.description ? { description: out.description } : {}) }
    }
    return out
  }
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'gatehouse config',
    ...(allowReferences(JSON.parse(JSON.stringify(ConfigFileSchema))) as Record<string, unknown>),
  }
}
