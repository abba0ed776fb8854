// Limiters by name and rule, shared by every runtime a reload builds: a route whose limit did not
// change keeps its counters (in memory, and a synced limiter's local counts) across a reload, as
// Kong keeps its counters when its router is rebuilt. A limiter whose rule changed starts afresh;
// one that no live runtime uses any more is closed. Bound: the limiters of the live config.
import type { RateLimitRule } from '../config/compile.js'
import type { Limiter, Store } from './index.js'

export type MakeLimiter = Store['limiter']

export interface LimiterCache {
  /** A maker for one runtime's limiters, which remembers which ones that runtime asked for. */
  forRuntime(): { readonly limiter: MakeLimiter; readonly used: ReadonlySet<string> }
  /** Closes and forgets every limiter not in `used` (the runtime now live asked for no other). */
  retainOnly(used: ReadonlySet<string>): void
}

export function createLimiterCache(store: Store): LimiterCache {
  const made = new Map<string, Limiter>()
  return {
    forRuntime() {
      const used = new Set<string>()
      const limiter: MakeLimiter = (name: string, rule: RateLimitRule, options?: { proxied?: boolean }) => {
        const key = JSON.stringify([name, rule.points, rule.duration, rule.syncMs ?? 0, options?.proxied === true])
        used.add(key)
        let found = made.get(key)
        if (found === undefined) made.set(key, (found = store.limiter(name, rule, options)))
        return found
      }
      return { limiter, used }
    },
    retainOnly(used) {
      for (const [key, limiter] of made) {
        if (used.has(key)) continue
        limiter.close?.()
        made.delete(key)
      }
    },
  }
}
