// RFC 6749 §4.3, resource owner password credentials: for legacy clients that collect the user's
// password themselves. The user's scopes bound what the client can get on the user's behalf.
import { requireParam } from '../form-params.js'
import { grantScopes } from '../scope.js'
import type { GrantHandler } from './index.js'

export const passwordGrant: GrantHandler = async ({ params, client, addressKey, now, issueTokens, verifyUser }) => {
  const username = requireParam(params, 'username')
  const password = requireParam(params, 'password')
  const user = await verifyUser(username, password, addressKey)
  const scopes = grantScopes(
    params.get('scope'),
    client.scopes.filter((s) => user.scopes.includes(s)),
  )
  const { response } = await issueTokens({ client, subject: user.username, scopes, authTime: Math.floor(now / 1000), withRefresh: true })
  return response
}
