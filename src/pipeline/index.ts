// The request pipeline of a proxied route, top to bottom. Each step is a small module; a refusal
// is a thrown GatehouseError, turned into the documented JSON and headers by the error handler.
import type { FastifyRequest } from 'fastify'
import type { RouteRule } from '../config/compile.js'
import { authenticate, type Authenticators } from './authenticate.js'
import { authorize } from './authorize.js'
import type { ClientAddress } from './client-address.js'
import { matchRoute } from './match-route.js'
import { normaliseRequestTarget, type RequestTarget } from './normalise-path.js'
import type { Principal } from './principal.js'

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
  readonly resolveClientAddress: (req: FastifyRequest['raw']) => ClientAddress
  readonly authenticators: Authenticators
}

export function createPipeline({ routes, resolveClientAddress, authenticators }: PipelineDeps) {
  return async function runPipeline(request: FastifyRequest): Promise<Decision> {
    const client = resolveClientAddress(request.raw)
    const target = normaliseRequestTarget(request.raw.url ?? '')
    const route = matchRoute(routes, target.path, request.method)
    const principal = route.auth.length === 0 ? undefined : await authenticate(route, request.headers, authenticators)
    if (principal) authorize(route, principal)
    return { route, target, client, principal }
  }
}
