// Attack family 7: faults. Redis stopped or stalled, upstreams down, slow or flapping: the
// documented status every time, within a bounded time, never a hang, never a stack trace or an
// upstream address in a body; single-use state that cannot be recorded is refused, not honoured.
import { createHash } from 'node:crypto'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  basic,
  browserLogin,
  fastHash,
  fetchToken,
  freePort,
  rawRequest,
  startGateway,
  startOrigin,
  type Gateway,
  type Origin,
  type RawResponse,
  untilStoresReady,
} from '../helpers/index.js'
import { redisAvailable, startRedis, type RedisServer } from '../helpers/redis.js'

const ownRedis = redisAvailable(true)
const CB = 'http://app.example/cb'
let redis: RedisServer
let origin: Origin
const bodies: string[] = []

beforeAll(async () => {
  origin = await startOrigin()
  if (ownRedis) redis = await startRedis()
})
afterAll(async () => {
  await origin?.close()
  await redis?.close()
  // Whatever went wrong, no answer body may show internals.
  for (const body of bodies) {
    expect(body).not.toMatch(/\n\s+at |ECONNREFUSED|127\.0\.0\.1:\d+|redis:\/\/|Error:/)
  }
})
beforeEach(async () => {
  if (!ownRedis) return
  await redis.start()
  await redis.flush()
})

const keep = (res: RawResponse) => {
  bodies.push(res.text)
  return res
}
const timed = async (fn: () => Promise<RawResponse>) => {
  const started = Date.now()
  const res = keep(await fn())
  return { res, ms: Date.now() - started }
}
const untilReady = async (gw: Gateway) => {
  await untilStoresReady(gw)
  expect(gw.gateway.store.ready).toBe(true)
}

async function gatewayOnRedis(onRedisError: 'insurance' | 'deny') {
  const gw = await startGateway(`
store: { redis: "${redis.url}", onRedisError: ${onRedisError} }
tokenEndpoint: { rateLimit: { points: 1000, duration: 60 }, failureLimit: { points: 1000, duration: 60 } }
clients:
  - { id: web, secretHash: "${await fastHash('s3cret')}", grants: [client_credentials, authorization_code, refresh_token, password], scopes: [orders:read], redirectUris: ["${CB}"] }
users: [{ username: alice, passwordHash: "${await fastHash('alice-pw')}", scopes: [orders:read] }]
routes:
  - { id: orders, path: /api/orders, upstream: "${origin.url}", rateLimit: { points: 1000, duration: 60 } }
  - { id: open, path: /open, upstream: "${origin.url}", auth: [], rateLimit: { points: 1000, duration: 60, by: route } }
`)
  await untilReady(gw)
  return gw
}
const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString()
const token = (gw: Gateway, fields: Record<string, string>) =>
  rawRequest(gw.url, '/oauth/token', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('web', 's3cret') },
    body: form(fields),
  })

