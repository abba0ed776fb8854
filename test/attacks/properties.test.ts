// Properties, checked with fast-check over generated inputs: the path normaliser, the Basic
// parser, the token endpoint and the config loader, each against the rule it must never break.
import fc from 'fast-check'
import { stringify } from 'yaml'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/load.js'
import { ConfigError, GatehouseError } from '../../src/errors.js'
import { parseBasicCredentials } from '../../src/oauth/basic-credentials.js'
import { matchRoute } from '../../src/pipeline/match-route.js'
import { foldCase, normaliseRequestTarget, type RequestTarget } from '../../src/policy/normalise-path.js'
import { fastHash, rawRequest, startGateway, startOrigin, type Gateway, type Origin } from '../helpers/index.js'

// Pieces that paths are made of, chosen to collide: separators, dots, encodings, case, NUL.
const piece = fc.constantFrom(
  '/',
  '/',
  '.',
  '..',
  '%2e',
  '%2E',
  '%2f',
  '%2F',
  '%5c',
  '\\',
  '%25',
  '%252e',
  '%00',
  '%20',
  ' ',
  ';',
  '%3b',
  '~',
  '-',
  '_',
  'a',
  'A',
  'api',
  'API',
  'admin',
  'Admin',
  '%61',
  '%41',
  'dmin',
  'public',
  '%C3%A9',
  '%c0%ae',
  '%zz',
  '%',
  '#',
  '?',
  ':',
  '@',
  '+',
)
const rawPath = fc.array(piece, { maxLength: 14 }).map((parts) => '/' + parts.join(''))

const attempt = (url: string): RequestTarget | GatehouseError => {
  try {
    return normaliseRequestTarget(url)
  } catch (err) {
    expect(err).toBeInstanceOf(GatehouseError) // never anything but a refusal
    return err as GatehouseError
  }
}

describe('properties', () => {
  // Routes are looked up in buckets by their first segment (issue 10): for any routes and path,
  // the answer must be the one a scan of every route, longest prefix first, gives.
  it('route matching by first segment picks what a scan of every route picks', async () => {
    const segment = fc.constantFrom('a', 'A', 'api', 'b', 'v1', 'admin')
    const prefix = fc.array(segment, { maxLength: 3 }).map((parts) => '/' + parts.join('/'))
    const yaml = (prefixes: string[], methods: boolean[]) =>
      stringify({
        routes: prefixes.map((path, i) => ({ id: `r${i}`, path, upstream: 'http://127.0.0.1:9', auth: [], ...(methods[i] ? { methods: ['POST'] } : {}) })),
      })
    const scan = (routes: readonly import('../../src/config/compile.js').RouteRule[], path: string, method: string) => {
      const folded = foldCase(path)
      const matching = routes.filter((r) => r.matchPath === '/' || folded === r.matchPath || folded.startsWith(r.matchPath + '/'))
      const longest = matching[0]?.matchPath
      return matching.find((r) => r.matchPath === longest && (r.methods === undefined || r.methods.has(method)))?.id ?? (longest === undefined ? 'none' : '405')
    }
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(prefix, { minLength: 1, maxLength: 8, selector: (p) => p.toLowerCase() }),
        fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
        prefix,
        fc.constantFrom('GET', 'POST'),
        async (prefixes, methods, path, method) => {
          const { routes } = await parseConfig(yaml(prefixes, methods), 'properties.yaml', {})
          let got: string
          try {
            got = matchRoute(routes, path, method).id
          } catch (err) {
            got = (err as GatehouseError).status === 405 ? '405' : 'none'
          }
          expect(got).toBe(scan(routes, path, method))
        },
      ),
      { numRuns: 300 },
    )
  })

  it('the normaliser is idempotent, and its output has no empty, "." or ".." segments', () => {
    fc.assert(
      fc.property(rawPath, (url) => {
        const once = attempt(url)
        if (once instanceof GatehouseError) return
        const twice = normaliseRequestTarget(once.encodedPath)
        expect(twice.path).toBe(once.path)
        expect(twice.encodedPath).toBe(once.encodedPath)
        expect(once.path.slice(1).split('/').slice(0, -1)).not.toContain('')
        expect(once.path.split('/')).not.toContain('.')
        expect(once.path.split('/')).not.toContain('..')
      }),
      { numRuns: 3000 },
    )
  })

  it('the Basic parser returns what was encoded, and refuses anything else with our error only', () => {
    const formEncode = (s: string) => new URLSearchParams({ v: s }).toString().slice(2)
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), (id, secret) => {
        const header = 'Basic ' + Buffer.from(`${formEncode(id)}:${formEncode(secret)}`).toString('base64')
        const parsed = parseBasicCredentials(header)
        expect({ id: parsed.id, secret: parsed.secret }).toEqual({ id, secret })
      }),
      { numRuns: 1000 },
    )
    fc.assert(
      fc.property(fc.string(), (text) => {
        try {
          const parsed = parseBasicCredentials(text)
          expect(typeof parsed.id).toBe('string')
        } catch (err) {
          expect(err).toBeInstanceOf(GatehouseError)
        }
      }),
      { numRuns: 2000 },
    )
  })

  it('the config loader refuses what it cannot use with a ConfigError, never another error', async () => {
    const keys = fc.constantFrom(
      'server',
      'routes',
      'clients',
      'users',
      'tokens',
      'store',
      'issuer',
      'signing',
      'port',
      'path',
      'id',
      'upstream',
      'auth',
      'allowIps',
      'rateLimit',
      'x',
    )
    const value = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        fc.string(),
        fc.integer(),
        fc.boolean(),
        fc.constant(null),
        fc.array(tie('node'), { maxLength: 3 }),
        fc.dictionary(keys, tie('node'), { maxKeys: 4 }),
      ),
    })).node
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string(),
          value.map((v) => stringify(v)),
        ),
        async (text) => {
          try {
            await parseConfig(text, '/fuzz.yaml', {})
          } catch (err) {
            expect(err).toBeInstanceOf(ConfigError)
          }
        },
      ),
      { numRuns: 400 },
    )
  })
})

