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

/** Failed authentications per IP: once exhausted, no secret from that IP is even checked. */
export async function checkFailureLimit(limiter: Limiter, ip: string): Promise<void> {
  const state = await limiter.peek(ip)
  if (!state.allowed) throw rateLimited(state, 'too many failed authentications from this address', 'auth_failures_exhausted')
}

export async function recordFailure(limiter: Limiter, ip: string): Promise<void> {
  await limiter.consume(ip)
}
