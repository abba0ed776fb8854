// Issue 11: gatehouse behind Redis Sentinel. The gateway is told where the sentinels are, asks them
// for the master, and follows it when a sentinel moves the master to the replica.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { rawRequest, sleep, startGateway, startOrigin, type Gateway, type Origin, untilStoresReady } from '../helpers/index.js'
import { redisAvailable, redisCommand, startRedisSentinel, type RedisSentinel } from '../helpers/redis.js'

const withSentinel = redisAvailable(true)
let sentinel: RedisSentinel
let origin: Origin
let one: Gateway
let two: Gateway

beforeAll(async () => {
  if (!withSentinel) return
  sentinel = await startRedisSentinel()
  origin = await startOrigin()
  const yaml = `
store:
  sentinels: { masterName: ${sentinel.masterName}, nodes: ["127.0.0.1:${sentinel.port}"] }
  onRedisError: insurance
routes:
  - { id: before, path: /before, upstream: "${origin.url}", auth: [], rateLimit: { points: 3, duration: 60, by: route } }
  - { id: after, path: /after, upstream: "${origin.url}", auth: [], rateLimit: { points: 3, duration: 60, by: route } }
  - { id: busy, path: /busy, upstream: "${origin.url}", auth: [], rateLimit: { points: 100000, duration: 60, by: route } }
`
  one = await startGateway(yaml)
  two = await startGateway(yaml)
  await untilStoresReady(one, two)
}, 30_000)
afterAll(async () => {
  await one?.close()
  await two?.close()
  await origin?.close()
  await sentinel?.close()
})

/** Whether a request at `gw` is counted in the Redis on `port` (not in memory, not refused there). */
async function countedOn(port: number, gw: Gateway): Promise<boolean> {
  const key = 'gatehouse:rl:route:busy:route:busy'
  const before = Number(await redisCommand(port, 'GET', key))
  await rawRequest(gw.url, '/busy/x')
  return Number(await redisCommand(port, 'GET', key)) > before
}

describe.skipIf(!withSentinel)('two instances behind Redis Sentinel', () => {
  it('find the master through the sentinel, share limits on it, and follow it to the replica', async () => {
    const statuses = []
    for (const gw of [one, two, one, two]) statuses.push((await rawRequest(gw.url, '/before/x')).status)
    expect(statuses).toEqual([200, 200, 200, 429])
    expect(await redisCommand(sentinel.master, 'GET', 'gatehouse:rl:route:before:route:before')).toBe('4')

    const answers: { status: number; ms: number }[] = []
    let running = true
    const traffic = [one, two].map(async (gw) => {
      while (running) {
        const started = Date.now()
        const { status } = await rawRequest(gw.url, '/busy/x')
        answers.push({ status, ms: Date.now() - started })
        await sleep(10)
      }
    })
    await sleep(100)
    await sentinel.failover()
    // Both follow: their requests are counted on the new master.
    for (const gw of [one, two]) {
      let counted = false
      for (let i = 0; i < 100 && !counted; i++, await sleep(20)) counted = await countedOn(sentinel.replica, gw)
      expect(counted).toBe(true)
    }
    running = false
    await Promise.all(traffic)
    expect(answers.filter((a) => a.status !== 200)).toEqual([]) // insurance while they move
    expect(Math.max(...answers.map((a) => a.ms))).toBeLessThan(1_500)

    statuses.length = 0
    for (const gw of [one, two, one, two]) statuses.push((await rawRequest(gw.url, '/after/x')).status)
    expect(statuses).toEqual([200, 200, 200, 429])
    expect(await redisCommand(sentinel.replica, 'GET', 'gatehouse:rl:route:after:route:after')).toBe('4')
  })
})