describe.skipIf(!ownRedis)('Redis faults', () => {
  it('refuses to redeem a code or rotate a refresh token while Redis is down (503, not honoured)', async () => {
    const gw = await gatewayOnRedis('insurance')
    try {
      const verifier = 'v'.repeat(43)
      const challenge = createHash('sha256').update(verifier).digest('base64url')
      const { location } = await browserLogin(
        `${gw.url}/oauth/authorize?${form({ response_type: 'code', client_id: 'web', redirect_uri: CB, state: 's', code_challenge: challenge, code_challenge_method: 'S256' })}`,
      )
      const code = new URL(location!).searchParams.get('code')!
      const { refresh_token } = (await token(gw, { grant_type: 'password', username: 'alice', password: 'alice-pw' })).json<{ refresh_token: string }>()

      await redis.stop()
      for (const res of [
        keep(await token(gw, { grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: verifier })),
        keep(await token(gw, { grant_type: 'refresh_token', refresh_token })),
        keep(await token(gw, { grant_type: 'password', username: 'alice', password: 'alice-pw' })),
      ]) {
        expect(res.status).toBe(503)
        expect(res.headers['retry-after']).toBe('5') // every 503 says when to come back
        expect(res.json()).toEqual({ error: 'service_unavailable', error_description: 'the token store is unavailable' })
      }
      // Grants that need no state keep working, and so do routes under the insurance policy.
      const access = await fetchToken(gw.url, 'web', 's3cret')
      expect(keep(await rawRequest(gw.url, '/api/orders', { headers: { authorization: `Bearer ${access}` } })).status).toBe(200)

      await redis.start()
      await untilReady(gw)
      // Redis restarted empty: the code and refresh token are gone, and are refused as unknown.
      expect(keep(await token(gw, { grant_type: 'refresh_token', refresh_token })).json()).toMatchObject({ error: 'invalid_grant' })
      expect(keep(await token(gw, { grant_type: 'password', username: 'alice', password: 'alice-pw' })).status).toBe(200)
    } finally {
      await gw.close()
    }
  })

  it('answers 503 on routes while Redis is down under onRedisError: deny', async () => {
    const gw = await gatewayOnRedis('deny')
    try {
      const access = await fetchToken(gw.url, 'web', 's3cret')
      await redis.stop()
      const { res, ms } = await timed(() => rawRequest(gw.url, '/api/orders', { headers: { authorization: `Bearer ${access}` } }))
      expect(res.status).toBe(503)
      expect(res.headers['retry-after']).toBe('5')
      expect(ms).toBeLessThan(1_000)
    } finally {
      await gw.close()
    }
  })

  it('keeps answering within a bounded time while Redis stalls (DEBUG SLEEP)', async () => {
    const gw = await gatewayOnRedis('insurance')
    try {
      await redis.stall(3)
      const results = await Promise.all(Array.from({ length: 5 }, () => timed(() => rawRequest(gw.url, '/open/x'))))
      for (const { res, ms } of results) {
        expect(res.status).toBe(200)
        expect(ms).toBeLessThan(2_000) // commandTimeout is 500 ms, then the insurance limiter
      }
    } finally {
      await gw.close()
    }
  })
})

describe('upstream faults', () => {
  it('answers 502 while an upstream is down, and recovers when it returns (flapping)', async () => {
    const port = await freePort()
    const gw = await startGateway(`routes: [{ id: flap, path: /, upstream: "http://127.0.0.1:${port}", auth: [] }]`)
    try {
      const statuses: number[] = []
      for (let round = 0; round < 3; round++) {
        statuses.push(keep(await rawRequest(gw.url, '/x')).status)
        const up = await startOrigin(undefined, port)
        statuses.push(keep(await rawRequest(gw.url, '/x')).status)
        statuses.push(keep(await rawRequest(gw.url, '/x')).status) // over the kept-alive connection
        await up.close()
      }
      expect(statuses).toEqual([502, 200, 200, 502, 200, 200, 502, 200, 200])
    } finally {
      await gw.close()
    }
  })

  it('answers 504 for a slow upstream, promptly, and serves the next request', async () => {
    const slow = await startOrigin((_req, res) => setTimeout(() => res.end('late'), 5_000))
    const gw = await startGateway(
      `routes: [{ id: slow, path: /slow, upstream: "${slow.url}", auth: [], timeoutMs: 300 }, { id: ok, path: /ok, upstream: "${origin.url}", auth: [] }]`,
    )
    try {
      const { res, ms } = await timed(() => rawRequest(gw.url, '/slow/x'))
      expect(res.status).toBe(504)
      expect(ms).toBeLessThan(2_500)
      expect(keep(await rawRequest(gw.url, '/ok/x')).status).toBe(200)
    } finally {
      await gw.close()
      await slow.close()
    }
  })

  it('answers 502 for an upstream that sends garbage instead of HTTP', async () => {
    const { createServer } = await import('node:net')
    const garbage = createServer((socket) => socket.end('SSH-2.0-OpenSSH_9.0\r\n'))
    await new Promise<void>((resolve) => garbage.listen(0, '127.0.0.1', resolve))
    const gw = await startGateway(`routes: [{ id: g, path: /, upstream: "http://127.0.0.1:${(garbage.address() as { port: number }).port}", auth: [] }]`)
    try {
      const res = keep(await rawRequest(gw.url, '/x'))
      expect(res.status).toBe(502)
      expect(res.json()).toMatchObject({ error: 'bad_gateway' })
    } finally {
      await gw.close()
      garbage.close()
    }
  })
})
