import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { captureLogs, rawRequest, startGateway, startOrigin, type CapturedLogs, type Gateway, type Origin, untilStoresReady } from '../helpers/index.js'
import { redisAvailable, startRedis, type RedisServer } from '../helpers/redis.js'

const ownServer = redisAvailable(true)
let redis: RedisServer
let origin: Origin

beforeAll(async () => {
  if (!ownServer) return
  redis = await startRedis()
  origin = await startOrigin()
})
afterAll(async () => {
  await origin?.close()
  await redis?.close()
})
beforeEach(async () => {
  if (!ownServer) return
  await redis.start() // in case a failed test left it stopped
  await redis.flush()
})

const routes = (extra = '') => `
store: { redis: "\${TEST_REDIS}" ${extra} }
routes:
  - { id: shared, path: /shared, upstream: "${origin.url}", auth: [], rateLimit: { points: 4, duration: 60, by: route } }
`
const start = (options: { extra?: string; logs?: CapturedLogs } = {}) =>
  startGateway(routes(options.extra), { env: { TEST_REDIS: redis.url }, ...(options.logs ? { logger: options.logs.logger } : {}) })

/** Waits until the gateway's Redis connection is ready (reconnection backs off up to 1 s). */
async function untilReady(gw: Gateway) {
  await untilStoresReady(gw)
  if (!gw.gateway.store.ready) throw new Error('redis never became ready')
}

describe.skipIf(!ownServer)('rate limits in Redis', () => {
  it('are shared by two gateway instances on one Redis', async () => {
    const one = await start()
    const two = await start()
    await untilReady(one)
    await untilReady(two)
    const statuses = []
    const remaining = []
    for (const gw of [two, one, two, one, two]) {
      const res = await rawRequest(gw.url, '/shared/x')
      statuses.push(res.status)
      remaining.push(res.headers['ratelimit-remaining'])
    }
    await one.close()
    await two.close()
    expect(statuses).toEqual([200, 200, 200, 200, 429]) // 4 points across both instances
    expect(remaining).toEqual(['3', '2', '1', '0', '0'])
  })

  it('keep limiting per instance in memory while Redis is down, warn once, and go back to Redis', async () => {
    const logs = captureLogs()
    const gw = await start({ logs })
    await untilReady(gw)
    expect((await rawRequest(gw.url, '/shared/x')).headers['ratelimit-remaining']).toBe('3')

    await redis.stop()
    const during: number[] = []
    for (let i = 0; i < 6; i++) {
      const started = Date.now()
      during.push((await rawRequest(gw.url, '/shared/x')).status)
      expect(Date.now() - started).toBeLessThan(1_000) // an outage costs milliseconds, not hangs
    }
    // The insurance limiter has the same rule, counted afresh in this process's memory.
    expect(during).toEqual([200, 200, 200, 200, 429, 429])
    const outageWarnings = logs.lines.filter((l) => String(l.msg).startsWith('redis is unavailable'))
    expect(outageWarnings).toHaveLength(1)
    expect(outageWarnings[0]!.level).toBe(40)

    await redis.start()
    await untilReady(gw)
    // Back on Redis, which restarted empty: the count starts again from there.
    expect((await rawRequest(gw.url, '/shared/x')).headers['ratelimit-remaining']).toBe('3')
    expect(logs.lines.some((l) => l.msg === 'redis is available again: shared rate limits resume')).toBe(true)
    await gw.close()
  })

  it('let the gateway start while Redis is unreachable, under the insurance limiter', async () => {
    const logs = captureLogs()
    const gw = await startGateway(routes(), { env: { TEST_REDIS: 'redis://127.0.0.1:1' }, logger: logs.logger })
    const res = await rawRequest(gw.url, '/shared/x')
    await gw.close()
    expect(res.status).toBe(200)
    expect(res.headers['ratelimit-remaining']).toBe('3')
    expect(logs.lines.filter((l) => String(l.msg).startsWith('redis is unavailable'))).toHaveLength(1)
  })

  it('answer 503 while Redis is down when store.onRedisError is deny, and recover', async () => {
    const gw = await start({ extra: ', onRedisError: deny' })
    await untilReady(gw)
    await redis.stop()
    const res = await rawRequest(gw.url, '/shared/x')
    expect(res.status).toBe(503)
    expect(res.json()).toEqual({ error: 'service_unavailable', error_description: 'the rate limit store is unavailable' })
    await redis.start()
    await untilReady(gw)
    expect((await rawRequest(gw.url, '/shared/x')).status).toBe(200)
    await gw.close()
  })
})
