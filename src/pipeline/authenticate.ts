// Authenticate: each accepted scheme's authenticator looks at the request. It answers with a
// Principal, with NOT_MINE ("no credential of my kind here, try the next"), or throws ("your
// credential is bad, stop") — the two kinds of "no" of Oathkeeper's pipeline/authn.
import type { IncomingHttpHeaders } from 'node:http'
import type { AuthScheme, Client, RouteRule } from '../config/compile.js'
import { GatehouseError } from '../errors.js'
import type { VerifiedAccessToken } from '../oauth/access-token.js'
import { bearerChallenge, challengesFor } from './challenge.js'
import type { Principal } from './principal.js'

export const NOT_MINE = Symbol('not-mine')
export type Authenticator = (headers: IncomingHttpHeaders) => Promise<Principal | typeof NOT_MINE>

export interface AuthenticatorDeps {
  readonly verifyAccessToken: (token: string) => Promise<VerifiedAccessToken>
  readonly clients: ReadonlyMap<string, Client>
}

// RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token; the scheme is case-insensitive (RFC 7235 §2.1).
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i

export function bearerAuthenticator({ verifyAccessToken, clients }: AuthenticatorDeps): Authenticator {
  const refuse = (description: string, reason: string) =>
    new GatehouseError('invalid_token', description, {
      reason,
      headers: { 'www-authenticate': bearerChallenge({ error: 'invalid_token', description }) },
    })
  return async (headers) => {
    const authorization = headers.authorization
    if (authorization === undefined || !/^bearer(?: |$)/i.test(authorization)) return NOT_MINE
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
    if (!clients.has(claims.client_id)) throw refuse('the access token is invalid', 'token_client_unknown')
    return { subject: claims.sub, clientId: claims.client_id, scopes: verified.scopes, method: 'bearer', group: claims.biz }
  }
}

export type Authenticators = Readonly<Record<AuthScheme, Authenticator>>

export async function authenticate(route: RouteRule, headers: IncomingHttpHeaders, authenticators: Authenticators): Promise<Principal> {
  for (const scheme of route.auth) {
    const principal = await authenticators[scheme](headers)
    if (principal !== NOT_MINE) return principal
  }
  throw new GatehouseError('invalid_request', 'this route needs credentials', {
    status: 401,
    reason: 'no_credentials',
    headers: { 'www-authenticate': challengesFor(route.auth) },
  })
}
