// The authorization server's own paths (token, authorize, revoke, introspect, discovery) are
// answered by the gateway and never proxied, however they are spelled: `POST /OAUTH/TOKEN`,
// `/oauth//token` or `/oauth/token/` reaching a catch-all route would hand client secrets and
// passwords to an upstream, and `OPTIONS /oauth/token` would let it answer for the gateway.
import { GatehouseError } from '../errors.js'
import { foldCase } from './match-route.js'

/** Path → the methods the gateway serves there, as an Allow header. */
export type ReservedPaths = ReadonlyMap<string, string>

export function checkNotReserved(reserved: ReservedPaths, path: string, method: string): void {
  const key = foldCase(path.length > 1 ? path.replace(/\/+$/, '') : path)
  const allow = reserved.get(key)
  if (allow === undefined) return
  if (path === key && !allow.split(', ').includes(method)) {
    throw new GatehouseError('method_not_allowed', 'this endpoint does not accept this method', { reason: 'reserved_path_method', headers: { allow } })
  }
  throw new GatehouseError('not_found', 'no route matches this request', { reason: 'reserved_path' })
}
