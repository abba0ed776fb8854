// Shared state behind one interface: in memory for one instance, in Redis for many. Rate limits
// live here now; authorization codes, refresh tokens and revocations will too.
import type { RateLimitRule } from '../config/compile.js'

/** The outcome of counting one request against a limit. */
export interface LimitState {
  readonly allowed: boolean
  readonly limit: number
  readonly remaining: number
  /** Seconds until the window resets (and, when refused, until a retry can succeed). */
  readonly resetSeconds: number
}

export interface Limiter {
  readonly rule: RateLimitRule
  /** Counts one request. Throws a GatehouseError (503) when the store fails and the policy is deny. */
  consume(key: string): Promise<LimitState>
  /** Reads the count without adding to it. */
  peek(key: string): Promise<LimitState>
}

export interface Store {
  readonly kind: 'memory' | 'redis'
  /** False while the backing store is unreachable (limits then follow store.onRedisError). */
  readonly ready: boolean
  /** A limiter whose keys live under `name` (e.g. "route:orders:ip"), apart from every other's. */
  limiter(name: string, rule: RateLimitRule): Limiter
  close(): Promise<void>
}
