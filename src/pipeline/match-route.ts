import type { RouteRule } from '../config/compile.js'
import { GatehouseError } from '../errors.js'
import { encodePath } from './normalise-path.js'

/** ASCII letters folded to lower case; the length never changes, so prefixes line up. */
export const foldCase = (path: string): string => path.replace(/[A-Z]+/g, (m) => m.toLowerCase())

/**
 * The route for a normalised path and method: prefix match at a segment boundary, longest prefix
 * first (routes are sorted at load). No route is 404, also when only the method differs, as Kong does.
 * Matching ignores ASCII case: Express (by default), IIS and Windows serve /api/Admin as
 * /api/admin, so a rule for one must hold for the other. The path goes upstream as it came.
 */
export function matchRoute(routes: readonly RouteRule[], rawPath: string, method: string): RouteRule {
  const path = foldCase(rawPath)
  for (const route of routes) {
    const p = route.matchPath
    const prefixMatches =
      p === '/' || (path.startsWith(p) && (path.length === p.length || path.charCodeAt(p.length) === 47 /* / */))
    if (prefixMatches && (route.methods === undefined || route.methods.has(method))) return route
  }
  throw new GatehouseError('not_found', 'no route matches this request', { reason: 'no_route' })
}

/**
 * The path sent upstream: the route's prefix swapped for rewritePrefix, under the upstream's base
 * path. `path` is the decoded, normalised path that matched; `encodedPath` its canonical encoding.
 */
export function upstreamPath(route: RouteRule, path: string, encodedPath: string): string {
  if (route.rewritePrefix === undefined) return route.upstreamBasePath + encodedPath
  const rest = encodePath(route.path === '/' ? path : path.slice(route.path.length))
  return route.upstreamBasePath + (route.rewritePrefix === '/' ? rest || '/' : encodePath(route.rewritePrefix) + rest)
}
