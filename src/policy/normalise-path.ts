// The request target, normalised once. Routes are matched on `path` and the upstream receives
// `encodedPath`, the canonical encoding of that same path, so a request can never be matched as one
// path and served as another (Oathkeeper GHSA-p224-6x5r-fjpm, fastify-http-proxy CVE-2021-21322).
import { GatehouseError } from '../errors.js'

export interface RequestTarget {
  /** Decoded, with `//` collapsed and `.`/`..` resolved: what routes are matched against. */
  readonly path: string
  /** `path` percent-encoded canonically: what is sent upstream. */
  readonly encodedPath: string
  /** The raw query string including its `?`, or ''. Forwarded unchanged. */
  readonly query: string
}

const bad = (description: string, reason: string) => new GatehouseError('invalid_request', description, { reason })

// A path made only of these, with no empty, `.` or `..` segment and no segment ending in `.`, is
// already canonical. (`;` is not among them: see FORBIDDEN_DECODED.)
const CANONICAL = /^(?:\/[A-Za-z0-9\-._~!$&'()*+,=:@]*[A-Za-z0-9\-_~!$&'()*+,=:@])*\/?$/
const DOT_OR_EMPTY_SEGMENT = /\/\.{0,2}(?:\/|$)/
// Characters that may not appear in a decoded path: controls (incl. NUL); `\`, which IIS, Windows
// and Tomcat treat as a separator; and `;`, which Tomcat, Jetty and Spring take as the start of
// path parameters and strip (/api/admin;x=1 is /api/admin to them).
// eslint-disable-next-line no-control-regex -- control characters are what it looks for
const FORBIDDEN_DECODED = /[\x00-\x1f\x7f\\;]/
// IIS and Windows drop a trailing dot or space from a segment: /api/admin. is /api/admin to them.
const TRAILING_DOT_OR_SPACE = /[. ]$/
// After one decoding, a path still holding `%XX` was encoded twice; an upstream that decodes
// again would see a different path from the one matched here.
const STILL_ENCODED = /%[0-9A-Fa-f]{2}/

/** Normalises an origin-form request target (RFC 9112 §3.2.1); anything else is refused. */
export function normaliseRequestTarget(rawUrl: string): RequestTarget {
  if (rawUrl.charCodeAt(0) !== 47 /* / */) {
    // absolute-form (`GET http://host/...`) and asterisk-form are for forward proxies; we are not one.
    throw bad('request target must be an absolute path', 'target_not_origin_form')
  }
  const q = rawUrl.indexOf('?')
  const rawPath = q === -1 ? rawUrl : rawUrl.slice(0, q)
  const query = q === -1 ? '' : rawUrl.slice(q)
  const withoutTrailingSlash = rawPath.endsWith('/') ? rawPath.slice(0, -1) : rawPath
  if (CANONICAL.test(rawPath) && !DOT_OR_EMPTY_SEGMENT.test(withoutTrailingSlash)) {
    return { path: rawPath, encodedPath: rawPath, query }
  }
  const path = normalisePath(rawPath)
  return { path, encodedPath: encodePath(path), query }
}

/** Decodes percent-encoding once, collapses empty segments and resolves `.` and `..` (RFC 3986 §5.2.4). */
export function normalisePath(rawPath: string): string {
  if (rawPath.includes('#')) throw bad('request target must not contain a fragment', 'path_fragment')
  const rawSegments = rawPath.split('/')
  const out: string[] = []
  const trailingSlash = rawSegments.length > 1 && rawSegments[rawSegments.length - 1] === ''
  for (const raw of rawSegments) {
    let segment: string
    try {
      segment = decodeURIComponent(raw)
    } catch {
      throw bad('malformed percent-encoding in path', 'path_bad_encoding')
    }
    if (segment.includes('/')) throw bad('encoded "/" is not allowed in the path', 'path_encoded_slash')
    if (FORBIDDEN_DECODED.test(segment)) throw bad('path contains a forbidden character', 'path_forbidden_char')
    if (STILL_ENCODED.test(segment)) throw bad('path is percent-encoded twice', 'path_double_encoded')
    if (segment === '' || segment === '.') continue
    if (segment === '..') out.pop()
    else if (TRAILING_DOT_OR_SPACE.test(segment)) throw bad('a path segment may not end in "." or " "', 'path_trailing_dot')
    else out.push(segment)
  }
  if (out.length === 0) return '/'
  return '/' + out.join('/') + (trailingSlash ? '/' : '')
}

/** ASCII letters folded to lower case; the length never changes, so prefixes line up. */
export const foldCase = (path: string): string => path.replace(/[A-Z]+/g, (m) => m.toLowerCase())

// encodeURIComponent escapes these pchar characters (RFC 3986 §3.3) that need no escaping.
const PCHAR_UNESCAPE = /%(?:3A|40|24|26|2B|2C|3D)/g
const PCHAR: Record<string, string> = { '%3A': ':', '%40': '@', '%24': '$', '%26': '&', '%2B': '+', '%2C': ',', '%3D': '=' }

export function encodePath(path: string): string {
  return path
    .split('/')
    .map((segment) => encodeURIComponent(segment).replace(PCHAR_UNESCAPE, (m) => PCHAR[m]!))
    .join('/')
}
