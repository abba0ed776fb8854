// POST /oauth/token (and each tokenEndpoint.paths entry), as a list of small named steps in the
// manner of node-oidc-provider's lib/actions/token.js.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { GatehouseConfig } from '../config/compile.js'
import type { GrantTypeName } from '../config/schema.js'
import { GatehouseError } from '../errors.js'
import type { Clock, IssuedAccessToken, IssueRequest } from './access-token.js'
import { checkIpAllowed } from '../pipeline/check-ip-allowed.js'
import type { ClientAddress } from '../pipeline/client-address.js'
import { consumeRateLimit } from '../pipeline/rate-limit.js'
import type { Limiter } from '../store/index.js'
import { extractClientCredentials, type ClientVerifier } from './client-auth.js'
import { parseFormParams, requireParam, type FormParams } from './form-params.js'
import { GRANTS } from './grants/index.js'

const FORM = 'application/x-www-form-urlencoded'
// Token requests are a few hundred bytes; 16 KiB also bounds the parameter count.
export const TOKEN_BODY_LIMIT = 16 * 1024

export interface TokenEndpointDeps {
  readonly config: GatehouseConfig
  readonly resolveClientAddress: (req: FastifyRequest['raw']) => ClientAddress
  readonly verifyClient: ClientVerifier
  /** Token requests per claimed client_id. */
  readonly tokenRequests: Limiter
  readonly issueAccessToken: (req: IssueRequest) => Promise<IssuedAccessToken>
  readonly clock: Clock
}

export function registerTokenEndpoint(app: FastifyInstance, deps: TokenEndpointDeps): void {
  app.addContentTypeParser(FORM, { parseAs: 'string', bodyLimit: TOKEN_BODY_LIMIT }, (_req, body, done) => {
    try {
      done(null, parseFormParams(body as string))
    } catch (err) {
      done(err as Error, undefined)
    }
  })

  const handleTokenRequest = async (request: FastifyRequest, reply: FastifyReply) => {
    const params = formBody(request)
    const credentials = extractClientCredentials(params, request.headers.authorization)
    const { ip } = deps.resolveClientAddress(request.raw)
    await consumeRateLimit(deps.tokenRequests, credentials.id, reply) // every attempt counts, good or bad
    const client = await deps.verifyClient(credentials, ip)
    checkIpAllowed(client.allowIps, ip, 'client') // a client gets tokens only from its own ranges
    const grantType = checkGrantType(params, client.grants)
    const grant = GRANTS[grantType]!
    return grant({ params, client, issueAccessToken: deps.issueAccessToken, now: deps.clock() })
  }

  for (const path of deps.config.tokenEndpoint.paths) {
    // onRequest, so that errors from body parsing (wrong type, too large) are not cached either.
    app.post(path, { onRequest: noStore }, handleTokenRequest)
    app.route({
      method: ['GET', 'PUT', 'PATCH', 'DELETE'],
      url: path,
      onRequest: noStore,
      handler: async () => {
        throw new GatehouseError('method_not_allowed', 'the token endpoint accepts POST only', {
          reason: 'token_method',
          headers: { allow: 'POST' },
        })
      },
    })
  }
}

/** RFC 6749 §5.1: token responses, and their errors, must not be cached. */
async function noStore(_request: FastifyRequest, reply: FastifyReply): Promise<void> {
  reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
}

/** RFC 6749 §3.2: the parameters come as a form body, nowhere else. */
function formBody(request: FastifyRequest): FormParams {
  if (!(request.body instanceof Map)) {
    throw new GatehouseError('invalid_request', `the request body must be ${FORM}`, { reason: 'token_no_form_body' })
  }
  return request.body as FormParams
}

function checkGrantType(params: FormParams, allowed: ReadonlySet<GrantTypeName>): GrantTypeName {
  const grantType = requireParam(params, 'grant_type')
  if (!Object.hasOwn(GRANTS, grantType)) {
    throw new GatehouseError('unsupported_grant_type', 'this grant type is not supported', { reason: 'grant_unsupported' })
  }
  if (!allowed.has(grantType as GrantTypeName)) {
    throw new GatehouseError('unauthorized_client', 'this client may not use this grant type', { reason: 'grant_not_allowed' })
  }
  return grantType as GrantTypeName
}
