// The request pipeline of a proxied route, top to bottom. Each step is a small module; a refusal
// is a thrown GatehouseError, turned into the documented JSON and headers by the error handler.
// Order matters: the route's IP allow-list runs before any credential is looked at, and limits
// keyed by ip or route run before authentication, so that floods never reach the secret check.
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Client, RouteRule } from '../config/compile.js'
import type { ClientAddress } from '../net/client-address.js'
import { checkIpAllowed } from '../policy/check-ip-allowed.js'
import { normaliseRequestTarget, type RequestTarget } from '../policy/normalise-path.js'
import { consumeRateLimit } from '../policy/rate-limit.js'
import type { Limiter } from '../store/index.js'
import { authenticate, type Authenticators } from './authenticate.js'
import { authorize } from './authorize.js'
import { matchRoute } from './match-route.js'
import type { Principal } from './principal.js'
import { checkNotReserved, type ReservedPaths } from './reserved-paths.js'
import { GatehouseError } from '../errors.js'

/** What the pipeline decided: the request may go to `route`'s upstream as `principal`. */
export interface Decision {
  readonly route: RouteRule
  readonly target: RequestTarget
  readonly client: ClientAddress
  /** Undefined on a public route. */
  readonly principal: Principal | undefined
}

export interface PipelineDeps {
  readonly routes: readonly RouteRule[]
  readonly clients: () => ReadonlyMap<string, Client>
  readonly resolveClientAddress: (req: FastifyRequest['raw']) => ClientAddress
  /** The authorization server's paths: never proxied. */
  readonly reservedPaths: ReservedPaths
  readonly authenticators: Authenticators
  /** By route id and by client id, for those that have a rateLimit. */
  readonly routeLimiters: ReadonlyMap<string, Limiter>
  readonly clientLimiters: ReadonlyMap<string, Limiter>
}

export function createPipeline({ routes, clients, resolveClientAddress, reservedPaths, authenticators, routeLimiters, clientLimiters }: PipelineDeps) {
  return async function runPipeline(request: FastifyRequest, reply: FastifyReply): Promise<Decision> {
    const client = resolveClientAddress(request.raw)
    request.audit.address = client.ip
    const target = normaliseRequestTarget(request.raw.url ?? '')
    checkNotReserved(reservedPaths, target.path, request.method)
    const route = matchRoute(routes, target.path, request.method)
    request.audit.route = route.id // refusals from here on are logged with their route
    checkIpAllowed(route.allowIps, client.ip, 'route')
    checkDeclaredBodySize(request.headers['content-length'], route.maxBodyBytes)
    const routeLimiter = routeLimiters.get(route.id)
    const by = route.rateLimit?.by
    if (routeLimiter && by === 'ip') await consumeRateLimit(routeLimiter, client.key, reply)
    if (routeLimiter && by === 'route') await consumeRateLimit(routeLimiter, route.id, reply)
    if (route.auth.length === 0) return { route, target, client, principal: undefined }

    const principal = await authenticate(route, { headers: request.headers, addressKey: client.key, query: target.query }, authenticators)
    request.audit.client = principal.clientId
    request.audit.subject = principal.subject
    request.audit.auth = principal.method
    checkIpAllowed(clients().get(principal.clientId)?.allowIps, client.ip, 'client')
    authorize(route, principal)
    if (routeLimiter && by === 'client') await consumeRateLimit(routeLimiter, principal.clientId, reply)
    const clientLimiter = clientLimiters.get(principal.clientId)
    if (clientLimiter) await consumeRateLimit(clientLimiter, principal.clientId, reply)
    return { route, target, client, principal }
  }
}

/** A body declared larger than the route takes is refused before a byte of it is read. */
function checkDeclaredBodySize(contentLength: string | undefined, maxBytes: number): void {
  if (contentLength !== undefined && Number(contentLength) > maxBytes) {
    throw new GatehouseError('invalid_request', 'the request body is too large', { status: 413, reason: 'body_too_large', headers: { connection: 'close' } })
  }
}
