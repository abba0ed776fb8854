import type { Store } from './index.js'
import { createMemoryLimiter } from './memory-limiter.js'

const SWEEP_EVERY_MS = 60_000

/** Everything in this process: right for one instance; lost on restart. */
export function createMemoryStore(): Store {
  const entries = new Map<string, { value: string; expiresAt: number }>()
  const live = (key: string) => {
    const entry = entries.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt > Date.now()) return entry.value
    entries.delete(key)
    return undefined
  }
  // Expired entries nobody asks for again are dropped here.
  const sweeper = setInterval(() => {
    const now = Date.now()
    for (const [key, entry] of entries) if (entry.expiresAt <= now) entries.delete(key)
  }, SWEEP_EVERY_MS)
  sweeper.unref()

  return {
    kind: 'memory',
    ready: true,
    failures: { outages: 0, errors: 0 },
    limiter: (_name, rule) => createMemoryLimiter(rule), // a limiter per name: keys never meet
    async put(key, value, ttlSeconds) {
      entries.set(key, { value, expiresAt: Date.now() + ttlSeconds * 1000 })
    },
    get: async (key) => live(key),
    // Synchronous from the read to the marker: no other caller runs in between.
    async takeLeavingMarker(key, markerKey, markerValue, ttlSeconds) {
      const value = live(key)
      if (value === undefined) return undefined
      entries.delete(key)
      entries.set(markerKey, { value: markerValue, expiresAt: Date.now() + ttlSeconds * 1000 })
      return value
    },
    async delete(key) {
      entries.delete(key)
    },
    async revokeToken(jti, ttlSeconds) {
      entries.set(`revoked:${jti}`, { value: '1', expiresAt: Date.now() + ttlSeconds * 1000 })
    },
    isTokenRevoked: (jti) => live(`revoked:${jti}`) !== undefined,
    async close() {
      clearInterval(sweeper)
      entries.clear()
    },
  }
}
