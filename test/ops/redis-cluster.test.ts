// Issue 11: gatehouse on a Redis Cluster of three masters and three replicas, started here. Two
// instances share limits, single-use codes and revocations through it, and keep serving while a
// master crashes and its replica takes over, as store.onRedisError (insurance) says they should.
import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  basic,
  browserLogin,
  captureLogs,
  fastHash,
  rawRequest,
  sleep,
  startGateway,
  startOrigin,
  writeKeyFile,
  type CapturedLogs,
  type Gateway,
  type Origin,
  untilStoresReady,
} from '../helpers/index.js'
import { redisAvailable, redisCommand, startRedisCluster, type RedisCluster } from '../helpers/redis.js'

const withCluster = redisAvailable(true)
const CB = 'http://app.example/cb'
const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
const verifier = 'v'.repeat(43)
const challenge = createHash('sha256').update(verifier).digest('base64url')

let cluster: RedisCluster
let origin: Origin
let one: Gateway
let two: Gateway
const logs: CapturedLogs[] = [captureLogs('warn'), captureLogs('warn')]

beforeAll(async () => {
  if (!withCluster) return
  cluster = await startRedisCluster()
  origin = await startOrigin()
  const key = await writeKeyFile() // shared, so that either instance verifies the other's tokens
  const generous = '{ points: 100000, duration: 60 }'
  const yaml = `
signing: { keyFile: "${key.path}" }
store:
  cluster: { nodes: ["127.0.0.1:${cluster.ports[0]}", "127.0.0.1:${cluster.ports[1]}"] }   # seeds: the rest is found
  onRedisError: insurance
tokenEndpoint: { rateLimit: ${generous}, failureLimit: ${generous} }
authorize: { loginFailureLimit: ${generous}, loginFailureLimitPerIp: ${generous} }
clients:
  - { id: web, secretHash: "${await fastHash('s3cret')}", grants: [authorization_code, refresh_token], scopes: [orders:read], redirectUris: ["${CB}"] }
users: [{ username: alice, passwordHash: "${await fastHash('alice-pw')}", scopes: [orders:read] }]
routes:
  - { id: orders, path: /api/orders, upstream: "${origin.url}", scopes: [orders:read] }
  - { id: shared, path: /shared, upstream: "${origin.url}", auth: [], rateLimit: { points: 4, duration: 60, by: route } }
  - { id: synced, path: /synced, upstream: "${origin.url}", auth: [], rateLimit: { points: 4, duration: 60, by: ip, syncMs: 50 } }
  - { id: busy, path: /busy, upstream: "${origin.url}", auth: [], rateLimit: { points: 100000, duration: 60, by: ip } }
  - { id: after, path: /after, upstream: "${origin.url}", auth: [], rateLimit: { points: 2, duration: 60, by: ip } }
`
  one = await startGateway(yaml, { logger: logs[0]!.logger })
  two = await startGateway(yaml, { logger: logs[1]!.logger })
  await untilStoresReady(one, two)
}, 30_000)
afterAll(async () => {
  await one?.close()
  await two?.close()
  await origin?.close()
  await cluster?.close()
})

const token = (gw: Gateway, fields: Record<string, string>) =>
  rawRequest(gw.url, '/oauth/token', {
    method: 'POST',
    headers: { ...FORM, authorization: basic('web', 's3cret') },
    body: new URLSearchParams(fields).toString(),
  })
const bearer = (access: string) => ({ headers: { authorization: `Bearer ${access}` } })

/** An authorization code from alice's login at `gw`. */
async function authorizationCode(gw: Gateway): Promise<string> {
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: 'web',
    redirect_uri: CB,
    state: 's',
    code_challenge: challenge,
    code_challenge_method: 'S256',
  })
  const { location } = await browserLogin(`${gw.url}/oauth/authorize?${query}`)
  return new URL(location!).searchParams.get('code')!
}
const redeem = (gw: Gateway, code: string) => token(gw, { grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: verifier })
/** Where token-state.ts keeps a code: under the SHA-256 of it, as a hash tag. */
const codeKey = (code: string) => `gatehouse:code:{${createHash('sha256').update(code).digest('base64url')}}`

