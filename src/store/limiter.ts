// Adapts a rate-limiter-flexible limiter to our Limiter. Its two kinds of "no" stay apart: a
// RateLimiterRes means over the limit; an Error means the store failed (rate-limiter-flexible has
// already tried the insurance limiter, if there is one).
import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible'
import type { RateLimitRule } from '../config/compile.js'
import { GatehouseError } from '../errors.js'
import type { Limiter, LimitState } from './index.js'

const toState = (rule: RateLimitRule, res: RateLimiterRes | null, allowed: boolean): LimitState => ({
  allowed,
  limit: rule.points,
  remaining: res ? Math.max(0, res.remainingPoints) : rule.points,
  resetSeconds: res ? Math.max(1, Math.ceil(res.msBeforeNext / 1000)) : rule.duration,
})

export function adaptLimiter(limiter: RateLimiterAbstract, rule: RateLimitRule): Limiter {
  const storeFailed = (cause: unknown) =>
    new GatehouseError('service_unavailable', 'the rate limit store is unavailable', { reason: 'store_unavailable', cause })
  return {
    rule,
    async consume(key) {
      try {
        return toState(rule, await limiter.consume(key), true)
      } catch (err) {
        if (err instanceof RateLimiterRes) return toState(rule, err, false)
        throw storeFailed(err)
      }
    },
    async peek(key) {
      try {
        const res = await limiter.get(key)
        return toState(rule, res, res === null || res.remainingPoints > 0)
      } catch (err) {
        throw storeFailed(err)
      }
    },
  }
}
