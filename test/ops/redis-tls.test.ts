// Issue 11: TLS to Redis, to a cluster's nodes and to the sentinels and their master, with
// `tls: true`. The servers present a self-signed certificate for 127.0.0.1, which this process
// trusts as an operator's NODE_EXTRA_CA_CERTS would make the gateway trust it; they speak TLS only.
import { readFileSync } from 'node:fs'
import { getCACertificates, setDefaultCACertificates } from 'node:tls'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { rawRequest, startGateway, startOrigin, type Origin, untilStoresReady } from '../helpers/index.js'
import { redisAvailable, redisCommand, startRedisCluster, startRedisSentinel, TEST_CERT } from '../helpers/redis.js'

const withRedis = redisAvailable(true)
let origin: Origin

beforeAll(async () => {
  if (!withRedis) return
  setDefaultCACertificates([...getCACertificates('default'), readFileSync(TEST_CERT, 'utf8')])
  origin = await startOrigin()
})
afterAll(async () => {
  await origin?.close()
})

const routes = () => `
routes:
  - { id: tls, path: /tls, upstream: "${origin.url}", auth: [], rateLimit: { points: 2, duration: 60, by: route } }
`

/** Two instances share the limit through Redis, and each is ready: its subscription is up too. */
async function shareLimit(store: string): Promise<void> {
  const one = await startGateway(store + routes())
  const two = await startGateway(store + routes())
  try {
    await untilStoresReady(one, two)
    expect([one.gateway.store.ready, two.gateway.store.ready]).toEqual([true, true])
    const statuses = []
    for (const gw of [one, two, one]) statuses.push((await rawRequest(gw.url, '/tls/x')).status)
    expect(statuses).toEqual([200, 200, 429])
  } finally {
    await one.close()
    await two.close()
  }
}

describe.skipIf(!withRedis)('TLS to Redis', () => {
  it('reaches every node of a cluster that speaks only TLS', async () => {
    const cluster = await startRedisCluster({ tls: true })
    try {
      await shareLimit(`store: { cluster: { nodes: ["127.0.0.1:${cluster.ports[0]}"], tls: true } }`)
      const { master } = await cluster.shardOf('gatehouse:rl:route:tls:route:tls')
      expect(await redisCommand(master, 'GET', 'gatehouse:rl:route:tls:route:tls')).toBe('3')
    } finally {
      await cluster.close()
    }
  })

  it('asks sentinels that speak only TLS for a master that does too', async () => {
    const sentinel = await startRedisSentinel({ tls: true })
    try {
      await shareLimit(`store: { sentinels: { masterName: ${sentinel.masterName}, nodes: ["127.0.0.1:${sentinel.port}"], tls: true } }`)
      expect(await redisCommand(sentinel.master, 'GET', 'gatehouse:rl:route:tls:route:tls')).toBe('3')
    } finally {
      await sentinel.close()
    }
  })
})
