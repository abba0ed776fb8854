// HTTP Basic credentials of a client (RFC 7617), strictly: base64 that decodes exactly, UTF-8,
// split on the first colon. RFC 6749 §2.3.1 then form-url-decodes each part, but RFC 7617, curl -u,
// Python's requests and authlib, and legacy instructions (`echo -n 'id:key' | base64`) send them as
// they are, so a secret with `+`, `%` or a space has two readings: both are returned.
import { GatehouseError } from '../errors.js'

export interface Credentials {
  readonly id: string
  readonly secret: string
}

export interface BasicCredentials extends Credentials {
  /** The parts as sent, when that reading differs from the form-decoded one above. */
  readonly raw?: Credentials
}

const BASIC = /^Basic +([A-Za-z0-9+/]+={0,2}) *$/i
const utf8 = new TextDecoder('utf-8', { fatal: true })

const malformed = (reason: string) => new GatehouseError('invalid_request', 'malformed Basic credentials', { reason })

/** True when the header uses the Basic scheme at all (well-formed or not). */
export const isBasicScheme = (authorization: string): boolean => /^basic(?: |$)/i.test(authorization)

export function parseBasicCredentials(authorization: string): BasicCredentials {
  const m = BASIC.exec(authorization)
  if (!m || m[1]!.length % 4 !== 0) throw malformed('basic_bad_base64')
  let decoded: string
  try {
    decoded = utf8.decode(Buffer.from(m[1]!, 'base64'))
  } catch {
    throw malformed('basic_bad_utf8')
  }
  const colon = decoded.indexOf(':')
  if (colon === -1) throw malformed('basic_no_colon')
  const raw = { id: decoded.slice(0, colon), secret: decoded.slice(colon + 1) }
  const id = formDecode(raw.id)
  const secret = formDecode(raw.secret)
  // Not form-encoding at all (a bare %): the parts can only have been sent as they are.
  if (id === undefined || secret === undefined) return raw
  return id === raw.id && secret === raw.secret ? { id, secret } : { id, secret, raw }
}

/** application/x-www-form-urlencoded decoding of one value; undefined when it is malformed. */
function formDecode(value: string): string | undefined {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '))
  } catch {
    return undefined
  }
}
