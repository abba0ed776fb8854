// The headers the upstream receives. The upstream trusts X-Auth-* because nothing else can reach
// it, so every inbound header that could be read as one is removed before ours are set.
import type { IncomingHttpHeaders } from 'node:http'
import type { RouteRule } from '../config/compile.js'
import type { ForwardedFor } from '../net/client-address.js'
import type { Principal } from './principal.js'

// Hop-by-hop headers (RFC 9110 §7.6.1) and the ones undici refuses to send; the headers a request
// names in its `Connection:` are hop-by-hop too, and go as well. Host is the upstream's own.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'http2-settings',
  'expect',
  'proxy-authorization',
  'proxy-authenticate',
  'host',
])
// Rebuilt below from what we know, never passed on from the client.
const REBUILT = new Set([
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-port',
  'x-forwarded-prefix',
  'x-real-ip',
  'x-request-id',
])
// Headers that make some upstreams (IIS, Symfony, Rails, Express method-override, or a proxy
// behind us, as in oauth2-proxy CVE-2026-40575) take another path or method than the one matched.
const REINTERPRETING = new Set([
  'x-original-url',
  'x-original-uri',
  'x-rewrite-url',
  'x-forwarded-uri',
  'x-forwarded-path',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
])

/**
 * An inbound header the upstream could take for one of ours: any `x-auth-*`, in any case, and the
 * `_` and `.` spellings that WSGI and PHP fold into the same CGI variable (HTTP_X_AUTH_SUBJECT).
 */
export function isIdentityHeaderName(lowerName: string): boolean {
  if (lowerName.length < 7) return false
  const prefix = lowerName.slice(0, 7)
  return prefix === 'x-auth-' || prefix.replace(/[_.]/g, '-') === 'x-auth-'
}

export function injectIdentityHeaders(
  inbound: IncomingHttpHeaders,
  route: RouteRule,
  principal: Principal | undefined,
  forwarded: ForwardedFor,
  requestId: string,
): IncomingHttpHeaders {
  const headers: IncomingHttpHeaders = {}
  const named = inbound.connection === undefined ? undefined : connectionNamed(inbound.connection)
  for (const name of Object.keys(inbound)) {
    if (HOP_BY_HOP.has(name) || named?.has(name) || REBUILT.has(name) || REINTERPRETING.has(name) || isIdentityHeaderName(name)) continue
    if (name === 'authorization' && !route.forwardAuthorization) continue
    headers[name] = inbound[name]
  }
  headers.host = route.upstreamHost
  headers['x-request-id'] = requestId // the client's when well-formed (http/request-id.ts), else ours
  if (principal) {
    headers['x-auth-subject'] = principal.subject
    headers['x-auth-client-id'] = principal.clientId
    headers['x-auth-scope'] = principal.scopes.join(' ')
    headers['x-auth-method'] = principal.method
    if (principal.group !== undefined) headers['x-auth-group'] = principal.group
  }
  headers['x-forwarded-for'] = forwarded.chain.join(', ')
  headers['x-forwarded-proto'] = forwarded.proto
  if (forwarded.host !== undefined) headers['x-forwarded-host'] = forwarded.host
  return headers
}

/**
 * The header names a `Connection:` header lists (RFC 9110 §7.6.1), lower-cased. Whatever the
 * client names there is removed, but never ours: they are set after this, and undici's own
 * Connection header is the only one the upstream sees (oauth2-proxy CVE-2025-64484).
 */
export function connectionNamed(value: string): Set<string> | undefined {
  const lower = value.toLowerCase()
  // What nearly every peer sends names only hop-by-hop headers, which go anyway.
  if (lower === 'keep-alive' || lower === 'close') return undefined
  const names = new Set<string>()
  for (const token of lower.split(',')) {
    const name = token.trim()
    if (name) names.add(name)
  }
  return names
}
