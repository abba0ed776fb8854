import type { AuthScheme } from '../config/compile.js'

/** Who is calling, as established by an authenticator. */
export interface Principal {
  /** The token's `sub` (a user, or the client for client credentials); the client id for Basic. */
  readonly subject: string
  readonly clientId: string
  readonly scopes: readonly string[]
  readonly method: AuthScheme
  readonly group: string | undefined
}
