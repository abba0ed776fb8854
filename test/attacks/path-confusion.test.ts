// Attack family 1: path confusion. A rule protects /api/admin; /api is public. Every request below
// names the admin API to some upstream's reading; none may reach an upstream without a token.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { fastHash, fetchToken, rawRequest, startGateway, startOrigin, type Gateway, type Origin } from '../helpers/index.js'

let gw: Gateway
let admin: Origin
let site: Origin
let token: string

beforeAll(async () => {
  admin = await startOrigin()
  site = await startOrigin()
  gw = await startGateway(`
clients: [{ id: ops, secretHash: "${await fastHash('s3cret')}", scopes: [admin] }]
routes:
  - { id: admin, path: /api/admin, upstream: "${admin.url}", scopes: [admin] }
  - { id: site, path: /api, upstream: "${site.url}", auth: [] }
`)
  token = await fetchToken(gw.url, 'ops', 's3cret')
})
afterAll(async () => {
  await gw?.close()
  await admin?.close()
  await site?.close()
})
beforeEach(() => {
  admin.received.length = 0
  site.received.length = 0
})

const nothingForwarded = () => {
  expect(admin.received).toEqual([])
  expect(site.received).toEqual([])
}

describe('path confusion', () => {
  it.each([
    ['/api/Admin', 'case: Express (by default), IIS and Windows match paths ignoring case'],
    ['/API/ADMIN/users', 'case, in every segment'],
    ['/api/%61dmin', 'percent-encoded letter (@fastify/middie GHSA-cxrg-g7r8-w69p, @fastify/express CVE-2026-22037)'],
    ['/api/%41dmin', 'percent-encoded capital letter'],
    ['/api/./admin', 'dot segment'],
    ['/api/x/../admin', 'dot-dot segment'],
    ['/api/x/%2e%2e/admin', 'encoded dot-dot segment (Oathkeeper GHSA-p224-6x5r-fjpm)'],
    ['/api//admin', 'empty segment'],
    ['/api/admin/', 'trailing slash'],
  ])('%s is matched as /api/admin and needs a token (%s)', async (path) => {
    const res = await rawRequest(gw.url, path)
    expect(res.status).toBe(401)
    nothingForwarded()
  })

  it.each([
    ['/api%2fadmin', 'encoded slash: an upstream that decodes it sees /api/admin (@fastify/static %2F guard bypass)'],
    ['/api/x%2F..%2Fadmin', 'encoded slash and dot-dot (fastify-http-proxy CVE-2021-21322)'],
    ['/api%5cadmin', 'encoded backslash: IIS and Windows read it as a separator'],
    ['/api\\admin', 'backslash'],
    ['/api/admin;x=1', 'path parameters: Tomcat, Jetty and Spring strip ;x=1'],
    ['/api/admin%3bx=1', 'encoded path parameters'],
    ['/api;/admin', 'path parameter on a parent segment'],
    ['/api/admin%00', 'NUL: C-string upstreams stop reading there'],
    ['/api/admin%00.json', 'NUL before an extension'],
    ['/api/admin.', 'trailing dot: IIS and Windows drop it'],
    ['/api/admin%20', 'trailing space: IIS and Windows drop it'],
    ['/api/%252e%252e/admin', 'double encoding: an upstream that decodes twice sees ..'],
    ['/api/%c0%ae%c0%ae/admin', 'overlong UTF-8 for "."'],
  ])('%s is refused with 400 (%s)', async (path) => {
    const res = await rawRequest(gw.url, path)
    expect(res.status).toBe(400)
    expect(res.json()).toMatchObject({ error: 'invalid_request' })
    nothingForwarded()
  })

  it('refuses an absolute-form request target naming another host and path', async () => {
    // GET http://internal/api/admin: a gateway that routed on the Host or path in it could be steered.
    const res = await rawRequest(gw.url, 'http://127.0.0.1:1/api/admin')
    expect(res.status).toBe(400)
    nothingForwarded()
  })

  it('matches on the path only: a protected path in the query or after # changes nothing', async () => {
    const res = await rawRequest(gw.url, '/api/public?next=/api/admin&x=../admin')
    expect(res.status).toBe(200)
    expect(site.received.map((r) => r.url)).toEqual(['/api/public?next=/api/admin&x=../admin'])
    const fragment = await rawRequest(gw.url, '/api/public#/../admin')
    expect(fragment.status).toBe(400)
    expect(admin.received).toEqual([])
  })

  it('forwards exactly the path it matched, normalised, to the route it matched', async () => {
    const res = await rawRequest(gw.url, '/api/x/../%61dmin//users/./7', { headers: { authorization: `Bearer ${token}` } })
    expect(res.status).toBe(200)
    expect(admin.received.map((r) => r.url)).toEqual(['/api/admin/users/7'])
    expect(site.received).toEqual([])
  })

  it('keeps the case the client sent when forwarding (the upstream decides what it means)', async () => {
    await rawRequest(gw.url, '/api/ADMIN/Users', { headers: { authorization: `Bearer ${token}` } })
    expect(admin.received.map((r) => r.url)).toEqual(['/api/ADMIN/Users'])
  })
})
