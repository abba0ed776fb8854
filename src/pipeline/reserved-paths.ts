// The authorization server's own paths (token, authorize, revoke, introspect, discovery) are
// answered by the gateway and never proxied, however they are spelled: `POST /OAUTH/TOKEN`,
// `/oauth//token` or `/oauth/token/` reaching a catch-all route would hand client secrets and
// passwords to an upstream, and `OPTIONS /oauth/token` would let it answer for the gateway.
import { GatehouseError } from '../errors.js'
import { foldCase } from '../policy/normalise-path.js'

interface Reserved {
  /** As served (a `*` segment matches any one segment). */
  readonly path: string
  /** The methods the gateway serves there, as an Allow header. */
  readonly allow: string
}

/** The gateway's own paths: exact ones by key, and those with `*` segments as patterns. */
export interface ReservedPaths {
  readonly exact: ReadonlyMap<string, Reserved>
  readonly patterns: readonly (Reserved & { readonly key: RegExp })[]
}

/** What a path is looked up by: ASCII case folded, trailing slashes dropped. */
const keyOf = (path: string) => foldCase(path.length > 1 ? path.replace(/\/+$/, '') : path)
const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

export function reservePaths(entries: Iterable<readonly [path: string, allow: string]>): ReservedPaths {
  const exact = new Map<string, Reserved>()
  const patterns: (Reserved & { key: RegExp })[] = []
  for (const [path, allow] of entries) {
    if (!path.split('/').includes('*')) exact.set(keyOf(path), { path, allow })
    else
      patterns.push({
        path,
        allow,
        key: new RegExp(
          `^${keyOf(path)
            .split('/')
            .map((s) => (s === '*' ? '[^/]+' : escapeRegExp(s)))
            .join('/')}$`,
        ),
      })
  }
  return { exact, patterns }
}

export function checkNotReserved(reserved: ReservedPaths, path: string, method: string): void {
  const key = keyOf(path)
  const exact = reserved.exact.get(key)
  const pattern = exact ? undefined : reserved.patterns.find((p) => p.key.test(key))
  const entry = exact ?? pattern
  if (entry === undefined) return
  // Served as spelled (so another method is 405), or another spelling of it (404).
  const served = pattern ? pattern.key.test(path) : path === entry.path
  if (served && !entry.allow.split(', ').includes(method)) {
    throw new GatehouseError('method_not_allowed', 'this endpoint does not accept this method', {
      reason: 'reserved_path_method',
      headers: { allow: entry.allow },
    })
  }
  throw new GatehouseError('not_found', 'no route matches this request', { reason: 'reserved_path' })
}
