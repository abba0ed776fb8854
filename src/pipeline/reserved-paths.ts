// The authorization server's own paths (token, authorize, revoke, introspect, discovery) are
// answered by the gateway and never proxied, however they are spelled: `POST /OAUTH/TOKEN`,
// `/oauth//token` or `/oauth/token/` reaching a catch-all route would hand client secrets and
// passwords to an upstream, and `OPTIONS /oauth/token` would let it answer for the gateway.
import { GatehouseError } from '../errors.js'
import { foldCase } from './match-route.js'

/** The gateway's own paths, each with the methods it serves there (an Allow header). */
export type ReservedPaths = ReadonlyMap<string, { readonly path: string; readonly allow: string }>

/** What a path is looked up by: ASCII case folded, trailing slashes dropped. */
const keyOf = (path: string) => foldCase(path.length > 1 ? path.replace(/\/+$/, '') : path)

export function reservePaths(entries: Iterable<readonly [path: string, allow: string]>): ReservedPaths {
  return new Map([...entries].map(([path, allow]) => [keyOf(path), { path, allow }]))
}

export function checkNotReserved(reserved: ReservedPaths, path: string, method: string): void {
  const entry = reserved.get(keyOf(path))
  if (entry === undefined) return
  if (path === entry.path && !entry.allow.split(', ').includes(method)) {
    throw new GatehouseError('method_not_allowed', 'this endpoint does not accept this method', { reason: 'reserved_path_method', headers: { allow: entry.allow } })
  }
  throw new GatehouseError('not_found', 'no route matches this request', { reason: 'reserved_path' })
}
