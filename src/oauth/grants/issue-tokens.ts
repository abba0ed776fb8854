// What every grant ends with: an access token and, for a client that may refresh, a refresh token
// in a family (new, or the one it joins), recorded so that it can be revoked as a whole.
import type { Client } from '../../config/compile.js'
import type { GatehouseError } from '../../errors.js'
import type { IssuedAccessToken, IssueRequest } from '../access-token.js'
import type { TokenState } from '../token-state.js'

export interface TokenResponse {
  readonly access_token: string
  readonly token_type: 'Bearer'
  readonly expires_in: number
  readonly scope: string
  readonly refresh_token?: string
  readonly refresh_expires_in?: number
}

/** A family that a used-marker names, and so one that a reuse may be revoking while we issue. */
export interface JoinedFamily {
  readonly id: string
  /** The answer when it was revoked meanwhile: the tokens written for it are withdrawn. */
  readonly revoked: () => GatehouseError
}

export interface TokenGrant {
  readonly client: Client
  readonly subject: string
  readonly scopes: readonly string[]
  readonly authTime: number
  /** Issue a refresh token too, when the client lists the refresh_token grant. */
  readonly withRefresh: boolean
  /** The client acts for itself, not for a user (its refresh tokens name no user). */
  readonly clientItself?: boolean
  /**
   * The family of a redeemed code or of the refresh token being rotated. Its record is kept even
   * without a refresh token, so that a replayed code still revokes the access token.
   */
  readonly family?: JoinedFamily
  /** RFC 6749 §6: a rotated refresh token keeps its scopes, even when the access token is narrower. */
  readonly refreshScopes?: readonly string[]
}

export interface IssuedTokens {
  readonly response: TokenResponse
}

export type TokenIssuer = (grant: TokenGrant) => Promise<IssuedTokens>

export function createTokenIssuer(
  issueAccessToken: (req: IssueRequest) => Promise<IssuedAccessToken>,
  state: TokenState,
  refreshTokenTtl: number,
): TokenIssuer {
  return async function issueTokens({ client, subject, scopes, authTime, withRefresh, clientItself, family, refreshScopes }) {
    const access = await issueAccessToken({ client, subject, scopes, authTime })
    const response: TokenResponse = {
      access_token: access.token,
      token_type: 'Bearer',
      expires_in: access.expiresIn,
      scope: access.claims.scope,
    }
    const canRefresh = withRefresh && client.grants.has('refresh_token')
    if (!canRefresh && !family) return { response }
    const familyId = family?.id ?? state.newFamilyId()
    // Writes first, then the family's flag (the winner's order in token-state.ts). A new family
    // has no marker naming it yet, so nothing can revoke it meanwhile.
    const refreshToken = canRefresh
      ? await state.saveRefreshToken({
          familyId,
          clientId: client.id,
          ...(clientItself ? { clientItself } : {}),
          subject,
          scopes: refreshScopes ?? scopes,
          authTime,
        })
      : undefined
    await state.saveFamily(familyId, access.claims)
    if (family && (await state.withdrawIfRevoked(familyId, access.claims, refreshToken))) throw family.revoked()
    if (refreshToken === undefined) return { response }
    return { response: { ...response, refresh_token: refreshToken, refresh_expires_in: refreshTokenTtl } }
  }
}