describe('properties over HTTP', () => {
  let gw: Gateway
  let admin: Origin
  let site: Origin

  beforeAll(async () => {
    admin = await startOrigin()
    site = await startOrigin()
    gw = await startGateway(`
tokenEndpoint: { rateLimit: { points: 100000, duration: 60 }, failureLimit: { points: 100000, duration: 60 } }
clients: [{ id: web, secretHash: "${await fastHash('s3cret')}", grants: [client_credentials, refresh_token], scopes: [a] }]
routes:
  - { id: admin, path: /api/admin, upstream: "${admin.url}" }
  - { id: site, path: /api, upstream: "${site.url}", auth: [] }
`)
  })
  afterAll(async () => {
    await gw?.close()
    await admin?.close()
    await site?.close()
  })

  it('a path that names /api/admin, by any reading, is never forwarded without credentials', async () => {
    await fc.assert(
      // (a raw space cannot even be sent by Node's client; Node's server refuses it anyway)
      fc.asyncProperty(
        rawPath.map((p) => '/api' + p.replace(/ /g, '%20')),
        async (path) => {
          const before = site.received.length
          const res = await rawRequest(gw.url, path)
          expect(admin.received).toEqual([])
          expect(res.status).toBeLessThan(500)
          if (res.status === 200) {
            // What the public upstream got, read the way a lenient upstream would, is not admin.
            const got = site.received[before]!.url.split('?')[0]!
            const decode = (s: string) => s.replace(/%[0-9a-f]{2}/gi, (m) => String.fromCharCode(parseInt(m.slice(1), 16)))
            const lenient = foldCase(
              decode(decode(got))
                .replace(/\\/g, '/')
                .replace(/;[^/]*/g, ''),
            )
            const resolved = new URL(
              lenient.replace(/\/+/g, '/').replace(/[. ]+(?=\/|$)/g, (m) => (/^\.+$/.test(m) ? m : '')),
              'http://x',
            ).pathname
            expect(resolved === '/api/admin' || resolved.startsWith('/api/admin/')).toBe(false)
          }
        },
      ),
      { numRuns: 400 },
    )
  })

  it('no input makes the token endpoint answer 500', async () => {
    const param = fc.constantFrom(
      'grant_type',
      'client_id',
      'client_secret',
      'scope',
      'code',
      'refresh_token',
      'username',
      'password',
      'code_verifier',
      'redirect_uri',
      '__proto__',
      'x',
    )
    const paramValue = fc.oneof(fc.constantFrom('client_credentials', 'password', 'refresh_token', 'authorization_code', 'web', 's3cret', 'a', ''), fc.string())
    const body = fc.oneof(
      fc.string(),
      fc.array(fc.tuple(param, paramValue), { maxLength: 8 }).map((pairs) => new URLSearchParams(pairs).toString()),
    )
    const printable = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABC0123456789+/=:%- '.split('')) })
    const authorization = fc.option(
      fc.oneof(
        printable.map((s) => `Basic ${s}`),
        printable.map((s) => `Bearer ${s}`),
        fc.constant('Basic d2ViOnMzY3JldA=='),
        printable,
      ),
    )
    const contentType = fc.constantFrom(
      'application/x-www-form-urlencoded',
      'application/x-www-form-urlencoded; charset=utf-8',
      'application/json',
      'text/plain',
      undefined,
    )
    await fc.assert(
      fc.asyncProperty(body, authorization, contentType, async (payload, auth, type) => {
        const headers: Record<string, string> = {}
        if (auth) headers.authorization = auth.trim() || 'x'
        if (type) headers['content-type'] = type
        const res = await rawRequest(gw.url, '/oauth/token', { method: 'POST', headers, body: payload })
        expect(res.status).toBeLessThan(500)
        expect(res.json()).toHaveProperty(res.status === 200 ? 'access_token' : 'error')
      }),
      { numRuns: 400 },
    )
  })
})
