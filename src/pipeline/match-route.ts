import type { RouteRule } from '../config/compile.js'
import { GatehouseError } from '../errors.js'
import { encodePath, foldCase } from '../policy/normalise-path.js'

const prefixMatches = (prefix: string, path: string) =>
  prefix === '/' || (path.startsWith(prefix) && (path.length === prefix.length || path.charCodeAt(prefix.length) === /* / */ 47))

/**
 * The route for a normalised path and method: prefix match at a segment boundary, longest prefix
 * first (routes are sorted at load). Among the routes of that longest prefix, the first that lists
 * the method wins (HEAD counts as GET: RFC 9110 §9.3.2, and Express, Rails and Django run the GET
 * handler for it). A method none of them lists is 405 with Allow; it never falls through to a
 * shorter prefix, where a public route could serve what the longer one protects (verb tampering).
 * Matching ignores ASCII case: Express (by default), IIS and Windows serve /api/Admin as
 * /api/admin, so a rule for one must hold for the other. The path goes upstream as it came.
 */
export function matchRoute(routes: readonly RouteRule[], rawPath: string, method: string): RouteRule {
  const path = foldCase(rawPath)
  let prefix: string | undefined
  const allowed = new Set<string>()
  for (const route of candidates(routes, path)) {
    if (prefix === undefined) {
      if (!prefixMatches(route.matchPath, path)) continue
      prefix = route.matchPath
    } else if (route.matchPath !== prefix) {
      if (route.matchPath.length < prefix.length) break
      continue
    }
    if (route.methods === undefined || route.methods.has(method)) return route
    for (const m of route.methods) allowed.add(m)
  }
  if (prefix === undefined) throw new GatehouseError('not_found', 'no route matches this request', { reason: 'no_route' })
  throw new GatehouseError('method_not_allowed', 'this route does not accept this method', {
    reason: 'method_not_allowed',
    headers: { allow: [...allowed].sort().join(', ') },
  })
}

// Routes by the first segment of their prefix: a prefix can only match a path that starts with the
// same segment (or be "/"), so a request looks at its own bucket, not at every route. Each bucket
// keeps the routes' order (longest prefix first), with the "/" routes last. Built once per list.
const indexes = new WeakMap<readonly RouteRule[], Map<string, readonly RouteRule[]>>()
const firstSegment = (path: string) => {
  const end = path.indexOf('/', 1)
  return end === -1 ? path : path.slice(0, end)
}

function candidates(routes: readonly RouteRule[], path: string): readonly RouteRule[] {
  let index = indexes.get(routes)
  if (index === undefined) {
    const root = routes.filter((r) => r.matchPath === '/')
    const buckets = new Map<string, RouteRule[]>()
    for (const route of routes) {
      if (route.matchPath === '/') continue
      const key = firstSegment(route.matchPath)
      const bucket = buckets.get(key)
      if (bucket) bucket.push(route)
      else buckets.set(key, [route])
    }
    index = new Map([...buckets].map(([key, bucket]) => [key, [...bucket, ...root]] as const))
    index.set('', root) // no bucket: only "/" routes can match
    indexes.set(routes, index)
  }
  return index.get(firstSegment(path)) ?? index.get('')!
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
