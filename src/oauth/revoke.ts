// POST /oauth/revoke (RFC 7009). A client revokes its own tokens: a refresh token takes its whole
// family with it (and the family's live access tokens, §2.1); an access token is refused on
// routes until it would have expired. The answer is 200 whether or not the token was valid
// (§2.2), so that it tells nothing about tokens the client does not own.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { VerifiedAccessToken } from './access-token.js'
import { extractClientCredentials, type ClientVerifier } from './client-auth.js'
import type { ClientAddress } from '../net/client-address.js'
import { checkIpAllowed } from '../policy/check-ip-allowed.js'
import { formBody, noStore, requireParam, type FormParams } from './form-params.js'
import type { TokenState } from './token-state.js'
import type { Client } from '../config/compile.js'

export const REVOKE_PATH = '/oauth/revoke'

export interface OwnTokenDeps {
  readonly resolveClientAddress: (req: FastifyRequest['raw']) => ClientAddress
  readonly verifyClient: ClientVerifier
  readonly verifyAccessToken: (token: string) => Promise<VerifiedAccessToken>
  readonly state: TokenState
}

/** Authenticates the client of a revocation or introspection request. */
export async function authenticateEndpointClient(deps: OwnTokenDeps, request: FastifyRequest, params: FormParams): Promise<Client> {
  const credentials = extractClientCredentials(params, request.headers.authorization)
  const { ip, key } = deps.resolveClientAddress(request.raw)
  const client = await deps.verifyClient(credentials, key)
  checkIpAllowed(client.allowIps, ip, 'client')
  return client
}

/** A JWT has three dot-separated parts; our refresh tokens are opaque and have none. */
export const looksLikeJwt = (token: string) => token.split('.').length === 3

export function registerRevocationEndpoint(app: FastifyInstance, deps: OwnTokenDeps): void {
  app.post(REVOKE_PATH, { onRequest: noStore }, async (request, reply) => {
    const params = formBody(request)
    const client = await authenticateEndpointClient(deps, request, params)
    const token = requireParam(params, 'token')
    // token_type_hint is only a hint (§2.1): the token's form says what it is.
    if (looksLikeJwt(token)) {
      const verified = await deps.verifyAccessToken(token).catch(() => undefined)
      if (verified && verified.claims.client_id === client.id) await deps.state.revokeAccessToken(verified.claims.jti, verified.claims.exp)
    } else {
      // A rotated-out refresh token still names its family: its owner revoking it (logging out
      // after a thief rotated it, or while a rotation runs) takes the family with it.
      const owned = (await deps.state.peekRefreshToken(token)) ?? (await deps.state.usedRefreshToken(token))
      if (owned?.clientId === client.id) await deps.state.revokeFamily(owned.familyId)
    }
    return reply.code(200).send()
  })
}
