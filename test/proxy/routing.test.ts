import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { fetchToken, fastHash, rawRequest, startGateway, startOrigin, writeKeyFile, type Gateway, type Origin } from '../helpers/index.js'

let gw: Gateway
let api: Origin
let site: Origin
let token: string

beforeAll(async () => {
  api = await startOrigin()
  site = await startOrigin()
  const key = await writeKeyFile()
  gw = await startGateway(`
signing: { keyFile: "${key.path}" }
clients:
  - { id: ops, secretHash: "${await fastHash('s3cret')}", scopes: [admin] }
routes:
  - { id: admin, path: /api/admin, upstream: "${api.url}", scopes: [admin] }
  - { id: orders, path: /api/orders, methods: [GET, POST], upstream: "${api.url}/base/", rewritePrefix: /v2/orders, auth: [] }
  - { id: flat, path: /flat, upstream: "${api.url}", rewritePrefix: /, auth: [] }
  - { id: site, path: /api, upstream: "${site.url}", auth: [] }
`)
  token = await fetchToken(gw.url, 'ops', 's3cret')
})
afterAll(async () => {
  await gw?.close()
  await api?.close()
  await site?.close()
})
beforeEach(() => {
  api.received.length = 0
  site.received.length = 0
})

describe('route matching', () => {
  it('matches a prefix at a segment boundary only', async () => {
    expect((await rawRequest(gw.url, '/api/orders/1')).status).toBe(200)
    expect((await rawRequest(gw.url, '/api/orders')).status).toBe(200)
    expect((await rawRequest(gw.url, '/api/ordersX')).status).toBe(200)
    expect(api.received.map((r) => r.url)).toEqual(['/base/v2/orders/1', '/base/v2/orders'])
    expect(site.received.map((r) => r.url)).toEqual(['/api/ordersX'])
  })

  it('rewrites the prefix, and forwards the raw query string unchanged', async () => {
    await rawRequest(gw.url, '/api/orders/1/items?a=%2F&b=..&c=x+y')
    await rawRequest(gw.url, '/flat/deep/er?q')
    expect(api.received.map((r) => r.url)).toEqual(['/base/v2/orders/1/items?a=%2F&b=..&c=x+y', '/deep/er?q'])
  })

  it('answers a method the route does not list with 405 and Allow, never a shorter prefix', async () => {
    const res = await rawRequest(gw.url, '/api/orders/1', { method: 'DELETE' })
    expect(res.status).toBe(405)
    expect(res.headers.allow).toBe('GET, HEAD, POST')
    expect(res.json()).toEqual({ error: 'method_not_allowed', error_description: 'this route does not accept this method' })
    expect(api.received).toHaveLength(0)
    expect(site.received).toHaveLength(0)
  })

  it('takes HEAD wherever GET is listed', async () => {
    expect((await rawRequest(gw.url, '/api/orders/1', { method: 'HEAD' })).status).toBe(200)
    expect(api.received.map((r) => [r.method, r.url])).toEqual([['HEAD', '/base/v2/orders/1']])
  })

  it('answers 404 not_found when no route matches', async () => {
    const res = await rawRequest(gw.url, '/nothing/here')
    expect(res.status).toBe(404)
    expect(res.json()).toEqual({ error: 'not_found', error_description: 'no route matches this request' })
  })

  it('streams request bodies upstream untouched, with or without a content type', async () => {
    const json = JSON.stringify({ sku: 'X-1', qty: 2 })
    expect((await rawRequest(gw.url, '/api/orders', { method: 'POST', headers: { 'content-type': 'application/json' }, body: json })).status).toBe(200)
    expect(
      (await rawRequest(gw.url, '/api/orders', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1&a=2' })).status,
    ).toBe(200)
    expect((await rawRequest(gw.url, '/api/orders', { method: 'POST', headers: { 'content-length': '5' }, body: 'hello' })).status).toBe(200)
    expect(api.received.map((r) => [r.body, r.headers['content-type']])).toEqual([
      [json, 'application/json'],
      ['a=1&a=2', 'application/x-www-form-urlencoded'],
      ['hello', undefined],
    ])
  })

  it('reuses upstream connections (keep-alive)', async () => {
    for (let i = 0; i < 5; i++) await rawRequest(gw.url, `/api/orders/${i}`)
    expect(new Set(api.received.map((r) => r.remotePort)).size).toBe(1)
  })
})

describe('path normalisation before matching', () => {
  // Each of these names /api/admin to a normalising upstream; matched as anything else, it would
  // reach the admin API through the public /api route without a token.
  const disguises = ['/api/%61dmin', '/api/./admin', '/api/x/../admin', '/api//admin', '/api/x/%2e%2e/admin', '/api/admin/']

  it.each(disguises)('matches %s as /api/admin, so it needs a token', async (path) => {
    const res = await rawRequest(gw.url, path)
    expect(res.status).toBe(401)
    expect(site.received).toHaveLength(0)
    expect(api.received).toHaveLength(0)
  })

  it('forwards the normalised path, not the raw one', async () => {
    const res = await rawRequest(gw.url, '/api/x/../%61dmin//users/./1', { headers: { authorization: `Bearer ${token}` } })
    expect(res.status).toBe(200)
    expect(api.received.map((r) => r.url)).toEqual(['/api/admin/users/1'])
  })

  it('refuses an encoded slash or backslash with 400 before it reaches any upstream', async () => {
    for (const path of ['/api%2Fadmin', '/api/x%2F..%2Fadmin', '/api%5Cadmin', '/api\\admin', '/api/admin%00']) {
      const res = await rawRequest(gw.url, path)
      expect(res.status, path).toBe(400)
      expect(res.json(), path).toMatchObject({ error: 'invalid_request' })
    }
    expect(site.received).toHaveLength(0)
    expect(api.received).toHaveLength(0)
  })

  it('answers URLs that fastify itself cannot route with 400 JSON, never a hang', async () => {
    // Regression: fastify rejects these before any onRequest hook, and the error path crashed.
    for (const path of ['/%', '/oauth/token%', '/.well-known/%zz', '/.well-known/jwks.json%']) {
      for (const method of ['GET', 'POST']) {
        const res = await rawRequest(gw.url, path, { method, timeoutMs: 2_000 })
        expect(res.status, `${method} ${path}`).toBe(400)
        expect(res.json(), `${method} ${path}`).toMatchObject({ error: 'invalid_request' })
      }
    }
  })

  it('refuses an absolute-form request target', async () => {
    const res = await rawRequest(gw.url, 'http://127.0.0.1:1/api/admin')
    expect(res.status).toBe(400)
    expect(site.received).toHaveLength(0)
  })
})
