// POST /oauth/token (and each tokenEndpoint.paths entry), as a list of small named steps in the
// manner of node-oidc-provider's lib/actions/token.js.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { GatehouseConfig, TokenPathRule, User } from '../config/compile.js'
import type { GrantTypeName } from '../config/schema.js'
import { GatehouseError } from '../errors.js'
import type { Clock } from './access-token.js'
import { checkIpAllowed } from '../policy/check-ip-allowed.js'
import type { ClientAddress } from '../net/client-address.js'
import { consumeRateLimit } from '../policy/rate-limit.js'
import type { Limiter } from '../store/index.js'
import { extractClientCredentials, type ClientVerifier } from './client-auth.js'
import { errorHandler } from '../http/reply-error.js'
import { formBody, noStore, queryParams, requireParam, type FormParams } from './form-params.js'
import { presentAsAsked } from './legacy-response.js'
import { GRANTS } from './grants/index.js'
import type { TokenIssuer } from './grants/issue-tokens.js'
import { rotateRefreshToken } from './grants/refresh-token.js'
import type { TokenState } from './token-state.js'
import type { UserVerifier } from './user-auth.js'

export interface TokenEndpointDeps {
  readonly config: GatehouseConfig
  readonly resolveClientAddress: (req: FastifyRequest['raw']) => ClientAddress
  readonly verifyClient: ClientVerifier
  /** Token requests per authenticated client. */
  readonly tokenRequests: Limiter
  readonly issueTokens: TokenIssuer
  readonly state: TokenState
  readonly verifyUser: UserVerifier
  readonly users: () => ReadonlyMap<string, User>
  readonly clock: Clock
}

export function registerTokenEndpoint(app: FastifyInstance, deps: TokenEndpointDeps): void {
  /** The steps every token request takes before its grant: who is asking, and may they. */
  const authenticateTokenClient = async (request: FastifyRequest, reply: FastifyReply, params: FormParams) => {
    const credentials = extractClientCredentials(params, request.headers.authorization)
    const { ip, key } = deps.resolveClientAddress(request.raw)
    request.audit.address = ip
    const client = await deps.verifyClient(credentials, key) // counted per address, before the check
    checkIpAllowed(client.allowIps, ip, 'client') // a client gets tokens only from its own ranges
    // Per client only once it has proven who it is, so that no stranger can spend its budget. A
    // public client proves nothing (anyone can send its id), and it is many browsers at once: it is
    // counted per client and address.
    await consumeRateLimit(deps.tokenRequests, client.secret === undefined ? `${client.id} ${key}` : client.id, reply)
    return { client, addressKey: key }
  }

  const handleTokenRequest = (rule: TokenPathRule) => async (request: FastifyRequest, reply: FastifyReply) => {
    // A path with a default grant takes a request with no body at all (POD Shop's curl sends its
    // Basic header alone): the client is authenticated from the header, so a wrong key is 401.
    const params = rule.defaultGrantType !== undefined && request.body === undefined ? new Map<string, string>() : formBody(request)
    const { client, addressKey } = await authenticateTokenClient(request, reply, params)
    const grantType = checkGrantType(params.get('grant_type') ?? rule.defaultGrantType ?? requireParam(params, 'grant_type'), client.grants)
    const issued = await GRANTS[grantType]!({ ...deps, params, client, addressKey, now: deps.clock() })
    request.audit.client = client.id
    request.audit.issued = grantType
    return issued
  }

  // Legacy clients refresh with POST {path}/refresh, refreshToken in the query or the form body.
  const handleLegacyRefresh = async (request: FastifyRequest, reply: FastifyReply) => {
    const params = request.body instanceof Map ? (request.body as FormParams) : new Map<string, string>()
    const fromQuery = queryParams(request.raw.url).get('refreshToken')
    const fromBody = params.get('refreshToken')
    if (fromQuery !== undefined && fromBody !== undefined) {
      throw new GatehouseError('invalid_request', 'send refreshToken once, in the query or the body', { reason: 'param_repeated' })
    }
    const token = fromQuery ?? fromBody
    if (token === undefined) throw new GatehouseError('invalid_request', 'parameter "refreshToken" is missing', { reason: 'param_missing' })
    const { client } = await authenticateTokenClient(request, reply, params)
    checkGrantType('refresh_token', client.grants)
    const issued = await rotateRefreshToken({ ...deps, client }, token, params.get('scope'))
    request.audit.client = client.id
    request.audit.issued = 'refresh_token'
    return issued
  }

  for (const rule of deps.config.tokenEndpoint.paths) {
    // onRequest, so that errors from body parsing (wrong type, too large) are not cached either; the
    // path's own error style and presentation, for its legacy clients.
    const options = {
      onRequest: noStore,
      onSend: presentAsAsked(rule),
      errorHandler: errorHandler({ oauth: true, style: { codes: rule.errorCodes, descriptionField: rule.descriptionField } }),
    }
    app.post(rule.path, options, handleTokenRequest(rule))
    for (const refreshPath of rule.refreshPaths) app.post(routeUrl(refreshPath), options, handleLegacyRefresh)
    app.route({
      ...options,
      method: ['GET', 'PUT', 'PATCH', 'DELETE'],
      url: rule.path,
      handler: async () => {
        throw new GatehouseError('method_not_allowed', 'the token endpoint accepts POST only', {
          reason: 'token_method',
          headers: { allow: 'POST' },
        })
      },
    })
  }
}

/** A configured path as a fastify route URL: each `*` segment becomes a parameter. */
export const routeUrl = (path: string): string => path.replace(/\/\*(?=\/|$)/g, (_, offset: number) => `/:segment${offset}`)

function checkGrantType(grantType: string, allowed: ReadonlySet<GrantTypeName>): GrantTypeName {
  if (!Object.hasOwn(GRANTS, grantType)) {
    throw new GatehouseError('unsupported_grant_type', 'this grant type is not supported', { reason: 'grant_unsupported' })
  }
  if (!allowed.has(grantType as GrantTypeName)) {
    throw new GatehouseError('unauthorized_client', 'this client may not use this grant type', { reason: 'grant_not_allowed' })
  }
  return grantType as GrantTypeName
}
