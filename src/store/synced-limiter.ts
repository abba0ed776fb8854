// A rate limit counted in this process and pushed to Redis every `syncMs` (a route's or client's
// `rateLimit.syncMs`), as Kong's `sync_rate` and APISIX's `sync_interval` do: no Redis round trip
// on the request's path. Every sync adds this instance's new requests to the shared count of the
// window (one INCRBY per key that had requests, in one pipeline) and learns the total, which
// includes the other instances'.
//
// What it trades: each instance decides on the total as of its last sync, plus its own requests
// since. With N instances, a window can let through up to about N × (requests one instance takes in
// syncMs) over the limit; with one instance it is exact. Windows are fixed and aligned to the clock
// (every instance agrees on them). Never used for the token endpoint or for failure limits, which
// count strictly in Redis.
//
// Bound: keys come from strangers (by: ip), so at most MAX_KEYS per limiter, least recently used
// forgotten (its unsynced requests with it), as in memory-limiter.ts.
import type { Redis } from 'ioredis'
import { LRUCache } from 'lru-cache'
import type { RateLimitRule } from '../config/compile.js'
import { GatehouseError } from '../errors.js'
import type { Limiter, LimitState } from './index.js'
import { MAX_KEYS } from './memory-limiter.js'

interface Entry {
  readonly key: string
  readonly window: number
  /** The window's total in Redis at the last sync (ours included). */
  known: number
  /** Our requests since, not yet added to Redis. */
  pending: number
  /** When this instance last counted a request of this key. */
  usedAt: number
}

/** Keys that had requests here in the last REFRESH_TICKS syncs learn the others' count every sync. */
const REFRESH_TICKS = 10
/** At most this many such keys are read per sync (most recently used first). */
const MAX_REFRESH = 1_000

export interface SyncedLimiter extends Limiter {
  /** Pushes what is pending now (also what the timer does). */
  sync(): Promise<void>
  close(): void
}

export function createSyncedLimiter(client: Redis, prefix: string, rule: RateLimitRule, syncMs: number, onRedisError: 'insurance' | 'deny'): SyncedLimiter {
  const durationMs = rule.duration * 1000
  const dirty = new Set<string>()
  const entries = new LRUCache<string, Entry>({ max: MAX_KEYS, dispose: (_entry, key) => dirty.delete(key) })
  const redisKey = (key: string, window: number) => `${prefix}:${key}:${window}`

  const sync = async () => {
    if (client.status !== 'ready') return
    const now = Date.now()
    const pushed: [Entry, number][] = []
    const pushedEntries = new Set<Entry>()
    const read: Entry[] = []
    const pipeline = client.pipeline()
    for (const key of dirty) {
      const entry = entries.peek(key)
      if (!entry) continue
      pipeline.incrby(redisKey(key, entry.window), entry.pending)
      pipeline.pexpire(redisKey(key, entry.window), Math.max(1, (entry.window + 1) * durationMs - now) + 1_000)
      pushed.push([entry, entry.pending])
      pushedEntries.add(entry)
    }
    dirty.clear()
    // A key this instance used lately but has nothing new for still learns what the others took,
    // so that its next request is not judged on an old count.
    for (const entry of entries.values()) {
      if (entry.usedAt < now - REFRESH_TICKS * syncMs || read.length >= MAX_REFRESH) break // most recent first
      if (!pushedEntries.has(entry)) {
        pipeline.get(redisKey(entry.key, entry.window))
        read.push(entry)
      }
    }
    if (pushed.length === 0 && read.length === 0) return
    const results = await pipeline.exec().catch(() => null)
    pushed.forEach(([entry, sent], i) => {
      const [err, total] = results?.[2 * i] ?? [new Error('no answer')]
      // A failed push is tried again at the next tick, with what came since.
      if (err || typeof total !== 'number') return void (entries.peek(entry.key) === entry && dirty.add(entry.key))
      entry.pending -= sent
      entry.known = Math.max(entry.known, total - entry.pending)
    })
    read.forEach((entry, i) => {
      const [err, total] = results?.[2 * pushed.length + i] ?? [new Error('no answer')]
      if (!err) entry.known = Math.max(entry.known, Number(total ?? 0))
    })
  }
  const timer = setInterval(() => void sync(), syncMs)
  timer.unref()

  return {
    rule,
    async consume(key): Promise<LimitState> {
      // Under `deny`, counting here while Redis is gone would be the insurance policy by another name.
      if (onRedisError === 'deny' && client.status !== 'ready') {
        throw new GatehouseError('service_unavailable', 'the rate limit store is unavailable', { reason: 'store_unavailable' })
      }
      const now = Date.now()
      const window = Math.floor(now / durationMs)
      let entry = entries.get(key)
      if (entry === undefined || entry.window !== window) {
        entry = { key, window, known: 0, pending: 0, usedAt: now }
        entries.set(key, entry)
      }
      entry.usedAt = now
      const used = entry.known + entry.pending
      const resetSeconds = Math.max(1, Math.ceil(((window + 1) * durationMs - now) / 1000))
      if (used >= rule.points) return { allowed: false, limit: rule.points, remaining: 0, resetSeconds }
      entry.pending++
      dirty.add(key)
      return { allowed: true, limit: rule.points, remaining: rule.points - used - 1, resetSeconds }
    },
    async reward(key) {
      const entry = entries.peek(key)
      if (entry && entry.pending > 0) entry.pending--
    },
    sync,
    close() {
      clearInterval(timer)
    },
  }
}