describe.skipIf(!withCluster)('two instances on a Redis Cluster', () => {
  it('share a rate limit: requests split across both count against one limit', async () => {
    const statuses = []
    for (const gw of [one, two, one, two, one]) statuses.push((await rawRequest(gw.url, '/shared/x')).status)
    expect(statuses).toEqual([200, 200, 200, 200, 429])
  })

  // Found in this issue: syncMs pushed every key of a sync in one pipeline, which a cluster refuses
  // when the keys live on different nodes, so the instances never learned each other's counts.
  it('share syncMs limits whose keys live on different nodes', async () => {
    // Windows are aligned to the clock: one with 3 s left in it, so that the counts do not start again.
    const left = 60_000 - (Date.now() % 60_000)
    if (left < 3_000) await sleep(left + 50)
    const window = Math.floor(Date.now() / 60_000)
    const addresses = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6', '127.0.0.7']
    const masters = new Set(await Promise.all(addresses.map(async (a) => (await cluster.shardOf(`gatehouse:rls:route:synced:ip:${a}:${window}`)).master)))
    expect(masters.size).toBeGreaterThan(1)
    const send = (gw: Gateway, localAddress: string) => rawRequest(gw.url, '/synced/x', { localAddress }).then((r) => r.status)
    const statuses = new Map(addresses.map((a) => [a, [] as number[]]))
    for (const a of addresses) statuses.get(a)!.push(await send(one, a), await send(one, a))
    await sleep(300) // a few syncs: one's totals reach the cluster
    // Two learns the others' count of a key at its first sync after the key's first request there.
    for (const a of addresses) statuses.get(a)!.push(await send(two, a))
    await sleep(300)
    for (const a of addresses) statuses.get(a)!.push(await send(two, a), await send(two, a))
    expect(Object.fromEntries(statuses)).toEqual(Object.fromEntries(addresses.map((a) => [a, [200, 200, 200, 200, 429]])))
  })

  it('redeem a code once: a second redemption at the other instance is refused and revokes what the first issued', async () => {
    const code = await authorizationCode(one)
    const first = await redeem(two, code)
    expect(first.status).toBe(200)
    const { access_token } = first.json<{ access_token: string }>()
    expect((await rawRequest(one.url, '/api/orders/1', bearer(access_token))).status).toBe(200)
    const again = await redeem(one, code)
    expect(again.status).toBe(400)
    expect(again.json()).toMatchObject({ error: 'invalid_grant' })
    // The replay at one revoked the family; two hears of it over pub/sub, through the cluster.
    let status = 0
    for (let i = 0; i < 50 && status !== 401; i++, await sleep(10)) status = (await rawRequest(two.url, '/api/orders/1', bearer(access_token))).status
    expect(status).toBe(401)
  })

  it('refuse at one instance an access token revoked at the other', async () => {
    const { access_token } = (await redeem(one, await authorizationCode(one))).json<{ access_token: string }>()
    expect((await rawRequest(two.url, '/api/orders/1', bearer(access_token))).status).toBe(200)
    const revoked = await rawRequest(one.url, '/oauth/revoke', {
      method: 'POST',
      headers: { ...FORM, authorization: basic('web', 's3cret') },
      body: `token=${access_token}`,
    })
    expect(revoked.status).toBe(200)
    let status = 0
    for (let i = 0; i < 50 && status !== 401; i++, await sleep(10)) status = (await rawRequest(two.url, '/api/orders/1', bearer(access_token))).status
    expect(status).toBe(401)
  })

  // Found in this issue: on a cluster, ioredis moves a subscription that drops to another node by
  // itself, without a word to its caller, so a revocation published in between stayed unknown to
  // that instance until the next full read, 30 s later.
  it('read the revoked set again when a subscription drops, so that a missed message is not a missed revocation', async () => {
    const { access_token } = (await redeem(one, await authorizationCode(one))).json<{ access_token: string }>()
    const { jti } = JSON.parse(Buffer.from(access_token.split('.')[1]!, 'base64url').toString()) as { jti: string }
    // Written without its message, as if the message had been lost; then every subscription drops.
    const { master } = await cluster.shardOf('gatehouse:revoked')
    await redisCommand(master, 'ZADD', 'gatehouse:revoked', Date.now() + 60_000, jti)
    expect((await rawRequest(two.url, '/api/orders/1', bearer(access_token))).status).toBe(200)
    for (const port of cluster.ports) await redisCommand(port, 'CLIENT', 'KILL', 'TYPE', 'pubsub')
    let status = 0
    for (let i = 0; i < 100 && status !== 401; i++, await sleep(20)) status = (await rawRequest(two.url, '/api/orders/1', bearer(access_token))).status
    expect(status).toBe(401)
  })

  it('keep serving while a master crashes and its replica takes over, then share limits and codes on it again', async () => {
    const { access_token } = (await redeem(one, await authorizationCode(one))).json<{ access_token: string }>()
    const busyKey = 'gatehouse:rl:route:busy:ip:127.0.0.1'
    const { master, replicas } = await cluster.shardOf(busyKey)

    // Requests to both instances, one after another on each, for as long as the failover takes.
    const answers: { status: number; ms: number; path: string }[] = []
    let running = true
    const traffic = [one, two].map(async (gw) => {
      while (running) {
        for (const path of ['/busy/x', '/api/orders/1']) {
          const started = Date.now()
          const { status } = await rawRequest(gw.url, path, bearer(access_token))
          answers.push({ status, ms: Date.now() - started, path })
        }
        await sleep(10)
      }
    })
    let failoverMs: number
    try {
      await sleep(200)
      const crashedAt = Date.now()
      await cluster.crash(master)
      await cluster.waitForTakeover(replicas[0]!)
      failoverMs = Date.now() - crashedAt
      await sleep(500)
    } finally {
      running = false
      await Promise.allSettled(traffic)
    }

    // onRedisError: insurance: the limit is counted in memory while its master is gone, and the
    // revocation list is trusted as it was: every request answered, none held longer than the
    // command timeout (500 ms) and a little.
    expect(failoverMs).toBeGreaterThan(500) // the test did cross a failover
    expect(answers.length).toBeGreaterThan(20)
    expect(answers.filter((a) => a.status !== 200)).toEqual([])
    expect(Math.max(...answers.map((a) => a.ms))).toBeLessThan(1_500)
    for (const l of logs) {
      const warnings = l.lines.filter((line) => String(line.msg).startsWith('a redis cluster node is unavailable'))
      expect(warnings.map((w) => w.node)).toEqual([`127.0.0.1:${master}`]) // one warning per instance, naming the node
    }

    // A limit whose key lives on the promoted replica is shared again.
    const promoted = replicas[0]!
    let address: string | undefined
    for (let x = 10; x < 250 && address === undefined; x++) {
      if ((await cluster.shardOf(`gatehouse:rl:route:after:ip:127.0.0.${x}`)).master === promoted) address = `127.0.0.${x}`
    }
    expect(address).toBeDefined()
    const statuses = []
    for (const gw of [one, two, one]) statuses.push((await rawRequest(gw.url, '/after/x', { localAddress: address! })).status)
    expect(statuses).toEqual([200, 200, 429])
    expect(await redisCommand(promoted, 'EXISTS', `gatehouse:rl:route:after:ip:${address}`)).toBe(1)

    // So is a code whose key lives there: used once, at either instance.
    let code = await authorizationCode(one)
    for (let i = 0; i < 30 && (await cluster.shardOf(codeKey(code))).master !== promoted; i++) code = await authorizationCode(one)
    expect((await cluster.shardOf(codeKey(code))).master).toBe(promoted)
    expect((await redeem(two, code)).status).toBe(200)
    expect((await redeem(one, code)).json()).toMatchObject({ error: 'invalid_grant' })
  })
})
