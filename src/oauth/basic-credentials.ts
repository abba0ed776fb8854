// HTTP Basic credentials of a client (RFC 7617), strictly: base64 that decodes exactly, UTF-8,
// split on the first colon, then each part form-url-decoded (RFC 6749 §2.3.1).
import { GatehouseError } from '../errors.js'

export interface BasicCredentials {
  readonly id: string
  readonly secret: string
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
  const id = formDecode(decoded.slice(0, colon))
  const secret = formDecode(decoded.slice(colon + 1))
  if (id === undefined || secret === undefined) throw malformed('basic_bad_form_encoding')
  return { id, secret }
}

/** application/x-www-form-urlencoded decoding of one value; undefined when it is malformed. */
function formDecode(value: string): string | undefined {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '))
  } catch {
    return undefined
  }
}
