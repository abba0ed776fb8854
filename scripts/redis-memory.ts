// What one entry of each key family costs in Redis memory, for the README's figures (not part of
// `npm test`). Starts a private redis-server, once on its own and once as a one-node cluster (which
// keeps every key in a per-slot list as well), writes ENTRIES entries of each family with the
// gateway's own store and token-state code, and reports, per entry, MEMORY USAGE (the key, its
// value and its dict entry, as Redis counts them; SAMPLES 0) and the growth of INFO's used_memory
// (what the server really pays: also the expiry entry and the hash tables' growth). Loopback only.
//
//   npm run redis-memory             # REDIS_MEMORY_ENTRIES=10000 by default
import type { ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import type { FastifyBaseLogger } from 'fastify'
import type { RedisConnection } from '../src/config/compile.js'
import { createTokenState } from '../src/oauth/token-state.js'
import type { Store } from '../src/store/index.js'
import { createRedisStore } from '../src/store/redis.js'
import type { SyncedLimiter } from '../src/store/synced-limiter.js'
import { freePort, startRedis, stop } from './processes.js'

const ENTRIES = Number(process.env.REDIS_MEMORY_ENTRIES || 10_000)
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const silent = { warn() {}, info() {}, debug() {}, error() {}, trace() {}, fatal() {}, child: () => silent } as unknown as FastifyBaseLogger

/** Values the size of what a deployment stores: a web client, two scopes, a PKCE challenge. */
const CODE = {
  clientId: 'web-app',
  redirectUri: 'https://app.example.com/callback',
  redirectUriGiven: true,
  codeChallenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
  codeChallengeMethod: 'S256' as const,
  scopes: ['orders:read', 'profile'],
  subject: 'alice@example.com',
  authTime: 1_790_000_000,
}
const REFRESH = { clientId: 'web-app', subject: 'alice@example.com', scopes: ['orders:read', 'profile'], authTime: 1_790_000_000 }
const address = (i: number) => `198.51.${(i >> 8) & 255}.${i & 255}`

interface Row {
  family: string
  pattern: string
  memoryUsage: number
  usedMemory: number
}

/** In batches, so that a cluster client (no auto-pipelining) is not one round trip at a time. */
async function times(n: number, f: (i: number) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < n; i += 500) await Promise.all(Array.from({ length: Math.min(500, n - i) }, (_, j) => f(i + j)))
}

