import { RateLimiterMemory } from 'rate-limiter-flexible'
import type { Store } from './index.js'
import { adaptLimiter } from './limiter.js'

/** Everything in this process: right for one instance; lost on restart. */
export function createMemoryStore(): Store {
  return {
    kind: 'memory',
    ready: true,
    limiter: (name, rule) => adaptLimiter(new RateLimiterMemory({ keyPrefix: name, points: rule.points, duration: rule.duration }), rule),
    close: async () => undefined,
  }
}
