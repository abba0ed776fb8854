// POST /oauth/introspect (RFC 7662), for confidential clients, about their own tokens: any other
// token, like an invalid, expired or revoked one, is {"active": false} (§2.2).
import type { FastifyInstance } from 'fastify'
import { GatehouseError } from '../errors.js'
import { formBody, noStore, requireParam } from './form-params.js'
import { authenticateEndpointClient, looksLikeJwt, type OwnTokenDeps } from './revoke.js'

export const INTROSPECT_PATH = '/oauth/introspect'

export function registerIntrospectionEndpoint(app: FastifyInstance, deps: OwnTokenDeps): void {
  app.post(INTROSPECT_PATH, { onRequest: noStore }, async (request) => {
    const params = formBody(request)
    const client = await authenticateEndpointClient(deps, request, params)
    // After authentication, not by looking for a secret: `Basic base64("id:")` is a public client too.
    if (client.secret === undefined) {
      throw new GatehouseError('invalid_client', 'introspection needs client authentication', { reason: 'introspect_public_client' })
    }
    const token = requireParam(params, 'token')
    const inactive = { active: false }
    if (looksLikeJwt(token)) {
      const verified = await deps.verifyAccessToken(token).catch(() => undefined)
      if (!verified || verified.claims.client_id !== client.id) return inactive
      if (deps.state.isAccessTokenRevoked(verified.claims.jti)) return inactive
      const { claims } = verified
      return {
        active: true,
        token_type: 'Bearer',
        scope: verified.scopes.join(' '), // as the config grants them now
        client_id: claims.client_id,
        ...(claims.sub !== claims.client_id ? { username: claims.sub } : {}),
        sub: claims.sub,
        aud: claims.aud,
        iss: claims.iss,
        exp: claims.exp,
        iat: claims.iat,
        jti: claims.jti,
      }
    }
    const record = await deps.state.peekRefreshToken(token)
    if (!record || record.clientId !== client.id) return inactive
    if (await deps.state.isFamilyRevoked(record.familyId)) return inactive
    return {
      active: true,
      token_type: 'refresh_token',
      scope: record.scopes.join(' '),
      client_id: record.clientId,
      username: record.subject,
      sub: record.subject,
      exp: record.expiresAt,
    }
  })
}
