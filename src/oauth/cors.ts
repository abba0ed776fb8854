// CORS for the endpoints a browser app calls itself (draft-ietf-oauth-browser-based-apps): the
// token, revocation and introspection endpoints, from the origins each client lists in webOrigins,
// and the JWKS and metadata, from those and the config's top-level webOrigins ("*": any). Never the
// authorize page, which is navigated to, not fetched; never credentials (no cookies travel).
// Written here rather than with @fastify/cors: that plugin always registers OPTIONS /*, which
// collides with the proxy's catch-all route, and these few fixed paths need no more than this.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { GatehouseError } from '../errors.js'

export interface CorsPolicy {
  /** Which origins may read answers at these paths. */
  readonly allows: (origin: string) => boolean
  /** The methods these paths serve (POST, or GET and HEAD). */
  readonly methods: readonly string[]
}

// What a browser app may send, and read, beyond the CORS-safelisted headers.
const ALLOW_HEADERS = 'authorization, content-type'
const EXPOSE_HEADERS = 'www-authenticate, retry-after, ratelimit-limit, ratelimit-remaining, ratelimit-reset'
const MAX_AGE_S = '600'

/** `policies`: by route URL as registered (`/oauth/token`, `/ac/oauth/external/:segment19/refresh`). */
export function registerCors(app: FastifyInstance, policies: ReadonlyMap<string, CorsPolicy>): void {
  const allowedOrigin = (request: FastifyRequest, policy: CorsPolicy) => {
    const origin = request.headers.origin
    return origin !== undefined && policy.allows(origin) ? origin : undefined
  }

  // Every answer at these paths, errors included, so that a browser app can read why it was refused.
  app.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    const policy = policies.get(request.routeOptions.url ?? '')
    if (policy === undefined || request.method === 'OPTIONS') return payload
    reply.header('vary', 'Origin')
    const origin = allowedOrigin(request, policy)
    if (origin) reply.header('access-control-allow-origin', origin).header('access-control-expose-headers', EXPOSE_HEADERS)
    return payload
  })

  for (const [url, policy] of policies) {
    app.options(url, async (request, reply) => {
      const method = request.headers['access-control-request-method']
      // Not a preflight: a plain OPTIONS asks what the path takes (RFC 9110 §9.3.7).
      if (method === undefined)
        return reply
          .header('allow', [...policy.methods, 'OPTIONS'].join(', '))
          .code(204)
          .send()
      const origin = allowedOrigin(request, policy)
      if (!origin || typeof method !== 'string' || !policy.methods.includes(method)) {
        throw new GatehouseError('access_denied', 'this origin may not call this endpoint from a browser', { reason: 'cors_not_allowed' })
      }
      return reply
        .header('vary', 'Origin')
        .header('access-control-allow-origin', origin)
        .header('access-control-allow-methods', policy.methods.join(', '))
        .header('access-control-allow-headers', ALLOW_HEADERS)
        .header('access-control-max-age', MAX_AGE_S)
        .code(204)
        .send()
    })
  }
}
