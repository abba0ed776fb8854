// Adapts a rate-limiter-flexible Redis limiter to our Limiter. Its two kinds of "no" stay apart: a
// RateLimiterRes means over the limit; an Error means the store failed. Then the insurance limiter
// (in this process, bounded: memory-limiter.ts) counts instead, or, without one, the answer is 503.
import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible'
import type { RateLimitRule } from '../config/compile.js'
import { GatehouseError } from '../errors.js'
import type { Limiter, LimitState } from './index.js'

const toState = (rule: RateLimitRule, res: RateLimiterRes, allowed: boolean): LimitState => ({
  allowed,
  limit: rule.points,
  remaining: Math.max(0, res.remainingPoints),
  resetSeconds: Math.max(1, Math.ceil(res.msBeforeNext / 1000)),
})

const storeFailed = (cause: unknown) => new GatehouseError('service_unavailable', 'the rate limit store is unavailable', { reason: 'store_unavailable', cause })

/** `onError`: told of each store failure, whether the insurance limiter answers or not. */
export function adaptLimiter(
  limiter: RateLimiterAbstract,
  rule: RateLimitRule,
  insurance: Limiter | undefined,
  onError: () => void = () => undefined,
): Limiter {
  return {
    rule,
    async consume(key) {
      try {
        return toState(rule, await limiter.consume(key), true)
      } catch (err) {
        if (err instanceof RateLimiterRes) return toState(rule, err, false)
        onError()
        if (insurance) return insurance.consume(key)
        throw storeFailed(err)
      }
    },
    async reward(key) {
      try {
        await limiter.reward(key)
      } catch (err) {
        onError()
        if (insurance) return insurance.reward(key)
        throw storeFailed(err)
      }
    },
  }
}
