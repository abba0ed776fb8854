import type { RouteRule } from '../config/compile.js'
import { GatehouseError } from '../errors.js'
import { bearerChallenge } from '../policy/challenge.js'
import type { Principal } from './principal.js'

/** Every scope the route requires must have been granted (RFC 6750 §3.1 insufficient_scope). */
export function authorize(route: RouteRule, principal: Principal): void {
  for (const scope of route.scopes) {
    if (!principal.scopes.includes(scope)) {
      const description = 'the access token does not grant the scopes this route requires'
      const scopeList = route.scopes.join(' ')
      throw new GatehouseError('insufficient_scope', description, {
        reason: 'insufficient_scope',
        headers: principal.method === 'bearer' ? { 'www-authenticate': bearerChallenge({ error: 'insufficient_scope', description, scope: scopeList }) } : {},
      })
    }
  }
}
