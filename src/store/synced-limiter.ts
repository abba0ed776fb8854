// A rate limit counted in this process and pushed to Redis every `syncMs` (a route's or client's
// `rateLimit.syncMs`), as Kong's `sync_rate` and APISIX's `sync_interval` do: no Redis round trip
// on the request's path. A window's count in Redis is a hash with one field per instance, holding
// that instance's own total for the window; every sync sets our field and reads the sum, which
// includes the other instances' requests.
//
// Setting a total, rather than adding an increment, makes a push safe to repeat: a pipeline that
// timed out on our side may still run when Redis wakes up, and running it twice changes nothing
// (found by review: INCRBY retried after a stall counted 4 requests as 11 and locked a route out
// for the rest of its window). One sync at a time, and a total never goes down in Redis, so an
// older total never replaces a newer one.
//
// Every push is its own command, with one key: on a Redis Cluster the keys of one sync live on
// different nodes, and one pipeline of them all would be refused (ioredis: "All keys in the
// pipeline should belong to the same slots allocation group"). On one server, ioredis'
// auto-pipelining still sends the commands of one sync in one write.
//
// What it trades: each instance decides on the total as of its last sync, plus its own requests
// since. With N instances, a window can let through up to about N × (requests one instance takes in
// syncMs) over the limit; with one instance it is exact. Windows are fixed and aligned to the clock
// (every instance agrees on them). Never used for the token endpoint or for failure limits, which
// count strictly in Redis.
//
// Bound: keys come from strangers (by: ip), so at most MAX_KEYS per limiter, least recently used
// forgotten (its unsynced requests with it; Redis keeps the rest), as in memory-limiter.ts; in Redis, one hash per key
// and window, one field per instance, expiring after its window.
import { randomUUID } from 'node:crypto'
import type { Result } from 'ioredis'
import { LRUCache } from 'lru-cache'
import type { RateLimitRule } from '../config/compile.js'
import { GatehouseError } from '../errors.js'
import type { Limiter, LimitState } from './index.js'
import { MAX_KEYS } from './memory-limiter.js'
import type { RedisClient } from './redis-connection.js'

interface Entry {
  readonly key: string
  readonly window: number
  /** Requests this instance let through in this window. */
  mine: number
  /** What Redis said the other instances had let through, at the last sync. */
  others: number
  /** When this instance last counted a request of this key. */
  usedAt: number
}

/** Keys that had requests here in the last REFRESH_TICKS syncs learn the others' count every sync. */
const REFRESH_TICKS = 10
/** At most this many such keys are read per tick (most recently used first). */
const MAX_SYNCED = 2_000

// KEYS: the window's hash; ARGV: this instance's field, its total, the TTL in ms. Returns the sum.
// A total never goes down: not when a late push lands, nor when this instance forgot the key.
const PUSH = `
local mine = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[2]) > mine then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local sum = 0
for _, v in ipairs(redis.call('HVALS', KEYS[1])) do sum = sum + tonumber(v) end
return sum
`

declare module 'ioredis' {
  interface RedisCommander<Context> {
    pushWindowCount(key: string, instance: string, total: number, ttlMs: number): Result<number, Context>
  }
}

export interface SyncedLimiter extends Limiter {
  /** Pushes what is pending now (also what the timer does). */
  sync(): Promise<void>
  close(): void
}

export function createSyncedLimiter(
  client: RedisClient,
  prefix: string,
  rule: RateLimitRule,
  syncMs: number,
  onRedisError: 'insurance' | 'deny',
): SyncedLimiter {
  if (!(client as { pushWindowCount?: unknown }).pushWindowCount) client.defineCommand('pushWindowCount', { numberOfKeys: 1, lua: PUSH })
  const instance = randomUUID()
  const durationMs = rule.duration * 1000
  /** Entries whose `mine` changed since it was last sent (or whose push failed). */
  const dirty = new Set<Entry>()
  const entries = new LRUCache<string, Entry>({ max: MAX_KEYS, dispose: (entry) => dirty.delete(entry) })
  const redisKey = (entry: Entry) => `${prefix}:${entry.key}:${entry.window}`
  // Under `deny`, a Redis that has not taken our count for this long makes us stop counting alone.
  const staleAfterMs = 2 * syncMs + 1_000
  let syncing = false
  let lastSynced = Date.now()

  const sync = async () => {
    if (syncing || client.status !== 'ready') return
    syncing = true
    try {
      const now = Date.now()
      const batch: [Entry, number, Promise<number>][] = []
      const push = (entry: Entry) => {
        const ttlMs = Math.max(1, (entry.window + 1) * durationMs - now) + 1_000
        batch.push([entry, entry.mine, client.pushWindowCount(redisKey(entry), instance, entry.mine, ttlMs)])
      }
      // Keys with new requests; then keys used lately, most recent first, so that their next
      // request is not judged on an old count of the others'.
      for (const entry of dirty) push(entry)
      const window = Math.floor(now / durationMs)
      let refreshed = 0
      for (const entry of entries.values()) {
        if (entry.usedAt < now - REFRESH_TICKS * syncMs || refreshed >= MAX_SYNCED) break
        if (entry.window !== window || dirty.has(entry)) continue
        push(entry)
        refreshed++
      }
      dirty.clear()
      if (batch.length === 0) {
        lastSynced = now
        return
      }
      const results = await Promise.allSettled(batch.map(([, , answer]) => answer))
      let failed = false
      batch.forEach(([entry, sent], i) => {
        const result = results[i]!
        const sum = result.status === 'fulfilled' ? result.value : undefined
        if (typeof sum !== 'number') {
          failed = true
          if (entries.peek(entry.key) === entry) dirty.add(entry) // again next tick: setting a total twice is harmless
          return
        }
        entry.others = Math.max(entry.others, sum - sent)
      })
      if (!failed) lastSynced = Date.now()
    } finally {
      syncing = false
    }
  }
  const timer = setInterval(() => void sync(), syncMs)
  timer.unref()

  return {
    rule,
    async consume(key): Promise<LimitState> {
      const now = Date.now()
      // Under `deny`, counting here while Redis is gone or hung would be the insurance policy by
      // another name.
      if (onRedisError === 'deny' && (client.status !== 'ready' || now - lastSynced > staleAfterMs)) {
        throw new GatehouseError('service_unavailable', 'the rate limit store is unavailable', { reason: 'store_unavailable' })
      }
      const window = Math.floor(now / durationMs)
      let entry = entries.get(key)
      if (entry === undefined || entry.window !== window) {
        entry = { key, window, mine: 0, others: 0, usedAt: now }
        entries.set(key, entry)
      }
      entry.usedAt = now
      const used = entry.others + entry.mine
      const resetSeconds = Math.max(1, Math.ceil(((window + 1) * durationMs - now) / 1000))
      if (used >= rule.points) return { allowed: false, limit: rule.points, remaining: 0, resetSeconds }
      entry.mine++
      dirty.add(entry)
      return { allowed: true, limit: rule.points, remaining: rule.points - used - 1, resetSeconds }
    },
    async reward(key) {
      const entry = entries.peek(key)
      if (entry && entry.mine > 0) {
        entry.mine--
        dirty.add(entry)
      }
    },
    sync,
    close() {
      clearInterval(timer)
    },
  }
}
