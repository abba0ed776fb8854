// WWW-Authenticate challenges (RFC 7235 §4.1, RFC 6750 §3, RFC 7617 §2).
import type { AuthScheme } from '../config/compile.js'

export const REALM = 'gatehouse'

const quote = (value: string) => `"${value.replace(/["\\]/g, '\\$&')}"`

export interface BearerError {
  readonly error: 'invalid_token' | 'insufficient_scope' | 'invalid_request'
  readonly description: string
  readonly scope?: string
}

export function bearerChallenge(err?: BearerError): string {
  let value = `Bearer realm=${quote(REALM)}`
  if (err) {
    value += `, error=${quote(err.error)}, error_description=${quote(err.description)}`
    if (err.scope) value += `, scope=${quote(err.scope)}`
  }
  return value
}

export const basicChallenge = (): string => `Basic realm=${quote(REALM)}, charset="UTF-8"`

/** One challenge per accepted scheme, without error= (RFC 6750 §3.1: the request had no credentials). */
export function challengesFor(schemes: readonly AuthScheme[]): string[] {
  return schemes.map((s) => (s === 'bearer' ? bearerChallenge() : basicChallenge()))
}
