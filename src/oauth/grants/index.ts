import type { Client, User } from '../../config/compile.js'
import type { GrantTypeName } from '../../config/schema.js'
import type { FormParams } from '../form-params.js'
import type { TokenState } from '../token-state.js'
import type { UserVerifier } from '../user-auth.js'
import { authorizationCodeGrant } from './authorization-code.js'
import { clientCredentialsGrant } from './client-credentials.js'
import type { TokenIssuer, TokenResponse } from './issue-tokens.js'
import { passwordGrant } from './password.js'
import { refreshTokenGrant } from './refresh-token.js'

export type { TokenResponse } from './issue-tokens.js'

export interface GrantContext {
  readonly params: FormParams
  readonly client: Client
  /** The client's address as limits count it, for counting failed logins. */
  readonly addressKey: string
  /** Milliseconds since the epoch. */
  readonly now: number
  readonly issueTokens: TokenIssuer
  readonly state: TokenState
  readonly verifyUser: UserVerifier
  readonly users: () => ReadonlyMap<string, User>
}

export type GrantHandler = (ctx: GrantContext) => Promise<TokenResponse>

/** The grants of the token endpoint; a client may use those it lists in `grants`. */
export const GRANTS: Partial<Record<GrantTypeName, GrantHandler>> = {
  client_credentials: clientCredentialsGrant,
  password: passwordGrant,
  authorization_code: authorizationCodeGrant,
  refresh_token: refreshTokenGrant,
}
