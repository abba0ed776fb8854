// RFC 6749 §4.1.3 with PKCE (RFC 7636): a code is redeemed once, by the client it was issued to,
// with the redirect_uri of its authorization request. A code presented again revokes everything
// issued for it (RFC 6749 §4.1.2: "the authorization server ... SHOULD revoke"), also when the two
// presentations race (see token-state.ts).
import { GatehouseError } from '../../errors.js'
import { requireParam } from '../form-params.js'
import { verifyCodeVerifier } from '../pkce.js'
import type { GrantHandler } from './index.js'

const invalidGrant = (description: string, reason: string) => new GatehouseError('invalid_grant', description, { reason })
const codeReplayed = () => invalidGrant('the authorization code was already used; the tokens issued for it are revoked', 'code_replayed')

export const authorizationCodeGrant: GrantHandler = async ({ params, client, state, issueTokens }) => {
  const redemption = await state.redeemCode(requireParam(params, 'code'))
  if (redemption.status === 'replayed') {
    await state.revokeFamily(redemption.familyId)
    throw codeReplayed()
  }
  if (redemption.status === 'unknown') throw invalidGrant('the authorization code is invalid or expired', 'code_invalid')
  const { record, familyId } = redemption
  if (record.clientId !== client.id) throw invalidGrant('the authorization code was issued to another client', 'code_wrong_client')
  const redirectUri = params.get('redirect_uri')
  if (record.redirectUriGiven ? redirectUri !== record.redirectUri : redirectUri !== undefined && redirectUri !== record.redirectUri) {
    throw invalidGrant('redirect_uri does not match the authorization request', 'code_redirect_mismatch')
  }
  verifyCodeVerifier(record, params.get('code_verifier'))
  const { response } = await issueTokens({
    client,
    subject: record.subject,
    scopes: record.scopes,
    authTime: record.authTime,
    withRefresh: true,
    family: { id: familyId, revoked: codeReplayed },
  })
  return response
}
