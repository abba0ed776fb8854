import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/load.js'
import { ConfigError } from '../../src/errors.js'

const FILE = '/etc/gatehouse/gatehouse.yaml'
const problemsOf = async (yaml: string, env: Record<string, string> = {}) => {
  try {
    await parseConfig(yaml, FILE, env)
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError)
    expect((err as Error).message).toContain(FILE)
    return (err as ConfigError).problems
  }
  throw new Error('the config was accepted')
}

const HASH = '$scrypt$ln=10,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'

describe('config loading', () => {
  it('applies the documented defaults to an empty file', async () => {
    const config = await parseConfig('', FILE, {})
    expect(config.server).toMatchObject({ host: '127.0.0.1', port: 8080, trustedProxies: { entries: [] } })
    expect(config.issuer).toBe('http://127.0.0.1:8080')
    expect(config.tokens).toMatchObject({ audience: 'http://127.0.0.1:8080', accessTokenTtl: 3600, refreshTokenTtl: 1209600, authorizationCodeTtl: 60 })
    expect(config.signing).toEqual({ alg: 'ES256', keyFile: undefined })
    expect(config.tokenEndpoint.paths.map((t) => t.path)).toEqual(['/oauth/token'])
  })

  it("refuses several workers without a shared key and store, and an admin port on the listener's", async () => {
    expect(await problemsOf('server: { workers: 2 }')).toEqual([
      'line 1: server.workers: 2 workers need signing.keyFile and a shared store (store.redis, store.sentinels or store.cluster): each worker would otherwise sign with its own key and count in its own memory',
    ])
    expect(await problemsOf('server: { workers: auto, port: 8080 }\nadmin: { port: 8080 }')).toEqual(
      expect.arrayContaining(["line 2: admin.port: must differ from the listener's port (8080)"]),
    )
    const config = await parseConfig(
      'server: { workers: 4 }\nsigning: { keyFile: k.jwk }\nstore: { redis: "redis://127.0.0.1:6390" }\nadmin: { port: 9901 }',
      FILE,
      {},
    )
    expect([config.server.workers, config.admin]).toEqual([4, { host: '127.0.0.1', port: 9901 }])
    expect((await parseConfig('', FILE, {})).server.workers).toBe(1)
  })

  // Found by review: check-config said OK, and the gateway then failed to start with fastify's error.
  it("refuses two of the gateway's own endpoints on one path, naming both", async () => {
    expect(await problemsOf('tokenEndpoint: { paths: [/oauth/authorize] }')).toEqual([
      'line 1: tokenEndpoint.paths[0]: "/oauth/authorize" is the login page\'s path already',
    ])
    expect(await problemsOf('health: { live: /oauth/token }')).toEqual(['line 1: health.live: "/oauth/token" is the token endpoint\'s path already'])
    expect(await problemsOf('health: { ready: /.well-known/jwks.json }')).toEqual([
      'line 1: health.ready: "/.well-known/jwks.json" is the JWKS\'s path already',
    ])
  })

  it('derives an issuer from an IPv6 listen address in brackets', async () => {
    expect((await parseConfig('server: { host: "::1", port: 8443 }', FILE, {})).issuer).toBe('http://[::1]:8443')
  })

  it('names the path and line of an unknown key', async () => {
    const problems = await problemsOf(['routes:', '  - id: a', '    path: /a', '    upstream: http://127.0.0.1:1', '    alowIps: []'].join('\n'))
    expect(problems).toEqual(['line 5: routes[0].alowIps: unknown key (did you mean allowIps?)'])
    expect(await problemsOf('tokens:\n  acessTokenTtl: 60\n  zzz: 1')).toEqual([
      'line 2: tokens.acessTokenTtl: unknown key (did you mean accessTokenTtl?)',
      'line 3: tokens.zzz: unknown key',
    ])
  })

  it('collects every problem, each with its path, and says what was expected', async () => {
    const problems = await problemsOf(
      [
        'server: { port: "eighty" }',
        'signing: { alg: HS256 }',
        'tokens: { accessTokenTtl: 1 hour }',
        'routes:',
        '  - { id: a, path: api, upstream: ftp://x }',
      ].join('\n'),
    )
    expect(problems).toEqual([
      'line 1: server.port: must be integer',
      'line 2: signing.alg: must be one of "ES256", "RS256", "EdDSA"',
      'line 3: tokens.accessTokenTtl: must be seconds, or a number with s, m, h or d (e.g. "15m")',
      'line 5: routes[0].path: must be an absolute path, e.g. /api/orders',
      'line 5: routes[0].upstream: must be an http:// or https:// URL',
    ])
  })

  it('reports cross-field mistakes with their paths', async () => {
    const problems = await problemsOf(
      [
        'clients:',
        '  - { id: a }',
        `  - { id: a, secretHash: "${HASH}" }`,
        '  - { id: p, type: public, grants: [client_credentials] }',
        'routes:',
        '  - { id: r, path: /api/../x, upstream: "http://127.0.0.1:1" }',
        '  - { id: r, path: /open, upstream: "http://u:p@127.0.0.1:1", auth: [], scopes: [x] }',
      ].join('\n'),
    )
    expect(problems).toEqual([
      'line 2: clients[0]: a confidential client needs secretHash (or secret)',
      'line 3: clients[1].id: duplicate client id "a"',
      'line 4: clients[2].grants: client_credentials needs a confidential client',
      'line 6: routes[0].path: "/api/../x" is not a normalised path (did you mean "/x"?)',
      'line 7: routes[1].id: duplicate route id "r"',
      'line 7: routes[1].upstream: must not contain credentials',
      'line 7: routes[1].scopes: a public route (auth: []) cannot require scopes',
    ])
  })

  it('accepts durations as seconds or with a unit', async () => {
    const config = await parseConfig('tokens: { accessTokenTtl: 15m, refreshTokenTtl: 14d, authorizationCodeTtl: 90 }', FILE, {})
    expect(config.tokens).toMatchObject({ accessTokenTtl: 900, refreshTokenTtl: 1209600, authorizationCodeTtl: 90 })
  })

  it('replaces ${VAR} and ${VAR:-default} from the environment, as the type the key expects', async () => {
    const yaml = 'server:\n  port: ${P}\n  host: ${HOST:-0.0.0.0}\nissuer: ${ISS:-http://gw.example}/x\ntokens: { audience: "$${literal}" }'
    const config = await parseConfig(yaml, FILE, { P: '9999', ISS: '' })
    expect(config.server.port).toBe(9999)
    expect(config.server.host).toBe('0.0.0.0')
    expect(config.issuer).toBe('http://gw.example/x')
    expect(config.tokens.audience).toBe('${literal}')
  })

  it('names a missing environment variable and where it is used', async () => {
    expect(await problemsOf('issuer: ${GATEHOUSE_ISSUER}')).toEqual([
      'line 1: issuer: environment variable GATEHOUSE_ISSUER is not set (use ${GATEHOUSE_ISSUER:-default} for a default)',
    ])
  })

  it('cannot be given structure through a variable', async () => {
    const config = await parseConfig('tokens:\n  audience: ${AUD}', FILE, { AUD: '{evil: 1}' })
    expect(config.tokens.audience).toBe('{evil: 1}')
  })

  it('explains that ${VAR} inside a flow map needs quotes', async () => {
    const problems = await problemsOf('server: { host: ${HOST} }', { HOST: 'x' })
    expect(problems.at(-1)).toBe('hint: inside { ... } write "${VAR}" in quotes, or use block style (key: ${VAR})')
    expect((await parseConfig('server: { port: "${P}" }', FILE, { P: '81' })).server.port).toBe(81)
  })

  it('lets PORT override server.port, and refuses a PORT that is not a port', async () => {
    expect((await parseConfig('server: { port: 1 }', FILE, { PORT: '8181' })).server.port).toBe(8181)
    expect(await problemsOf('', { PORT: 'http' })).toEqual(['environment variable PORT: "http" is not a port number'])
  })

  it('reports YAML syntax errors and duplicate keys with their line', async () => {
    expect(await problemsOf('server:\n  port: 1\n  port: 2')).toEqual([expect.stringMatching(/^line 3: Map keys must be unique/)])
  })

  it('warns about a plain secret and hashes it at load', async () => {
    const config = await parseConfig('clients: [{ id: a, secret: s3cret }]', FILE, {})
    expect(config.warnings).toEqual([expect.stringContaining('client "a" has a plain "secret"')])
    expect(config.clients.get('a')!.secret!.key.length).toBe(32)
  })

  it("warns when an address's share of the body buffer is smaller than one buffered body", async () => {
    const config = await parseConfig('server: { requestBufferBytes: 1048576, requestBufferTotalBytes: 4194304 }', FILE, {})
    expect(config.server.requestBufferPerAddressBytes).toBe(524288)
    expect(config.warnings).toEqual([expect.stringMatching(/lets one address buffer 524288 bytes.*raise it to 8388608 or more/)])
    expect((await parseConfig('server: {}', FILE, {})).warnings).toEqual([])
  })

  // Found by an outside review: `/o/token?x` was never served (so a catch-all route proxied it,
  // secrets and all), `{id}` was a literal segment and `:` a fastify parameter.
  it('refuses token, authorize and refresh paths with characters that mean something else to the router', async () => {
    const problems = await problemsOf(`tokenEndpoint:
  paths: ["/o/token?x", "/v1/token:exchange", { path: /pod/token, refreshPaths: ["/ac/{id}/refresh", "/a/b*c/refresh", "/ac/*/refresh"] }]
authorize: { paths: ["/o/authorize#x"] }`)
    expect(problems).toHaveLength(5)
    for (const p of problems) expect(p).toMatch(/may not contain \? # \{ \} : or \*/)
  })

  it('refuses a secretHash it cannot verify, and costs a config cannot afford', async () => {
    const problems = await problemsOf(
      'clients:\n  - { id: a, secretHash: "$scrypt$ln=30,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }',
    )
    expect(problems).toEqual(['line 2: clients[0].secretHash: scrypt ln must be 1..20'])
  })

  it('refuses trusted proxies that are not addresses or CIDRs', async () => {
    const problems = await problemsOf('server: { trustedProxies: [10.0.0.0/8, "::1", 10.0.0.0/33, proxy.local] }')
    expect(problems).toEqual([
      'line 1: server.trustedProxies[2]: "10.0.0.0/33": prefix length must be 0..32',
      'line 1: server.trustedProxies[3]: "proxy.local" is not an IP address or CIDR range',
    ])
  })

  it('orders routes longest prefix first and resolves keyFile against the config file', async () => {
    const config = await parseConfig(
      'signing: { keyFile: keys/k.jwk }\nroutes:\n  - { id: all, path: /, upstream: "http://127.0.0.1:1" }\n  - { id: api, path: /api/, upstream: "http://127.0.0.1:1/base/" }',
      FILE,
      {},
    )
    expect(config.routes.map((r) => [r.id, r.path, r.upstreamBasePath])).toEqual([
      ['api', '/api', '/base'],
      ['all', '/', ''],
    ])
    expect(config.signing.keyFile).toBe('/etc/gatehouse/keys/k.jwk')
    expect(Object.isFrozen(config.routes[0])).toBe(true)
  })

  it('takes store.redis from REDIS_URL, where an empty value counts as unset', async () => {
    const yaml = 'store:\n  redis: ${REDIS_URL:-}'
    expect((await parseConfig(yaml, FILE, {})).store).toEqual({ redis: undefined, onRedisError: 'insurance' })
    expect((await parseConfig(yaml, FILE, { REDIS_URL: '' })).store.redis).toBeUndefined()
    expect((await parseConfig(yaml, FILE, { REDIS_URL: 'redis://10.1.1.1:6379' })).store.redis).toEqual({ mode: 'server', url: 'redis://10.1.1.1:6379' })
    expect((await parseConfig('store: { redis: "redis://a:1" }', FILE, { REDIS_URL: 'redis://b:2' })).store.redis).toEqual({
      mode: 'server',
      url: 'redis://b:2',
    })
    expect(await problemsOf('store: { redis: "http://x" }')).toEqual(['line 1: store.redis: must be a redis:// or rediss:// URL'])
    // From the environment, the variable is to blame, not a line of the file.
    expect(await problemsOf('server:\n  port: 1\nstore: {}', { REDIS_URL: 'http://x' })).toEqual([
      'environment variable REDIS_URL: must be a redis:// or rediss:// URL',
    ])
  })

  it('takes Redis Sentinel and Redis Cluster nodes, with secrets from the environment', async () => {
    const sentinels = await parseConfig(
      [
        'store:',
        '  sentinels:',
        '    masterName: gatehouse',
        '    nodes: [10.0.0.1:26379, "[fd00::2]:26379"]',
        '    password: ${REDIS_PASSWORD}',
        '    sentinelPassword: ${SENTINEL_PASSWORD:-}',
        '    tls: true',
      ].join('\n'),
      FILE,
      { REDIS_PASSWORD: 'pw' },
    )
    expect(sentinels.store.redis).toEqual({
      mode: 'sentinels',
      masterName: 'gatehouse',
      nodes: [
        { host: '10.0.0.1', port: 26379 },
        { host: 'fd00::2', port: 26379 },
      ],
      username: undefined,
      password: 'pw',
      sentinelPassword: undefined, // empty counts as none
      tls: true,
    })
    const cluster = await parseConfig('store:\n  cluster: { nodes: [redis-0.redis:6379, redis-1.redis:6379], username: gatehouse, password: pw }', FILE, {})
    expect(cluster.store.redis).toEqual({
      mode: 'cluster',
      nodes: [
        { host: 'redis-0.redis', port: 6379 },
        { host: 'redis-1.redis', port: 6379 },
      ],
      username: 'gatehouse',
      password: 'pw',
      tls: false,
    })
  })

  it('takes one of store.redis, store.sentinels and store.cluster, and names the ones given', async () => {
    expect(await problemsOf('store:\n  redis: redis://a:1\n  cluster: { nodes: [a:1] }')).toEqual([
      'line 2: store: give one of store.redis, store.sentinels and store.cluster, not store.redis and store.cluster',
    ])
    expect(await problemsOf('store:\n  sentinels: { masterName: m, nodes: [a:1] }\n  cluster: { nodes: [a:1] }')).toEqual([
      'line 2: store: give one of store.redis, store.sentinels and store.cluster, not store.sentinels and store.cluster',
    ])
    // An empty store.redis (REDIS_URL unset) is no Redis at all, but REDIS_URL itself counts.
    expect((await parseConfig('store:\n  redis: ${REDIS_URL:-}\n  cluster: { nodes: [a:1] }', FILE, {})).store.redis).toMatchObject({ mode: 'cluster' })
    expect(await problemsOf('store:\n  cluster: { nodes: [a:1] }', { REDIS_URL: 'redis://b:2' })).toEqual([
      'environment variable REDIS_URL: give one of store.redis, store.sentinels and store.cluster, not REDIS_URL and store.cluster',
    ])
  })

  it('names a Redis node that is not host:port', async () => {
    expect(await problemsOf('store:\n  cluster:\n    nodes: [10.0.0.1, "10.0.0.2:70000", "::1:6379"]\n    pasword: x')).toEqual([
      'line 4: store.cluster.pasword: unknown key (did you mean password?)',
      'line 3: store.cluster.nodes[0]: must be host:port (IPv6: [::1]:6379)',
      'line 3: store.cluster.nodes[2]: must be host:port (IPv6: [::1]:6379)',
    ])
    expect(await problemsOf('store:\n  sentinels:\n    masterName: m\n    nodes: ["10.0.0.2:70000"]')).toEqual([
      'line 4: store.sentinels.nodes[0]: "10.0.0.2:70000": the port must be 1 to 65535',
    ])
    expect(await problemsOf('store:\n  sentinels: { nodes: [a:1] }')).toEqual(['line 2: store.sentinels: missing required key "masterName"'])
  })

  it('checks allowIps and rateLimit on routes and clients', async () => {
    const problems = await problemsOf(
      [
        'clients:',
        `  - { id: a, secretHash: "${HASH}", allowIps: [10.0.0.0/8, 300.1.1.1], rateLimit: { points: 0, duration: 60 } }`,
        'routes:',
        '  - { id: r, path: /r, upstream: "http://127.0.0.1:1", allowIps: [], rateLimit: { points: 5, duration: 1w } }',
        '  - { id: p, path: /p, upstream: "http://127.0.0.1:1", auth: [], rateLimit: { points: 5, duration: 60, by: client } }',
      ].join('\n'),
    )
    expect(problems).toEqual([
      'line 2: clients[0].rateLimit.points: must be >= 1',
      'line 4: routes[0].allowIps: must NOT have fewer than 1 items',
      'line 4: routes[0].rateLimit.duration: must be seconds, or a number with s, m, h or d (e.g. "15m")',
    ])
    const later = await problemsOf(
      [
        'clients:',
        `  - { id: a, secretHash: "${HASH}", allowIps: [10.0.0.0/8, 300.1.1.1] }`,
        'routes:',
        '  - { id: p, path: /p, upstream: "http://127.0.0.1:1", auth: [], rateLimit: { points: 5, duration: 60, by: client } }',
      ].join('\n'),
    )
    expect(later).toEqual([
      'line 2: clients[0].allowIps[1]: "300.1.1.1" is not an IP address or CIDR range',
      'line 4: routes[0].rateLimit.by: a public route has no client to count by; use ip or route',
    ])
  })

  it("defaults a route's limit to counting by client, or by ip on a public route", async () => {
    const config = await parseConfig(
      'routes:\n  - { id: a, path: /a, upstream: "http://127.0.0.1:1", rateLimit: { points: 5, duration: 1m } }\n  - { id: b, path: /b, upstream: "http://127.0.0.1:1", auth: [], rateLimit: { points: 5, duration: 60 } }',
      FILE,
      {},
    )
    expect(config.routes.map((r) => r.rateLimit)).toEqual([
      { points: 5, duration: 60, by: 'client' },
      { points: 5, duration: 60, by: 'ip' },
    ])
    expect(config.tokenEndpoint).toMatchObject({ rateLimit: { points: 10, duration: 60 }, failureLimit: { points: 10, duration: 60 } })
  })

  it('checks users: a hash or a plain password (with a warning), unique usernames', async () => {
    const config = await parseConfig('users: [{ username: alice, password: pw, scopes: [a] }]', FILE, {})
    expect(config.warnings).toEqual([expect.stringContaining('user "alice" has a plain "password"')])
    expect(config.users.get('alice')).toMatchObject({ username: 'alice', scopes: ['a'] })
    const problems = await problemsOf(
      [
        'users:',
        '  - { username: bob }',
        `  - { username: carol, passwordHash: "${HASH}", password: pw }`,
        `  - { username: dave, passwordHash: "$scrypt$nope" }`,
        `  - { username: erin, passwordHash: "$sha256$${'A'.repeat(22)}$${'B'.repeat(43)}" }`,
        'clients:',
        `  - { id: web, secretHash: "${HASH}", grants: [authorization_code], redirectUris: ["https://app.example/cb#frag"] }`,
        `  - { id: spa, type: public }`,
      ].join('\n'),
    )
    expect(problems).toEqual([
      'line 7: clients[0].redirectUris[0]: must not contain a fragment',
      'line 8: clients[1].redirectUris: authorization_code and implicit need at least one redirect URI',
      'line 2: users[0]: a user needs passwordHash (or password)',
      'line 3: users[1]: give passwordHash or password, not both',
      'line 4: users[2].passwordHash: not a $scrypt$ln=..,r=..,p=..$salt$key hash (make one with `gatehouse hash-secret`) nor a $sha256$salt$key one (`gatehouse hash-secret --generated`)',
      'line 5: users[3].passwordHash: a password needs a scrypt hash (`gatehouse hash-secret`); $sha256$ is only for generated client secrets',
    ])
  })

  it('refuses a YAML alias to a missing anchor, or an alias bomb, with a ConfigError', async () => {
    expect(await problemsOf('*missing')).toEqual([expect.stringMatching(/^the YAML cannot be read: /)])
    const bomb = [
      'a: &a [x, x, x, x, x, x, x, x, x, x]',
      ...'bcdefghij'.split('').map(
        (c, i) =>
          `${c}: &${c} [${Array(10)
            .fill('*' + String.fromCharCode(97 + i))
            .join(', ')}]`,
      ),
    ].join('\n')
    expect(await problemsOf(bomb)).toEqual([expect.stringMatching(/^the YAML cannot be read: /)])
  })
})
