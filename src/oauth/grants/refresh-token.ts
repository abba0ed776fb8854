// RFC 6749 §6 with rotation (RFC 9700 §4.14.2): every use returns a new refresh token in the same
// family; presenting a used one revokes the whole family, also when the two presentations race
// (see token-state.ts). Scope may narrow, never widen.
import type { Client, User } from '../../config/compile.js'
import { GatehouseError } from '../../errors.js'
import { requireParam } from '../form-params.js'
import { grantScopes } from '../scope.js'
import type { TokenState } from '../token-state.js'
import type { GrantHandler } from './index.js'
import type { TokenIssuer, TokenResponse } from './issue-tokens.js'

const invalidGrant = (description: string, reason: string) => new GatehouseError('invalid_grant', description, { reason })
const refreshReused = () => invalidGrant('the refresh token was already used; every token of its family is revoked', 'refresh_reused')

export interface RefreshContext {
  readonly client: Client
  readonly state: TokenState
  readonly issueTokens: TokenIssuer
  readonly users: () => ReadonlyMap<string, User>
}

export async function rotateRefreshToken(ctx: RefreshContext, token: string, requestedScope: string | undefined): Promise<TokenResponse> {
  const { client, state } = ctx
  const record = await state.peekRefreshToken(token)
  if (!record) {
    const used = await state.usedRefreshToken(token)
    if (used) {
      await state.revokeFamily(used.familyId)
      throw refreshReused()
    }
    throw invalidGrant('the refresh token is invalid or expired', 'refresh_invalid')
  }
  if (record.clientId !== client.id) throw invalidGrant('the refresh token was issued to another client', 'refresh_wrong_client')
  if (await state.isFamilyRevoked(record.familyId)) throw invalidGrant('the refresh token is revoked', 'refresh_revoked')
  // The config may have changed since: a removed user gets nothing, and scopes can only shrink.
  let userScopes: readonly string[]
  if (record.clientItself) {
    if (!client.refreshWithClientCredentials) throw invalidGrant('this client may no longer refresh its own tokens', 'refresh_client_itself_off')
    userScopes = client.scopes
  } else {
    const user = ctx.users().get(record.subject)
    if (!user) throw invalidGrant('the user no longer exists', 'refresh_user_unknown')
    userScopes = user.scopes
  }
  const stillAllowed = record.scopes.filter((s) => client.scopes.includes(s) && userScopes.includes(s))
  const scopes = grantScopes(requestedScope, stillAllowed)
  if (!(await state.useRefreshToken(token, record))) {
    await state.revokeFamily(record.familyId)
    throw refreshReused()
  }
  const { response } = await ctx.issueTokens({
    client,
    subject: record.subject,
    scopes,
    refreshScopes: stillAllowed,
    authTime: record.authTime,
    withRefresh: true,
    ...(record.clientItself ? { clientItself: true } : {}),
    family: { id: record.familyId, revoked: refreshReused },
  })
  return response
}

export const refreshTokenGrant: GrantHandler = (ctx) => rotateRefreshToken(ctx, requireParam(ctx.params, 'refresh_token'), ctx.params.get('scope'))
