// Shared state behind one interface: in memory for one instance, in Redis for many. Rate limits,
// authorization codes, refresh tokens, token families and revocations all live here, every entry
// with a TTL so that nothing grows without bound.
import type { RateLimitRule } from '../config/compile.js'
import { GatehouseError } from '../errors.js'

/** Token state cannot be insured like a counter: when the store fails, the answer is 503. */
export const stateUnavailable = (cause: unknown) =>
  new GatehouseError('service_unavailable', 'the token store is unavailable', { reason: 'store_unavailable', cause })

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
  /** Gives one counted request back (a reserved attempt that succeeded). */
  reward(key: string): Promise<void>
  /** Stops its timers (a synced limiter's sync), when a reload leaves it unused. */
  close?(): void
}

export interface Store {
  readonly kind: 'memory' | 'redis'
  /** False while the backing store is unreachable (limits then follow store.onRedisError). */
  readonly ready: boolean
  /** Since start: outages (each counted once, however long), and commands that failed (metrics). */
  readonly failures: { readonly outages: number; readonly errors: number }
  /**
   * A limiter whose keys live under `name` (e.g. "route:orders:ip"), apart from every other's.
   * `proxied`: a route's or client's limit, never rewarded, so a key over its limit is refused from
   * memory until its window ends (no Redis call), and `rule.syncMs` may count it locally.
   */
  limiter(name: string, rule: RateLimitRule, options?: { proxied?: boolean }): Limiter
  /** Stores `value` under `key` for `ttlSeconds`. */
  put(key: string, value: string, ttlSeconds: number): Promise<void>
  get(key: string): Promise<string | undefined>
  /**
   * Reads and deletes `key` and, only if it was there, sets `markerKey` to `markerValue` for
   * `ttlSeconds`, all in one atomic step: of callers racing for `key`, exactly one gets its value,
   * and no caller sees `key` taken without its marker. Both keys must share a Redis Cluster hash
   * tag (`code:{x}`, `code-used:{x}`).
   */
  takeLeavingMarker(key: string, markerKey: string, markerValue: string, ttlSeconds: number): Promise<string | undefined>
  delete(key: string): Promise<void>
  /** Refuses the access token `jti` for `ttlSeconds`, on every instance that shares this store. */
  revokeToken(jti: string, ttlSeconds: number): Promise<void>
  /**
   * Whether `jti` was revoked: from memory, with no round trip (Redis: a local copy kept current
   * over pub/sub). Throws a GatehouseError (503) when that copy cannot be trusted.
   */
  isTokenRevoked(jti: string): boolean
  close(): Promise<void>
}
