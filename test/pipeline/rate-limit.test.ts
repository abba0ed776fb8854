import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { basic, fastHash, fetchToken, rawRequest, startGateway, startOrigin, type Gateway, type Origin, type RawResponse } from '../helpers/index.js'

let gw: Gateway
let origin: Origin

beforeAll(async () => {
  origin = await startOrigin()
  gw = await startGateway(`
server: { trustedProxies: [127.0.0.1] }
tokenEndpoint:
  rateLimit: { points: 3, duration: 60 }
  failureLimit: { points: 100, duration: 60 }
clients:
  - { id: a, secretHash: "${await fastHash('s3cret')}" }
  - { id: b, secretHash: "${await fastHash('s3cret')}" }
  - { id: capped, secretHash: "${await fastHash('s3cret')}", rateLimit: { points: 2, duration: 1m } }
  - { id: tokens, secretHash: "${await fastHash('s3cret')}" }
routes:
  - { id: by-ip, path: /by-ip, upstream: "${origin.url}", auth: [], rateLimit: { points: 2, duration: 60, by: ip } }
  - { id: by-route, path: /by-route, upstream: "${origin.url}", auth: [], rateLimit: { points: 2, duration: 60, by: route } }
  - { id: by-client, path: /by-client, upstream: "${origin.url}", auth: [basic], rateLimit: { points: 2, duration: 60 } }
  - { id: roomy, path: /roomy, upstream: "${origin.url}", auth: [basic], rateLimit: { points: 50, duration: 60 } }
  - { id: unlimited, path: /unlimited, upstream: "${origin.url}", auth: [basic] }
`)
})
afterAll(async () => {
  await gw?.close()
  await origin?.close()
})

const from = (ip: string, path: string, authorization?: string) =>
  rawRequest(gw.url, path, { headers: { 'x-forwarded-for': ip, ...(authorization ? { authorization } : {}) } })
const limitHeaders = (res: RawResponse) => [res.headers['ratelimit-limit'], res.headers['ratelimit-remaining']]

function expectRateLimited(res: RawResponse) {
  expect(res.status).toBe(429)
  expect(res.json()).toEqual({ error: 'rate_limited', error_description: 'too many requests' })
  const retryAfter = Number(res.headers['retry-after'])
  expect(retryAfter).toBeGreaterThan(0)
  expect(retryAfter).toBeLessThanOrEqual(60)
  expect(res.headers['ratelimit-remaining']).toBe('0')
}

describe('route rate limits', () => {
  it('by ip: each address has its own budget, with RateLimit headers on every response', async () => {
    const first = await from('198.51.100.1', '/by-ip/x')
    const second = await from('198.51.100.1', '/by-ip/x')
    expect([first.status, second.status]).toEqual([200, 200])
    expect(limitHeaders(first)).toEqual(['2', '1'])
    expect(limitHeaders(second)).toEqual(['2', '0'])
    expect(Number(first.headers['ratelimit-reset'])).toBeGreaterThan(0)
    expectRateLimited(await from('198.51.100.1', '/by-ip/x'))
    expect((await from('198.51.100.2', '/by-ip/x')).status).toBe(200)
  })

  it('by ip: folds an IPv4-mapped address to the same key as its IPv4 form', async () => {
    expect((await from('198.51.100.9', '/by-ip/x')).status).toBe(200)
    expect((await from('::ffff:198.51.100.9', '/by-ip/x')).status).toBe(200)
    expectRateLimited(await from('198.51.100.9', '/by-ip/x'))
  })

  it('by route: one budget for everyone', async () => {
    expect((await from('198.51.100.3', '/by-route/x')).status).toBe(200)
    expect((await from('198.51.100.4', '/by-route/x')).status).toBe(200)
    expectRateLimited(await from('198.51.100.5', '/by-route/x'))
  })

  it('by client: each client has its own budget, whatever its address', async () => {
    const a = basic('a', 's3cret')
    expect((await from('198.51.100.6', '/by-client/x', a)).status).toBe(200)
    expect((await from('198.51.100.7', '/by-client/x', a)).status).toBe(200)
    expectRateLimited(await from('198.51.100.8', '/by-client/x', a))
    expect((await from('198.51.100.6', '/by-client/x', basic('b', 's3cret'))).status).toBe(200)
  })

  it('by client: does not count requests that fail authentication', async () => {
    const wrong = await from('198.51.100.10', '/by-client/x', basic('b', 'wrong'))
    expect(wrong.status).toBe(401)
    expect(wrong.headers['ratelimit-limit']).toBeUndefined()
  })

  it('never lets a refused request reach the upstream', async () => {
    origin.received.length = 0
    for (let i = 0; i < 3; i++) await from('198.51.100.11', '/by-route/y')
    expect(origin.received).toHaveLength(0)
  })
})

describe('client rate limits', () => {
  it('count a client across all routes, and the tightest limit is the one reported', async () => {
    const capped = basic('capped', 's3cret')
    const first = await from('198.51.100.20', '/roomy/x', capped)
    expect(first.status).toBe(200)
    expect(limitHeaders(first)).toEqual(['2', '1']) // the client's 2, not the route's 50
    expect((await from('198.51.100.20', '/unlimited/x', capped)).status).toBe(200)
    expectRateLimited(await from('198.51.100.20', '/roomy/x', capped))
    expectRateLimited(await from('198.51.100.20', '/unlimited/x', capped))
  })
})

describe('token endpoint rate limits', () => {
  it('limit token requests per authenticated client; wrong secrets do not spend its budget', async () => {
    const statuses: number[] = []
    for (const secret of ['s3cret', 'wrong', 'wrong', 's3cret', 's3cret', 's3cret']) {
      const res = await rawRequest(gw.url, '/oauth/token', {
        method: 'POST',
        headers: { authorization: basic('tokens', secret), 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials',
      })
      statuses.push(res.status)
      if (res.status === 429) expect(Number(res.headers['retry-after'])).toBeGreaterThan(0)
    }
    expect(statuses).toEqual([200, 401, 401, 200, 200, 429])
    await expect(fetchToken(gw.url, 'a', 's3cret')).resolves.toEqual(expect.any(String))
  })
})
