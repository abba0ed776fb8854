import type { Client } from '../../config/compile.js'
import type { GrantTypeName } from '../../config/schema.js'
import type { IssuedAccessToken, IssueRequest } from '../access-token.js'
import type { FormParams } from '../form-params.js'
import { clientCredentialsGrant } from './client-credentials.js'

export interface TokenResponse {
  readonly access_token: string
  readonly token_type: 'Bearer'
  readonly expires_in: number
  readonly scope: string
  readonly refresh_token?: string
  readonly refresh_expires_in?: number
}

export interface GrantContext {
  readonly params: FormParams
  readonly client: Client
  readonly issueAccessToken: (req: IssueRequest) => Promise<IssuedAccessToken>
  /** Milliseconds since the epoch. */
  readonly now: number
}

export type GrantHandler = (ctx: GrantContext) => Promise<TokenResponse>

/** The grants this gateway implements; a client may use those it lists in `grants`. */
export const GRANTS: Partial<Record<GrantTypeName, GrantHandler>> = {
  client_credentials: clientCredentialsGrant,
}
