import type { RouteRule } from '../config/compile.js'
import { GatehouseError } from '../errors.js'

/**
 * The route for a normalised path and method: prefix match at a segment boundary, longest prefix
 * first (routes are sorted at load). No route is 404, also when only the method differs, as Kong does.
 */
export function matchRoute(routes: readonly RouteRule[], path: string, method: string): RouteRule {
  for (const route of routes) {
    const p = route.path
    const prefixMatches =
      p === '/' || (path.startsWith(p) && (path.length === p.length || path.charCodeAt(p.length) === 47 /* / */))
    if (prefixMatches && (route.methods === undefined || route.methods.has(method))) return route
  }
  throw new GatehouseError('not_found', 'no route matches this request', { reason: 'no_route' })
}

/** The path sent upstream: the route's prefix swapped for rewritePrefix, under the upstream's base path. */
export function upstreamPath(route: RouteRule, encodedPath: string): string {
  if (route.rewritePrefix === undefined) return route.upstreamBasePath + encodedPath
  const rest = route.path === '/' ? encodedPath : encodedPath.slice(route.path.length)
  return route.upstreamBasePath + (route.rewritePrefix === '/' ? rest || '/' : route.rewritePrefix + rest)
}
