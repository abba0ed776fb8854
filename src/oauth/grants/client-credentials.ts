// RFC 6749 §4.4: the client acts for itself; no refresh token is issued (§4.4.3), unless the client
// opts in to the legacy deviation (token.refreshWithClientCredentials: POD Shop's clients expect one).
import { grantScopes } from '../scope.js'
import type { GrantHandler } from './index.js'

export const clientCredentialsGrant: GrantHandler = async ({ params, client, issueTokens, now }) => {
  const scopes = grantScopes(params.get('scope'), client.scopes)
  const { response } = await issueTokens({
    client,
    subject: client.id,
    scopes,
    authTime: Math.floor(now / 1000),
    withRefresh: client.refreshWithClientCredentials,
    clientItself: true,
  })
  return response
}
