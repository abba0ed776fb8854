import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { basic, fastHash, fetchToken, rawRequest, startGateway, startOrigin, type Gateway, type Origin } from '../helpers/index.js'

let gw: Gateway
let proxied: Gateway
let origin: Origin
let v4: string
let v6: string

beforeAll(async () => {
  origin = await startOrigin()
  const config = `
tokenEndpoint: { rateLimit: { points: 1000, duration: 60 } }
clients:
  - { id: v4-only, secretHash: "${await fastHash('s3cret')}", allowIps: [127.0.0.0/8] }
  - { id: v6-only, secretHash: "${await fastHash('s3cret')}", allowIps: ["::1"] }
  - { id: office, secretHash: "${await fastHash('s3cret')}", allowIps: [203.0.113.0/24] }
  - { id: anywhere, secretHash: "${await fastHash('s3cret')}" }
routes:
  - { id: v4-route, path: /v4, upstream: "${origin.url}", auth: [], allowIps: [127.0.0.1] }
  - { id: mapped, path: /mapped, upstream: "${origin.url}", auth: [], allowIps: ["::ffff:127.0.0.0/104"] }
  - { id: v6-route, path: /v6, upstream: "${origin.url}", auth: [], allowIps: ["::1/128"] }
  - { id: internal, path: /internal, upstream: "${origin.url}", auth: [basic, bearer], allowIps: [10.0.0.0/8, 203.0.113.0/24] }
  - { id: any, path: /any, upstream: "${origin.url}", auth: [basic, bearer] }
`
  // Listening on '::' takes IPv4 clients as ::ffff:127.0.0.1, the IPv4-mapped form to fold.
  gw = await startGateway(config, { host: '::' })
  proxied = await startGateway(`server: { trustedProxies: [127.0.0.1] }\n${config}`)
  v4 = `http://127.0.0.1:${gw.port}`
  v6 = `http://[::1]:${gw.port}`
})
afterAll(async () => {
  await gw?.close()
  await proxied?.close()
  await origin?.close()
})
beforeEach(() => {
  origin.received.length = 0
})

const denied = { error: 'access_denied', error_description: 'requests from this address are not allowed' }

describe('route allowIps', () => {
  it('lets an address in its ranges through and refuses others with 403', async () => {
    expect((await rawRequest(v4, '/v4/x')).status).toBe(200)
    const res = await rawRequest(v6, '/v4/x')
    expect(res.status).toBe(403)
    expect(res.json()).toEqual(denied)
    expect((await rawRequest(v6, '/v6/x')).status).toBe(200)
    expect((await rawRequest(v4, '/v6/x')).status).toBe(403)
    expect(origin.received).toHaveLength(2)
  })

  it('matches an IPv4 client against an IPv4-mapped IPv6 rule, and the other way round', async () => {
    expect((await rawRequest(v4, '/mapped/x')).status).toBe(200)
    expect((await rawRequest(v6, '/mapped/x')).status).toBe(403)
  })

  it('reports an IPv4 client as IPv4 upstream, not in its IPv4-mapped form', async () => {
    await rawRequest(v4, '/v4/x')
    await rawRequest(v6, '/v6/x')
    expect(origin.received.map((r) => r.headers['x-forwarded-for'])).toEqual(['127.0.0.1', '::1'])
  })

  it('refuses before any credential is checked', async () => {
    // A wrong secret would be 401; from a refused address the answer is 403 without looking at it.
    const res = await rawRequest(v4, '/internal/x', { headers: { authorization: basic('anywhere', 'wrong') } })
    expect(res.status).toBe(403)
    expect(res.json()).toEqual(denied)
  })

  it('believes X-Forwarded-For only from a trusted proxy', async () => {
    const viaProxy = (xff: string) =>
      rawRequest(proxied.url, '/internal/x', { headers: { authorization: basic('anywhere', 's3cret'), 'x-forwarded-for': xff } })
    expect((await viaProxy('203.0.113.7')).status).toBe(200)
    expect((await viaProxy('198.51.100.1')).status).toBe(403)
    // A client cannot smuggle an allowed address in front of its own: the rightmost untrusted hop counts.
    expect((await viaProxy('203.0.113.7, 198.51.100.1')).status).toBe(403)
    // Sent straight to a gateway that trusts no proxy, the header changes nothing.
    const direct = await rawRequest(v4, '/internal/x', { headers: { authorization: basic('anywhere', 's3cret'), 'x-forwarded-for': '203.0.113.7' } })
    expect(direct.status).toBe(403)
  })
})

describe('client allowIps', () => {
  it('applies on routes, to Basic and Bearer callers alike', async () => {
    expect((await rawRequest(v4, '/any/x', { headers: { authorization: basic('v4-only', 's3cret') } })).status).toBe(200)
    expect((await rawRequest(v6, '/any/x', { headers: { authorization: basic('v4-only', 's3cret') } })).status).toBe(403)
    const token = await fetchToken(v6, 'v6-only', 's3cret')
    expect((await rawRequest(v6, '/any/x', { headers: { authorization: `Bearer ${token}` } })).status).toBe(200)
    const elsewhere = await rawRequest(v4, '/any/x', { headers: { authorization: `Bearer ${token}` } })
    expect(elsewhere.status).toBe(403)
    expect(elsewhere.json()).toEqual(denied)
  })

  it("must allow as well as the route's list when both are set", async () => {
    // Route allows 203.0.113.0/24 and 10/8; client v4-only allows 127/8 only: nothing is in both.
    const res = await rawRequest(proxied.url, '/internal/x', { headers: { authorization: basic('v4-only', 's3cret'), 'x-forwarded-for': '203.0.113.7' } })
    expect(res.status).toBe(403)
    expect(
      (await rawRequest(proxied.url, '/internal/x', { headers: { authorization: basic('office', 's3cret'), 'x-forwarded-for': '203.0.113.7' } })).status,
    ).toBe(200)
  })

  it('applies at the token endpoint: a client gets tokens only from its own ranges', async () => {
    await expect(fetchToken(v4, 'v6-only', 's3cret')).rejects.toThrow(/403 .*access_denied/)
    await expect(fetchToken(v6, 'v6-only', 's3cret')).resolves.toEqual(expect.any(String))
  })
})
