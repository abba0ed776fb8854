// A fixed-window counter per key, in this process, with a bound on how many keys it keeps. Keys come
// from what strangers send (their address, the username they typed), so the bound must not depend
// on their goodwill: past MAX_KEYS the least recently used key is forgotten, as nginx's limit_req
// zone does when it is full. Forgetting a key resets that key's count; it never refuses anyone.
// Everything here is synchronous, so in one process a consume cannot interleave with another.
import { LRUCache } from 'lru-cache'
import type { RateLimitRule } from '../config/compile.js'
import type { Limiter, LimitState } from './index.js'

/** Keys one limiter keeps; an entry costs about 230 bytes of heap, so a full limiter about 11 MiB. */
export const MAX_KEYS = 50_000

interface Window {
  count: number
  readonly resetAt: number
}

export function createMemoryLimiter(rule: RateLimitRule, maxKeys = MAX_KEYS): Limiter {
  const windows = new LRUCache<string, Window>({ max: maxKeys })
  const durationMs = rule.duration * 1000
  const stateOf = (w: Window, allowed: boolean, now: number): LimitState => ({
    allowed,
    limit: rule.points,
    remaining: Math.max(0, rule.points - w.count),
    resetSeconds: Math.max(1, Math.ceil((w.resetAt - now) / 1000)),
  })
  const current = (key: string, now: number): Window | undefined => {
    const w = windows.get(key)
    return w && w.resetAt > now ? w : undefined
  }
  return {
    rule,
    async consume(key) {
      const now = Date.now()
      let w = current(key, now)
      if (w === undefined) {
        w = { count: 0, resetAt: now + durationMs }
        windows.set(key, w)
      }
      w.count++
      return stateOf(w, w.count <= rule.points, now)
    },
    async reward(key) {
      const w = current(key, Date.now())
      if (w && w.count > 0) w.count--
    },
  }
}
