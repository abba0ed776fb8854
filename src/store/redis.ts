// State in Redis, shared by every gateway instance that uses the same Redis. An outage costs
// milliseconds, not hangs: no offline queue, short connect and command timeouts, and limiters that
// skip Redis while it is not ready. Then `store.onRedisError` decides: `insurance` counts in this
// process's memory until Redis is back; `deny` answers 503.
import { Redis, type Result } from 'ioredis'
import type { FastifyBaseLogger } from 'fastify'
import { RateLimiterRedis } from 'rate-limiter-flexible'
import { stateUnavailable, type Store } from './index.js'
import { adaptLimiter } from './limiter.js'
import { createMemoryLimiter } from './memory-limiter.js'
import { createRevocationSet } from './revocations.js'
import { createSyncedLimiter, type SyncedLimiter } from './synced-limiter.js'

export interface RedisStoreOptions {
  readonly url: string
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

export function createRedisStore({ url, onRedisError, log, keyPrefix = 'gatehouse' }: RedisStoreOptions): Store {
  const client = new Redis(url, {
    enableOfflineQueue: false,
    enableAutoPipelining: true,
    connectTimeout: 1_000,
    commandTimeout: 500,
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt) => Math.min(100 * attempt, 1_000),
  })
  client.defineCommand('takeLeavingMarker', { numberOfKeys: 2, lua: TAKE_LEAVING_MARKER })

  // One warning per outage, however many reconnection attempts it takes. An outage starts when
  // the connection closes (or, at start, fails); ioredis reports errors only on reconnecting.
  let down = false
  let closing = false
  const outage = (cause: string) => {
    if (down || closing) return
    down = true
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

  const revocations = createRevocationSet(client, keyPrefix, log)
  const synced: SyncedLimiter[] = []

  const fail = (err: unknown): never => {
    throw stateUnavailable(err)
  }

  return {
    kind: 'redis',
    get ready() {
      return client.status === 'ready' && revocations.current
    },
    limiter(name, rule, { proxied = false } = {}) {
      if (proxied && rule.syncMs) {
        const limiter = createSyncedLimiter(client, `${keyPrefix}:rls:${name}`, rule, rule.syncMs, onRedisError)
        synced.push(limiter)
        return limiter
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
      return adaptLimiter(limiter, rule, onRedisError === 'insurance' ? createMemoryLimiter(rule) : undefined)
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
