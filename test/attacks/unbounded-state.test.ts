// Attack family 13: state that strangers create. The token endpoint counted requests per *claimed*
// client_id before anything else, so every made-up id (16 KB ones too) created a counter: 4,000
// requests grew the heap by ~75 MiB and killed a gateway with a 128 MiB heap, and on Redis every
// 2,000 requests added ~31 MiB of keys. The same counting let anyone who knew a client id spend its
// token budget with wrong secrets. Unauthenticated requests now count per address only (and
// unknown usernames in a bounded set of buckets); a client's own budget counts once it has
// authenticated. (The class of CVE-2023-44487-style resource exhaustion: cheap for the caller,
// lasting for the server.)
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hashSecret } from '../../src/config/secret-hash.js'
import { createMemoryLimiter } from '../../src/store/memory-limiter.js'
import { UNKNOWN_USER_BUCKETS } from '../../src/oauth/user-auth.js'
import { basic, fastHash, rawRequest, spawnGateway, startGateway, type Gateway } from '../helpers/index.js'
import { redisAvailable, startRedis, type RedisServer } from '../helpers/redis.js'

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
const limits = (tokenPoints = 1_000_000) => `
tokenEndpoint: { rateLimit: { points: ${tokenPoints}, duration: 60 }, failureLimit: { points: 1000000, duration: 60 } }
authorize: { loginFailureLimit: { points: 1000000, duration: 60 }, loginFailureLimitPerIp: { points: 1000000, duration: 60 } }
`
const bigId = (i: number) => `${i}-`.padEnd(15_000, 'x')

/** Sends `count` requests, `concurrency` at a time; returns their statuses, counted. */
async function flood(count: number, concurrency: number, send: (i: number) => Promise<{ status: number }>): Promise<Record<number, number>> {
  const statuses: Record<number, number> = {}
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const { status } = await send(next++)
        statuses[status] = (statuses[status] ?? 0) + 1
      }
    }),
  )
  return statuses
}

const tokenRequest = (url: string, clientId: string, secret: string) =>
  rawRequest(url, '/oauth/token', {
    method: 'POST',
    headers: FORM,
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: secret }).toString(),
  })

describe('state from unauthenticated input', () => {
  it('keeps a gateway with a 48 MiB heap alive through 4,000 made-up 15 kB client ids', async () => {
    // A cheap hash (ln=4), so that the decoy check is cheap too and the run is about memory.
    const gw = await spawnGateway(
      `${limits()}
clients: [{ id: app, secretHash: "${await hashSecret('s3cret', { logN: 4 })}" }]
`,
      { nodeArgs: ['--max-old-space-size=48'] },
    )
    try {
      const statuses = await flood(4_000, 16, (i) => tokenRequest(gw.url, bigId(i), 'guess'))
      expect(statuses).toEqual({ 401: 4_000 })
      expect((await tokenRequest(gw.url, 'app', 's3cret')).status).toBe(200)
      // 4,000 ids of 15 kB are 60 MB of keys: a gateway that kept them would have died by now.
      expect(gw.output()).not.toMatch(/heap out of memory/)
    } finally {
      await gw.stop()
    }
  }, 60_000) // ~15 s alone; a busy CI machine has taken over 20

  it("lets no stranger spend a client's token budget with wrong secrets", async () => {
    const gw = await startGateway(`${limits(3)}
clients: [{ id: app, secretHash: "${await fastHash('s3cret')}" }]
`)
    for (let i = 0; i < 5; i++) expect((await tokenRequest(gw.url, 'app', 'wrong')).status).toBe(401)
    const statuses = []
    for (let i = 0; i < 4; i++) statuses.push((await tokenRequest(gw.url, 'app', 's3cret')).status)
    expect(statuses).toEqual([200, 200, 200, 429]) // its own budget of 3, untouched by the 5 strangers
    await gw.close()
  })

  it("lets no stranger spend a public client's token budget by sending its id", async () => {
    const gw = await startGateway(`${limits(3)}
server: { trustedProxies: [127.0.0.1] }
clients: [{ id: spa, type: public, redirectUris: ["http://app.example/cb"], grants: [authorization_code, refresh_token] }]
`)
    const redeem = (from: string) =>
      rawRequest(gw.url, '/oauth/token', {
        method: 'POST',
        headers: { ...FORM, 'x-forwarded-for': from },
        body: 'grant_type=authorization_code&client_id=spa&code=made-up&code_verifier=' + 'v'.repeat(43),
      })
    const stranger = []
    for (let i = 0; i < 4; i++) stranger.push((await redeem('198.51.100.66')).status)
    expect(stranger).toEqual([400, 400, 400, 429])
    expect((await redeem('203.0.113.5')).status).toBe(400) // a browser elsewhere still gets its code checked
    await gw.close()
  })

  it('keeps at most MAX_KEYS counters per limiter in memory, forgetting the least recently used', async () => {
    const limiter = createMemoryLimiter({ points: 1, duration: 60 }, 100)
    expect((await limiter.consume('first')).allowed).toBe(true)
    expect((await limiter.consume('first')).allowed).toBe(false)
    for (let i = 0; i < 100; i++) await limiter.consume(`address-${i}`)
    expect((await limiter.consume('first')).allowed).toBe(true) // forgotten: a fresh window, never a refusal
  })
})

describe.skipIf(!redisAvailable())('state from unauthenticated input, on Redis', () => {
  let redis: RedisServer
  let client: Redis
  let gw: Gateway
  beforeAll(async () => {
    redis = await startRedis()
    client = new Redis(redis.url)
    gw = await startGateway(`${limits()}
store: { redis: "${redis.url}" }
clients: [{ id: app, secretHash: "${await fastHash('s3cret')}", grants: [password] }]
users: [{ username: alice, passwordHash: "${await fastHash('alice-pw')}" }]
`)
  })
  afterAll(async () => {
    await gw?.close()
    client?.disconnect()
    await redis?.close()
  })
  const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await client.info('memory'))![1])

  it('adds no key per made-up client id: 2,000 of 15 kB each', async () => {
    await redis.flush()
    const before = await usedMemory()
    expect(await flood(2_000, 16, (i) => tokenRequest(gw.url, bigId(i), 'guess'))).toEqual({ 401: 2_000 })
    expect(await client.dbsize()).toBeLessThanOrEqual(2) // the per-address failure counter
    expect((await usedMemory()) - before).toBeLessThan(512 * 1024)
  })

  it('keeps made-up usernames in a bounded set of counters: 2,000 of 15 kB each', async () => {
    await redis.flush()
    const before = await usedMemory()
    const statuses = await flood(2_000, 16, (i) =>
      rawRequest(gw.url, '/oauth/token', {
        method: 'POST',
        headers: { ...FORM, authorization: basic('app', 's3cret') },
        body: new URLSearchParams({ grant_type: 'password', username: bigId(i), password: 'guess' }).toString(),
      }),
    )
    expect(statuses).toEqual({ 400: 2_000 })
    const keys = await client.keys('*')
    expect(keys.length).toBeLessThanOrEqual(UNKNOWN_USER_BUCKETS + 3)
    expect(Math.max(...keys.map((k) => k.length))).toBeLessThan(100)
    expect((await usedMemory()) - before).toBeLessThan(1024 * 1024)
  })
})
