// State in Redis, shared by every gateway instance that uses the same Redis: one server, the
// master that sentinels point to, or a cluster. An outage costs milliseconds, not hangs: no
// offline queue, short connect and command timeouts (redis-connection.ts), and limiters that skip
// Redis while it is not ready. Then `store.onRedisError` decides: `insurance` counts in this
// process's memory until Redis is back; `deny` answers 503.
//
// On a cluster every command touches one key, or keys of one slot: a code and its used-marker
// share a hash tag (token-state.ts), and every other script has one key. While one master is down,
// only the commands for its slots fail, until a replica takes over.
import { Cluster, type Redis, type Result } from 'ioredis'
import type { FastifyBaseLogger } from 'fastify'
import { RateLimiterRedis } from 'rate-limiter-flexible'
import type { RedisConnection } from '../config/compile.js'
import { stateUnavailable, type Store } from './index.js'
import { adaptLimiter } from './limiter.js'
import { createMemoryLimiter } from './memory-limiter.js'
import { createRedisClient, subscriberFactory } from './redis-connection.js'
import { createRevocationSet } from './revocations.js'
import { createSyncedLimiter, type SyncedLimiter } from './synced-limiter.js'

export interface RedisStoreOptions {
  readonly redis: RedisConnection
  readonly onRedisError: 'insurance' | 'deny'
  readonly log: FastifyBaseLogger
  /** Prefix of every key, so that several deployments can share one Redis. */
  readonly keyPrefix?: string
}

// GET, DEL and SET in one script, which Redis runs without interleaving another command.
// KEYS: the key to take, its marker; ARGV: the marker's value, its TTL in seconds.
const TAKE_LEAVING_MARKER = `
local value = redis.call('GET', KEYS[1])
if value then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
end
return value
`

declare module 'ioredis' {
  interface RedisCommander<Context> {
    takeLeavingMarker(key: string, markerKey: string, markerValue: string, ttlSeconds: number): Result<string | null, Context>
  }
}

export function createRedisStore({ redis, onRedisError, log, keyPrefix = 'gatehouse' }: RedisStoreOptions): Store {
  const client = createRedisClient(redis)
  client.defineCommand('takeLeavingMarker', { numberOfKeys: 2, lua: TAKE_LEAVING_MARKER })

  // One warning per outage, however many reconnection attempts it takes. An outage starts when
  // the connection closes (or, at start, fails); ioredis reports errors only on reconnecting.
  let down = false
  let closing = false
  const failures = { outages: 0, errors: 0 }
  const outage = (cause: string) => {
    if (down || closing) return
    down = true
    failures.outages++
    log.warn(
      { cause, onRedisError },
      onRedisError === 'insurance'
        ? 'redis is unavailable: rate limits are counted per instance, in memory, until it returns'
        : 'redis is unavailable: refusing rate-limited requests with 503 until it returns',
    )
  }
  client.on('close', () => outage('connection closed'))
  client.on('error', (err: Error) => outage(err.message))
  client.on('ready', () => {
    if (!down) return
    down = false
    log.info('redis is available again: shared rate limits resume')
  })
  if (client instanceof Cluster) watchClusterNodes(client, log, onRedisError, () => down || closing)

  const revocations = createRevocationSet(client, subscriberFactory(redis, client), keyPrefix, log)
  /** The synced limiters still in use: a reload's retainOnly closes the others, and they leave. */
  const synced = new Set<SyncedLimiter>()

  const fail = (err: unknown): never => {
    failures.errors++
    throw stateUnavailable(err)
  }

  return {
    kind: 'redis',
    failures,
    get ready() {
      return client.status === 'ready' && revocations.current
    },
    limiter(name, rule, { proxied = false } = {}) {
      if (proxied && rule.syncMs) {
        const limiter = createSyncedLimiter(client, `${keyPrefix}:rls:${name}`, rule, rule.syncMs, onRedisError)
        synced.add(limiter)
        return {
          ...limiter,
          close() {
            synced.delete(limiter)
            limiter.close()
          },
        }
      }
      const limiter = new RateLimiterRedis({
        storeClient: client,
        keyPrefix: `${keyPrefix}:rl:${name}`,
        points: rule.points,
        duration: rule.duration,
        rejectIfRedisNotReady: true,
        // Past its limit, a key is refused from memory until its window ends: a flood that is
        // already refused costs no Redis call. Bound: a key enters only after `points` requests.
        ...(proxied ? { inMemoryBlockOnConsumed: rule.points + 1 } : {}),
      })
      return adaptLimiter(limiter, rule, onRedisError === 'insurance' ? createMemoryLimiter(rule) : undefined, () => failures.errors++)
    },
    async put(key, value, ttlSeconds) {
      await client.set(`${keyPrefix}:${key}`, value, 'EX', Math.max(1, Math.ceil(ttlSeconds))).catch(fail)
    },
    async get(key) {
      return (await client.get(`${keyPrefix}:${key}`).catch(fail)) ?? undefined
    },
    async takeLeavingMarker(key, markerKey, markerValue, ttlSeconds) {
      const ttl = Math.max(1, Math.ceil(ttlSeconds))
      return (await client.takeLeavingMarker(`${keyPrefix}:${key}`, `${keyPrefix}:${markerKey}`, markerValue, ttl).catch(fail)) ?? undefined
    },
    async delete(key) {
      await client.del(`${keyPrefix}:${key}`).catch(fail)
    },
    revokeToken: (jti, ttlSeconds) => revocations.add(jti, ttlSeconds),
    isTokenRevoked: (jti) => revocations.has(jti),
    async close() {
      closing = true
      revocations.close()
      for (const limiter of synced) limiter.close()
      client.disconnect()
    },
  }
}

/**
 * A cluster whose other nodes answer stays ready while one node is down: one warning per node that
 * fails, until a connection to it is ready again, and one line when its slots are served by
 * another (a replica took over). While the nodes' views differ, a failed node can leave the slot
 * map and come back into it: that is still the same outage.
 */
function watchClusterNodes(cluster: Cluster, log: FastifyBaseLogger, onRedisError: 'insurance' | 'deny', quiet: () => boolean): void {
  const unavailable = new Map<string, 'failed' | 'replaced'>()
  const keyOf = (node: Redis) => `${node.options.host}:${node.options.port}`
  cluster.on('node error', (err: Error, node: string) => {
    if (quiet() || cluster.status !== 'ready' || unavailable.has(node)) return
    unavailable.set(node, 'failed')
    log.warn(
      { node, cause: err.message, onRedisError },
      'a redis cluster node is unavailable: requests whose keys it holds follow store.onRedisError until it returns or a replica takes over',
    )
  })
  cluster.on('+node', (connection: Redis) => {
    const node = keyOf(connection)
    connection.once('ready', () => {
      if (unavailable.delete(node)) log.info({ node }, 'the redis cluster node is available again')
    })
  })
  cluster.on('refresh', () => {
    const serving = new Set(cluster.nodes('all').map(keyOf))
    for (const [node, state] of unavailable) {
      if (state === 'replaced' || serving.has(node)) continue
      unavailable.set(node, 'replaced')
      log.info({ node }, 'the redis cluster no longer routes to the unavailable node: its slots are served by another')
    }
  })
}
