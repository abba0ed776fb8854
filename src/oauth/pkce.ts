// PKCE (RFC 7636), checked when a code is redeemed.
import { createHash, timingSafeEqual } from 'node:crypto'
import { GatehouseError } from '../errors.js'
import type { CodeRecord } from './token-state.js'

// §4.1 and §4.2: 43 to 128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"
export const PKCE_VALUE = /^[A-Za-z0-9\-._~]{43,128}$/

const invalidGrant = (description: string, reason: string) => new GatehouseError('invalid_grant', description, { reason })

export function verifyCodeVerifier(record: CodeRecord, verifier: string | undefined): void {
  if (record.codeChallenge === undefined) {
    // A verifier for a code issued without a challenge is a downgrade attempt (RFC 9700 §2.1.1).
    if (verifier !== undefined) throw invalidGrant('this code was issued without a code_challenge', 'pkce_unexpected_verifier')
    return
  }
  if (verifier === undefined) throw invalidGrant('code_verifier is required for this code', 'pkce_missing_verifier')
  if (!PKCE_VALUE.test(verifier)) throw invalidGrant('code_verifier is malformed', 'pkce_malformed_verifier')
  const computed = record.codeChallengeMethod === 'plain' ? verifier : createHash('sha256').update(verifier).digest('base64url')
  const a = Buffer.from(computed)
  const b = Buffer.from(record.codeChallenge)
  if (a.length !== b.length || !timingSafeEqual(a, b)) throw invalidGrant('code_verifier does not match the code_challenge', 'pkce_mismatch')
}
