// Counting requests against limits, and telling the client where it stands: RateLimit-Limit,
// RateLimit-Remaining and RateLimit-Reset on every limited response (the tightest limit wins when
// several apply), and 429 with Retry-After when one is exhausted.
import type { FastifyReply } from 'fastify'
import { GatehouseError } from '../errors.js'
import type { Limiter, LimitState } from '../store/index.js'

const rateLimited = (state: LimitState, description: string, reason: string) =>
  new GatehouseError('rate_limited', description, { reason, headers: { 'retry-after': String(state.resetSeconds) } })

function setRateLimitHeaders(reply: FastifyReply, state: LimitState): void {
  const current = reply.getHeader('ratelimit-remaining')
  if (state.allowed && current !== undefined && Number(current) <= state.remaining) return
  reply.header('ratelimit-limit', state.limit).header('ratelimit-remaining', state.remaining).header('ratelimit-reset', state.resetSeconds)
}

export async function consumeRateLimit(limiter: Limiter, key: string, reply: FastifyReply, reason = 'rate_limited'): Promise<void> {
  const state = await limiter.consume(key)
  setRateLimitHeaders(reply, state)
  if (!state.allowed) throw rateLimited(state, 'too many requests', reason)
}

/** A guess at a secret, counted before it is checked; `succeeded` gives it back. */
export interface Attempt {
  succeeded(): Promise<void>
}

/**
 * Counts one guess against every limit that applies (per address, per username) before the secret
 * is checked, and refuses it with 429 past any of them. Counting only after a wrong guess is a
 * check-then-act race: guesses sent together all pass the check before the first failure is
 * counted (Keycloak CVE-2024-4629). Reserved first, at most `points` guesses per window are ever
 * checked, however many arrive at once, in one process or many on one Redis. A right secret gives
 * its reservation back, so the limits count failures and guesses still in flight.
 */
export async function reserveAttempt(limits: readonly (readonly [Limiter, string])[]): Promise<Attempt> {
  const states = await Promise.all(limits.map(([limiter, key]) => limiter.consume(key)))
  const giveBack = async (which: (i: number) => boolean) => {
    await Promise.all(limits.filter((_, i) => which(i)).map(([limiter, key]) => limiter.reward(key).catch(() => undefined)))
  }
  const refused = states.find((state) => !state.allowed)
  if (refused) {
    // Not checked: the limits that did let it through get their point back.
    await giveBack((i) => states[i]!.allowed)
    throw rateLimited(refused, 'too many failed authentications from this address', 'auth_failures_exhausted')
  }
  return { succeeded: () => giveBack(() => true) }
}
