// Authenticate: each accepted scheme's authenticator looks at the request. It answers with a
// Principal, with NOT_MINE ("no credential of my kind here, try the next"), or throws ("your
// credential is bad, stop") — the two kinds of "no" of Oathkeeper's pipeline/authn.
import type { IncomingHttpHeaders } from 'node:http'
import type { AuthScheme, RouteRule } from '../config/compile.js'
import { GatehouseError } from '../errors.js'
import { challengesFor } from '../policy/challenge.js'
import type { Principal } from './principal.js'

export const NOT_MINE = Symbol('not-mine')

export interface AuthnInput {
  readonly headers: IncomingHttpHeaders
  /** The client's address as limits count it, for throttling failed attempts. */
  readonly addressKey: string
  /** The raw query string with its `?`, or ''. */
  readonly query: string
}

export type Authenticator = (input: AuthnInput) => Promise<Principal | typeof NOT_MINE>
export type Authenticators = Readonly<Record<AuthScheme, Authenticator>>

export async function authenticate(route: RouteRule, input: AuthnInput, authenticators: Authenticators): Promise<Principal> {
  for (const scheme of route.auth) {
    const principal = await authenticators[scheme](input)
    if (principal !== NOT_MINE) return principal
  }
  throw new GatehouseError('invalid_request', 'this route needs credentials', {
    status: 401,
    reason: 'no_credentials',
    headers: { 'www-authenticate': challengesFor(route.auth) },
  })
}