async function measure(connection: RedisConnection, admin: Redis): Promise<Row[]> {
  const rows: Row[] = []
  const used = async () => Number(/used_memory:(\d+)/.exec(await admin.info('memory'))![1])
  const memoryUsage = async (pattern: string) => {
    const keys = (await admin.scan('0', 'MATCH', pattern, 'COUNT', 100_000))[1].slice(0, 200)
    let total = 0
    for (const key of keys) total += Number(await admin.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'))
    return keys.length ? total / keys.length : 0
  }
  /** `write` makes ENTRIES entries of a family (after `before`, which is not counted). */
  const family = async (name: string, pattern: string, write: (store: Store) => Promise<void>, before?: (store: Store) => Promise<void>) => {
    await admin.flushall()
    const store = createRedisStore({ redis: connection, onRedisError: 'deny', log: silent })
    for (let i = 0; i < 100 && !store.ready; i++) await sleep(20)
    await before?.(store)
    await sleep(50)
    const start = await used()
    await write(store)
    await sleep(50)
    rows.push({ family: name, pattern, memoryUsage: await memoryUsage(pattern), usedMemory: ((await used()) - start) / ENTRIES })
    await store.close()
  }
  const state = (store: Store) => createTokenState(store, Date.now, { accessTokenTtl: 3600, refreshTokenTtl: 1_209_600, authorizationCodeTtl: 60 })

  await family('rate limit counter', 'gatehouse:rl:*', async (store) => {
    const limiter = store.limiter('route:orders:ip', { points: 100, duration: 60 })
    await times(ENTRIES, (i) => limiter.consume(address(i)))
  })
  const synced = (store: Store) => store.limiter('route:orders:ip', { points: 100, duration: 60, syncMs: 60_000 }, { proxied: true }) as SyncedLimiter
  await family('syncMs hash, one instance', 'gatehouse:rls:*', async (store) => {
    const limiter = synced(store)
    await times(ENTRIES, (i) => limiter.consume(address(i)))
    await limiter.sync()
  })
  // A second instance's field in the same hashes: what each further instance adds.
  const other = createRedisStore({ redis: connection, onRedisError: 'deny', log: silent })
  await family(
    'syncMs hash, each further instance',
    'gatehouse:rls:*',
    async (store) => {
      const limiter = synced(store)
      await times(ENTRIES, (i) => limiter.consume(address(i)))
      await limiter.sync()
    },
    async () => {
      for (let i = 0; i < 100 && !other.ready; i++) await sleep(20)
      const limiter = synced(other)
      await times(ENTRIES, (i) => limiter.consume(address(i)))
      await limiter.sync()
    },
  )
  await other.close()
  rows.at(-1)!.memoryUsage -= rows.at(-2)!.memoryUsage // a hash of two fields, less one of one
  const codes: string[] = []
  await family('authorization code', 'gatehouse:code:*', async (store) => {
    await times(ENTRIES, async (i) => (codes[i] = await state(store).saveCode(CODE)))
  })
  await family(
    'used-marker of a code',
    'gatehouse:code-used:*',
    async (store) => {
      await times(ENTRIES, (i) => state(store).redeemCode(codes[i]!))
    },
    async (store) => {
      await times(ENTRIES, async (i) => (codes[i] = await state(store).saveCode(CODE)))
    },
  )
  // Redeeming deleted the codes it marked: add back what they had cost.
  rows.at(-1)!.usedMemory += rows.at(-2)!.usedMemory
  const tokens: string[] = []
  await family('refresh token', 'gatehouse:rt:*', async (store) => {
    await times(ENTRIES, async (i) => (tokens[i] = await state(store).saveRefreshToken({ ...REFRESH, familyId: randomUUID() })))
  })
  await family(
    'used-marker of a refresh token',
    'gatehouse:rt-used:*',
    async (store) => {
      await times(ENTRIES, (i) => state(store).useRefreshToken(tokens[i]!, { ...REFRESH, familyId: randomUUID(), expiresAt: 0 }))
    },
    async (store) => {
      await times(ENTRIES, async (i) => (tokens[i] = await state(store).saveRefreshToken({ ...REFRESH, familyId: randomUUID() })))
    },
  )
  rows.at(-1)!.usedMemory += rows.at(-2)!.usedMemory
  await family('token family, one access token', 'gatehouse:family:*', async (store) => {
    await times(ENTRIES, (i) => state(store).saveFamily(randomUUID(), { jti: randomUUID(), exp: Math.floor(Date.now() / 1000) + 3600 + i }))
  })
  await family('token family, 64 access tokens (the most kept)', 'gatehouse:family:*', async (store) => {
    const familyId = randomUUID()
    for (let i = 0; i < 64; i++) await state(store).saveFamily(familyId, { jti: randomUUID(), exp: Math.floor(Date.now() / 1000) + 3600 + i })
  })
  rows.at(-1)!.usedMemory = NaN // one key: too small a change to read from used_memory
  await family('revoked family flag', 'gatehouse:family-revoked:*', async (store) => {
    await times(ENTRIES, () => state(store).revokeFamily(randomUUID())) // no access tokens to revoke
  })
  await family('revoked access token (set member)', 'gatehouse:revoked', async (store) => {
    await times(ENTRIES, () => store.revokeToken(randomUUID(), 3600))
  })
  rows.at(-1)!.memoryUsage /= ENTRIES // one key: its cost per member
  return rows
}

async function main() {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-redis-memory-'))
  const results: [string, Row[]][] = []
  const servers: ChildProcess[] = []
  try {
    const port = await freePort()
    servers.push(await startRedis(port, ['--dir', dir]))
    const admin = new Redis(port, '127.0.0.1')
    results.push(['one server', await measure({ mode: 'server', url: `redis://127.0.0.1:${port}` }, admin)])
    const version = /redis_version:(\S+)/.exec(await admin.info('server'))![1]
    admin.disconnect()

    // A node alone never learns its address from a peer: it is told it, or it names none.
    const clusterPort = await freePort()
    servers.push(
      await startRedis(clusterPort, [
        '--dir',
        dir,
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(dir, 'nodes.conf'),
        '--cluster-announce-ip',
        '127.0.0.1',
      ]),
    )
    const nodeAdmin = new Redis(clusterPort, '127.0.0.1')
    await nodeAdmin.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383')
    while (!String(await nodeAdmin.call('CLUSTER', 'INFO')).includes('cluster_state:ok')) await sleep(50)
    const clusterConnection: RedisConnection = {
      mode: 'cluster',
      nodes: [{ host: '127.0.0.1', port: clusterPort }],
      username: undefined,
      password: undefined,
      tls: false,
    }
    results.push(['a cluster node', await measure(clusterConnection, nodeAdmin)])
    nodeAdmin.disconnect()

    console.log(`redis-server ${version}, ${ENTRIES} entries of each family; bytes per entry\n`)
    console.log(`| family | key | MEMORY USAGE | used_memory, one server | used_memory, cluster node |`)
    console.log(`| --- | --- | ---: | ---: | ---: |`)
    const [[, server], [, cluster]] = results as [[string, Row[]], [string, Row[]]]
    const bytes = (n: number) => (Number.isNaN(n) ? '—' : String(Math.round(n)))
    server.forEach((row, i) => {
      console.log(`| ${row.family} | \`${row.pattern}\` | ${bytes(row.memoryUsage)} | ${bytes(row.usedMemory)} | ${bytes(cluster[i]!.usedMemory)} |`)
    })
  } finally {
    await Promise.all(servers.map(stop))
    await rm(dir, { recursive: true, force: true })
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err)
    process.exit(1)
  },
)
