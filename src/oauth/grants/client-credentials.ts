// RFC 6749 §4.4: the client acts for itself; no refresh token is issued (§4.4.3).
import type { GrantHandler } from './index.js'
import { grantScopes } from '../scope.js'

export const clientCredentialsGrant: GrantHandler = async ({ params, client, issueAccessToken, now }) => {
  const scopes = grantScopes(params.get('scope'), client.scopes)
  const issued = await issueAccessToken({
    clientId: client.id,
    subject: client.id,
    scopes,
    group: client.group,
    authTime: Math.floor(now / 1000),
  })
  return {
    access_token: issued.token,
    token_type: 'Bearer',
    expires_in: issued.expiresIn,
    scope: issued.claims.scope,
  }
}
