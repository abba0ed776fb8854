// The Bearer authenticator: an access token of ours (RFC 6750 §2.1, the Authorization header only).
import type { Client } from '../config/compile.js'
import { GatehouseError } from '../errors.js'
import type { VerifiedAccessToken } from '../oauth/access-token.js'
import { bearerChallenge } from '../policy/challenge.js'
import { NOT_MINE, type Authenticator } from './authenticate.js'

// credentials = "Bearer" 1*SP b64token; the scheme is case-insensitive (RFC 7235 §2.1).
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i

export interface BearerDeps {
  readonly verifyAccessToken: (token: string) => Promise<VerifiedAccessToken>
  readonly clients: () => ReadonlyMap<string, Client>
  /** Whether the token's jti was revoked (RFC 7009, or a replayed code or refresh token). */
  readonly isRevoked: (jti: string) => boolean
  /**
   * When the store cannot say (Redis down): true lets the signed, unexpired token through, as
   * store.onRedisError: insurance keeps traffic flowing; false answers 503.
   */
  readonly failOpen: boolean
}

export function bearerAuthenticator({ verifyAccessToken, clients, isRevoked, failOpen }: BearerDeps): Authenticator {
  const revoked = (jti: string) => {
    try {
      return isRevoked(jti)
    } catch (err) {
      if (failOpen) return false
      throw err
    }
  }
  const refuse = (description: string, reason: string) =>
    new GatehouseError('invalid_token', description, {
      reason,
      headers: { 'www-authenticate': bearerChallenge({ error: 'invalid_token', description }) },
    })
  return async ({ headers, query }) => {
    const authorization = headers.authorization
    if (authorization === undefined || !/^bearer(?: |$)/i.test(authorization)) return NOT_MINE
    // RFC 6750 §2: a client uses one method to send a token. Tokens in the URL are not accepted
    // at all (they end up in logs); a token in both places is refused rather than picked from.
    if (/[?&]access_token=/.test(query)) {
      throw new GatehouseError('invalid_request', 'send the access token in the Authorization header only', {
        reason: 'bearer_two_methods',
        headers: { 'www-authenticate': bearerChallenge({ error: 'invalid_request', description: 'send the access token in the Authorization header only' }) },
      })
    }
    const m = BEARER.exec(authorization)
    if (!m) throw refuse('the access token is malformed', 'bearer_malformed')
    let verified: VerifiedAccessToken
    try {
      verified = await verifyAccessToken(m[1]!)
    } catch (err) {
      if (err instanceof GatehouseError) throw refuse(err.message, err.reason ?? 'token_invalid')
      throw err
    }
    const { claims } = verified
    // A client removed from the config loses its tokens at once, not when they expire.
    if (!clients().has(claims.client_id)) throw refuse('the access token is invalid', 'token_client_unknown')
    if (revoked(claims.jti)) throw refuse('the access token was revoked', 'token_revoked')
    return { subject: claims.sub, clientId: claims.client_id, scopes: verified.scopes, method: 'bearer', group: claims.biz }
  }
}
