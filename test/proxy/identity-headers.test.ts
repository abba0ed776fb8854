import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { fastHash, fetchToken, rawRequest, startGateway, startOrigin, type Gateway, type Origin } from '../helpers/index.js'

let gw: Gateway
let trusting: Gateway
let origin: Origin
let token: string

beforeAll(async () => {
  origin = await startOrigin()
  const routes = `
clients:
  - { id: reporting, secretHash: "${await fastHash('s3cret')}", scopes: [orders:read], group: acme }
routes:
  - { id: orders, path: /api/orders, upstream: "${origin.url}" }
  - { id: passthrough, path: /api/legacy, upstream: "${origin.url}", forwardAuthorization: true }
  - { id: public, path: /public, upstream: "${origin.url}", auth: [] }
`
  gw = await startGateway(routes)
  trusting = await startGateway(`server: { trustedProxies: [127.0.0.1/32, 10.0.0.0/8] }\n${routes}`)
  token = await fetchToken(gw.url, 'reporting', 's3cret')
})
afterAll(async () => {
  await gw?.close()
  await trusting?.close()
  await origin?.close()
})
beforeEach(() => {
  origin.received.length = 0
})

const seen = () => origin.received.at(-1)!.headers

describe('identity headers', () => {
  // Spoofing: a client sends identity headers of its own, in the spellings that upstreams fold
  // into the real one (WSGI and PHP turn x_auth_subject and X.Auth.Subject into HTTP_X_AUTH_SUBJECT).
  const spoofed = {
    'X-Auth-Subject': 'admin',
    'x-auth-CLIENT-id': 'admin-console',
    'X-Auth-Scope': 'everything',
    'X-Auth-Method': 'magic',
    'X-Auth-Group': 'root',
    'X-Auth-Roles': 'superuser',
    x_auth_subject: 'admin',
    'X.Auth.Scope': 'everything',
    'x-auth_group': 'root',
  }

  it("replaces client-sent X-Auth-* with the caller's real identity", async () => {
    const res = await rawRequest(gw.url, '/api/orders', { headers: { ...spoofed, authorization: `Bearer ${token}` } })
    expect(res.status).toBe(200)
    const headers = seen()
    const identity = Object.fromEntries(Object.entries(headers).filter(([name]) => /^x[-_.]auth[-_.]/.test(name)))
    expect(identity).toEqual({
      'x-auth-subject': 'reporting',
      'x-auth-client-id': 'reporting',
      'x-auth-scope': 'orders:read',
      'x-auth-method': 'bearer',
      'x-auth-group': 'acme',
    })
  })

  it('sends each identity header exactly once, even when the client repeated it', async () => {
    await rawRequest(gw.url, '/api/orders', { headers: { 'x-auth-subject': ['a', 'b'], authorization: `Bearer ${token}` } })
    const raw = origin.received.at(-1)!.rawHeaders
    expect(raw.filter((_, i) => i % 2 === 0 && raw[i]!.toLowerCase() === 'x-auth-subject')).toHaveLength(1)
  })

  it('strips every X-Auth-* on a public route and sets none', async () => {
    await rawRequest(gw.url, '/public/page', { headers: spoofed })
    expect(Object.keys(seen()).filter((name) => /^x[-_.]auth[-_.]/i.test(name))).toEqual([])
  })

  it('cannot be removed by naming it in Connection (oauth2-proxy CVE-2025-64484, Traefik CVE-2024-45410)', async () => {
    await rawRequest(gw.url, '/api/orders', {
      headers: { authorization: `Bearer ${token}`, connection: 'keep-alive, X-Auth-Subject, x-auth-client-id, X-Forwarded-For' },
    })
    expect(seen()).toMatchObject({ 'x-auth-subject': 'reporting', 'x-auth-client-id': 'reporting', 'x-forwarded-for': '127.0.0.1' })
  })

  it('does not forward Authorization unless the route opts in', async () => {
    await rawRequest(gw.url, '/api/orders', { headers: { authorization: `Bearer ${token}` } })
    expect(seen()).not.toHaveProperty('authorization')
    await rawRequest(gw.url, '/api/legacy', { headers: { authorization: `Bearer ${token}` } })
    expect(seen().authorization).toBe(`Bearer ${token}`)
  })

  it('drops headers that make upstreams serve another path or method', async () => {
    await rawRequest(gw.url, '/public/page', {
      headers: { 'X-Original-URL': '/admin', 'X-Rewrite-URL': '/admin', 'X-HTTP-Method-Override': 'DELETE', 'X-Method-Override': 'DELETE' },
    })
    expect(Object.keys(seen()).filter((n) => /original-url|rewrite-url|method-override/.test(n))).toEqual([])
  })

  it('passes hop-by-hop request headers on to no one, and still answers', async () => {
    const res = await rawRequest(gw.url, '/public/page', { headers: { 'keep-alive': 'timeout=5', te: 'trailers', 'proxy-authorization': 'Basic eDp5' } })
    expect(res.status).toBe(200)
    expect(seen()).not.toHaveProperty('keep-alive')
    expect(seen()).not.toHaveProperty('proxy-authorization')
  })
})

describe('X-Forwarded-*', () => {
  const claims = {
    'x-forwarded-for': '203.0.113.9',
    'x-forwarded-proto': 'https',
    'x-forwarded-host': 'evil.example',
    forwarded: 'for=203.0.113.9',
    'x-real-ip': '203.0.113.9',
  }

  it('ignores what an untrusted peer claims and reports the socket address', async () => {
    await rawRequest(gw.url, '/public/page', { headers: claims })
    expect(seen()).toMatchObject({ 'x-forwarded-for': '127.0.0.1', 'x-forwarded-proto': 'http', 'x-forwarded-host': `127.0.0.1:${gw.port}` })
    expect(seen()).not.toHaveProperty('forwarded')
    expect(seen()).not.toHaveProperty('x-real-ip')
  })

  it('walks X-Forwarded-For from the right through trusted proxies only', async () => {
    await rawRequest(trusting.url, '/public/page', {
      headers: { 'x-forwarded-for': '198.51.100.7, 203.0.113.9, 10.1.2.3', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.example.com' },
    })
    // 127.0.0.1 (peer) and 10.1.2.3 are trusted; 203.0.113.9 is the client; 198.51.100.7 is its claim.
    expect(seen()).toMatchObject({ 'x-forwarded-for': '203.0.113.9, 10.1.2.3, 127.0.0.1', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.example.com' })
  })
})
