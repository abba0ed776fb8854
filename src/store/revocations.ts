// Revoked access tokens, known to every instance without a Redis round trip per request (issue 10).
// A revocation is written to one sorted set (jti → when it may be forgotten) and published on a
// channel in the same script; every instance subscribes, keeps the set in memory, and reads the
// whole set again whenever its subscription (re)starts and every RESYNC_MS, since pub/sub delivers
// at most once. While the subscription is down or not yet read, `has` throws, and the caller's
// outage policy applies exactly as when Redis is down (store.onRedisError).
//
// The window this trades: another instance learns of a revocation when the message arrives (well
// under a millisecond on a LAN); the instance that revoked knows at once. Revocations are never
// withdrawn, so merging what arrives with what is read is always right, in any order.
//
// On a Redis Cluster the set is one key, so the script touches one slot; a message published on
// any node reaches the subscribers of every node, so the subscription may be on any node.
//
// Bound: one entry per revoked, unexpired access token. Only an authenticated client revoking its
// own tokens, or the reuse of a code or refresh token, makes one: strangers cannot.
import type { Redis, Result } from 'ioredis'
import type { FastifyBaseLogger } from 'fastify'
import { stateUnavailable } from './index.js'
import type { RedisClient } from './redis-connection.js'

const RESYNC_MS = 30_000
/** A subscription that dies without its TCP connection closing is found by a ping this often. */
const PING_MS = 5_000

// KEYS: the set; ARGV: jti, forget-at (epoch ms), now (epoch ms), channel. One step: the set and
// the message never disagree about what was revoked.
const REVOKE = `
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local ttl = tonumber(ARGV[2]) - tonumber(ARGV[3])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
redis.call('PUBLISH', ARGV[4], ARGV[1] .. ' ' .. ARGV[2])
return 1
`

declare module 'ioredis' {
  interface RedisCommander<Context> {
    revokeToken(setKey: string, jti: string, forgetAt: number, now: number, channel: string): Result<number, Context>
  }
}

export interface RevocationSet {
  /** Revokes `jti` for `ttlSeconds`, here at once and on every instance as the message arrives. */
  add(jti: string, ttlSeconds: number): Promise<void>
  /** Whether `jti` was revoked; throws (503, or the insurance policy) while this copy is not current. */
  has(jti: string): boolean
  /** Subscribed, and the set read since the subscription started. */
  readonly current: boolean
  close(): void
}

/**
 * `newSubscriber` makes the connection messages arrive on. One that reconnects by itself is made
 * once; one that ends (a cluster node's) is replaced by a new one.
 */
export function createRevocationSet(client: RedisClient, newSubscriber: () => Redis, keyPrefix: string, log: FastifyBaseLogger): RevocationSet {
  const setKey = `${keyPrefix}:revoked`
  const channel = `${keyPrefix}:revoked`
  client.defineCommand('revokeToken', { numberOfKeys: 1, lua: REVOKE })
  const revoked = new Map<string, number>() // jti → forget-at, epoch ms
  const remember = (jti: string, forgetAt: number) => {
    if (forgetAt > Date.now() && (revoked.get(jti) ?? 0) < forgetAt) revoked.set(jti, forgetAt)
  }

  let current = false
  let closed = false
  let generation = 0 // which subscription a read belongs to: a read from before a drop does not count
  const lost = () => {
    current = false
    generation++
  }
  let subscriber: Redis
  let attempts = 0
  const subscribe = () => {
    const connection = newSubscriber()
    subscriber = connection
    connection.on('message', (_channel: string, message: string) => {
      const space = message.lastIndexOf(' ')
      remember(message.slice(0, space), Number(message.slice(space + 1)))
    })
    connection.on('close', lost)
    connection.on('error', () => undefined) // the main client reports outages
    // Subscribed first, read second: whatever is revoked in between arrives as a message.
    connection.on('ready', () => {
      attempts = 0
      connection.subscribe(channel).then(
        () => resync(),
        () => undefined,
      )
    })
    connection.once('end', () => {
      lost()
      if (!closed) setTimeout(subscribe, Math.min(100 * ++attempts, 1_000)).unref()
    })
  }
  const resync = async () => {
    const mine = generation
    try {
      const now = Date.now()
      await client.zremrangebyscore(setKey, '-inf', now)
      const entries = await client.zrange(setKey, 0, -1, 'WITHSCORES')
      for (let i = 0; i < entries.length; i += 2) remember(entries[i]!, Number(entries[i + 1]))
      for (const [jti, forgetAt] of revoked) if (forgetAt <= now) revoked.delete(jti)
      if (mine === generation && subscriber.status === 'ready') current = true
    } catch (err) {
      log.debug({ err }, 'revocations could not be read from redis; retrying')
      if (mine === generation) setTimeout(() => void resync(), 500).unref()
    }
  }
  subscribe()
  const timer = setInterval(() => void resync(), RESYNC_MS)
  timer.unref()
  // A ping unanswered within the command timeout drops the subscription: the copy stops counting as
  // current, and the reconnection reads the set again.
  const pinger = setInterval(() => {
    if (subscriber.status !== 'ready') return
    subscriber.ping().catch(() => {
      lost() // at once: a hung server does not close the connection, so 'close' would come late
      subscriber.disconnect(true)
    })
  }, PING_MS)
  pinger.unref()

  return {
    async add(jti, ttlSeconds) {
      const now = Date.now()
      const forgetAt = now + Math.ceil(ttlSeconds * 1000)
      try {
        await client.revokeToken(setKey, jti, forgetAt, now, channel)
      } catch (err) {
        throw stateUnavailable(err)
      }
      remember(jti, forgetAt)
    },
    has(jti) {
      if (!current) throw stateUnavailable(new Error('the revocation list is not current'))
      const forgetAt = revoked.get(jti)
      return forgetAt !== undefined && forgetAt > Date.now()
    },
    get current() {
      return current
    },
    close() {
      closed = true
      clearInterval(timer)
      clearInterval(pinger)
      current = false
      subscriber.disconnect()
    },
  }
}
