// Attack family 9: HTTP verb tampering. A protected route that lists some methods, under a public
// route with a shorter prefix to the same upstream: a method the protected route does not list
// (HEAD above all, which Express, Rails and Django answer with the GET handler) used to fall
// through to the public route and reach the upstream as nobody (RFC 9110 §9.3.2; OWASP WSTG
// "Testing for HTTP Verb Tampering"; the same shape as Spring Security CVE-2016-5007's method
// mismatch and Apache's <Limit GET POST> bypasses).
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { captureLogs, fastHash, fetchToken, rawRequest, startGateway, startOrigin, type CapturedLogs, type Gateway, type Origin } from '../helpers/index.js'

let gw: Gateway
let origin: Origin
let logs: CapturedLogs
let token: string

beforeAll(async () => {
  origin = await startOrigin()
  logs = captureLogs()
  gw = await startGateway(
    `
clients: [{ id: ops, secretHash: "${await fastHash('s3cret')}", scopes: [admin] }]
routes:
  - { id: admin, path: /api/admin, methods: [GET, POST], upstream: "${origin.url}", scopes: [admin] }
  - { id: items-read, path: /api/items, methods: [GET], upstream: "${origin.url}", auth: [] }
  - { id: items-write, path: /api/items, methods: [POST, PUT], upstream: "${origin.url}", scopes: [admin] }
  - { id: public, path: /api, upstream: "${origin.url}", auth: [] }
`,
    { logger: logs.logger },
  )
  token = await fetchToken(gw.url, 'ops', 's3cret')
})
afterAll(async () => {
  await gw?.close()
  await origin?.close()
})
beforeEach(() => {
  origin.received.length = 0
})

describe('verb tampering', () => {
  it('needs a token for HEAD where the route lists GET, and never falls through', async () => {
    const res = await rawRequest(gw.url, '/api/admin/report', { method: 'HEAD' })
    expect(res.status).toBe(401)
    expect(res.headers['www-authenticate']).toMatch(/^Bearer/)
    expect(origin.received).toHaveLength(0)
    const ok = await rawRequest(gw.url, '/api/admin/report', { method: 'HEAD', headers: { authorization: `Bearer ${token}` } })
    expect(ok.status).toBe(200)
    expect(origin.received.map((r) => [r.method, r.headers['x-auth-client-id']])).toEqual([['HEAD', 'ops']])
  })

  it.each(['DELETE', 'PUT', 'PATCH', 'OPTIONS'])('answers %s inside a protected prefix with 405 and Allow, not the public route', async (method) => {
    const res = await rawRequest(gw.url, '/api/admin/report', { method })
    expect(res.status).toBe(405)
    expect(res.headers.allow).toBe('GET, HEAD, POST')
    expect(res.json()).toMatchObject({ error: 'method_not_allowed' })
    expect(origin.received).toHaveLength(0)
  })

  it('keeps routes of one prefix with different methods apart, and lists all of their methods', async () => {
    expect((await rawRequest(gw.url, '/api/items/1')).status).toBe(200) // public reader
    expect((await rawRequest(gw.url, '/api/items/1', { method: 'HEAD' })).status).toBe(200)
    expect((await rawRequest(gw.url, '/api/items/1', { method: 'POST' })).status).toBe(401) // protected writer
    expect((await rawRequest(gw.url, '/api/items/1', { method: 'POST', headers: { authorization: `Bearer ${token}` } })).status).toBe(200)
    const res = await rawRequest(gw.url, '/api/items/1', { method: 'DELETE' })
    expect(res.status).toBe(405)
    expect(res.headers.allow).toBe('GET, HEAD, POST, PUT')
    expect(origin.received.map((r) => r.method)).toEqual(['GET', 'HEAD', 'POST'])
  })

  it('still serves other paths from the shorter prefix with any method', async () => {
    expect((await rawRequest(gw.url, '/api/other', { method: 'DELETE' })).status).toBe(200)
    expect(origin.received.map((r) => [r.method, r.url])).toEqual([['DELETE', '/api/other']])
  })

  it('logs a refusal with the route it was refused on', async () => {
    await rawRequest(gw.url, '/api/admin/x', { headers: { authorization: 'Bearer nope' } })
    const line = logs.lines.findLast((l) => l.msg === 'request completed')
    expect(line).toMatchObject({ status: 401, route: 'admin', reason: expect.stringMatching(/^bearer_malformed|token_/) })
  })
})

// Found by an outside review: behind a public catch-all route, the authorization server's paths in
// another spelling or with another method were proxied. `POST /OAUTH/TOKEN` would hand a client
// secret to the upstream; `OPTIONS /oauth/token` let the upstream answer for the gateway.
describe('the authorization server paths behind a catch-all route', () => {
  let open: Gateway
  beforeAll(async () => {
    open = await startGateway(`
tokenEndpoint: { paths: [/passport/token] }
routes: [{ id: everything, path: /, upstream: "${origin.url}", auth: [] }]
`)
  })
  afterAll(() => open?.close())

  it.each([
    ['POST', '/OAUTH/TOKEN', 404],
    ['POST', '/oauth//token', 404],
    ['POST', '/oauth/token/', 404],
    ['POST', '/oauth/%74oken', 401], // fastify decodes it to /oauth/token: the token endpoint answers
    ['POST', '/Passport/Token/refresh', 404],
    ['OPTIONS', '/oauth/token', 204], // answered by the gateway: what it takes there (Allow), and CORS
    ['OPTIONS', '/passport/token', 204],
    ['GET', '/oauth/revoke', 405],
    ['DELETE', '/oauth/introspect', 405],
    ['PUT', '/.well-known/jwks.json', 405],
    ['GET', '/.WELL-KNOWN/oauth-authorization-server', 404],
    ['PATCH', '/oauth/authorize', 405],
  ])('never proxies %s %s', async (method, path, status) => {
    const form =
      method === 'POST'
        ? { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials&client_id=x&client_secret=s3cret' }
        : {}
    const res = await rawRequest(open.url, path, { method, ...form })
    expect(res.status).toBe(status)
    if (status === 405 || status === 204) expect(res.headers.allow).toBeTruthy()
    expect(origin.received).toHaveLength(0)
  })

  it('still proxies everything else', async () => {
    expect((await rawRequest(open.url, '/oauth/other', { method: 'POST', body: 'x' })).status).toBe(200)
    expect(origin.received).toHaveLength(1)
  })
})
