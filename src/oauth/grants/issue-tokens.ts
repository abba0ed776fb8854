// What every grant ends with: an access token and, for a client that may refresh, a refresh token
// in a family (new, or the one being rotated), recorded so that it can be revoked as a whole.
import type { Client } from '../../config/compile.js'
import type { IssuedAccessToken, IssueRequest } from '../access-token.js'
import type { IssuedRecord, TokenState } from '../token-state.js'

export interface TokenResponse {
  readonly access_token: string
  readonly token_type: 'Bearer'
  readonly expires_in: number
  readonly scope: string
  readonly refresh_token?: string
  readonly refresh_expires_in?: number
}

export interface TokenGrant {
  readonly client: Client
  readonly subject: string
  readonly scopes: readonly string[]
  readonly authTime: number
  /** Issue a refresh token too, when the client lists the refresh_token grant. */
  readonly withRefresh: boolean
  /** The family of the refresh token being rotated. */
  readonly familyId?: string
  /** RFC 6749 §6: a rotated refresh token keeps its scopes, even when the access token is narrower. */
  readonly refreshScopes?: readonly string[]
}

export interface IssuedTokens {
  readonly response: TokenResponse
  readonly issued: IssuedRecord
}

export type TokenIssuer = (grant: TokenGrant) => Promise<IssuedTokens>

export function createTokenIssuer(
  issueAccessToken: (req: IssueRequest) => Promise<IssuedAccessToken>,
  state: TokenState,
  refreshTokenTtl: number,
): TokenIssuer {
  return async function issueTokens({ client, subject, scopes, authTime, withRefresh, familyId, refreshScopes }) {
    const access = await issueAccessToken({ clientId: client.id, subject, scopes, group: client.group, authTime })
    const response: TokenResponse = {
      access_token: access.token,
      token_type: 'Bearer',
      expires_in: access.expiresIn,
      scope: access.claims.scope,
    }
    if (!withRefresh || !client.grants.has('refresh_token')) {
      return { response, issued: { accessJti: access.claims.jti, accessExp: access.claims.exp, familyId: undefined } }
    }
    const family = familyId ?? state.newFamilyId()
    const refreshToken = await state.saveRefreshToken({ familyId: family, clientId: client.id, subject, scopes: refreshScopes ?? scopes, authTime })
    await state.saveFamily(family, { revoked: false, accessJti: access.claims.jti, accessExp: access.claims.exp })
    return {
      response: { ...response, refresh_token: refreshToken, refresh_expires_in: refreshTokenTtl },
      issued: { accessJti: access.claims.jti, accessExp: access.claims.exp, familyId: family },
    }
  }
}
