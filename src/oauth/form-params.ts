// Token endpoint parameters: an application/x-www-form-urlencoded body (RFC 6749 §3.2), parsed by
// the platform's URLSearchParams. A parameter sent twice is refused (§3.2: "MUST NOT be included
// more than once"); one sent empty counts as omitted (§3.1).
import { GatehouseError } from '../errors.js'

export type FormParams = ReadonlyMap<string, string>

export function parseFormParams(body: string): FormParams {
  const params = new Map<string, string>()
  const seen = new Set<string>()
  for (const [name, value] of new URLSearchParams(body)) {
    if (seen.has(name)) {
      throw new GatehouseError('invalid_request', `parameter "${name.slice(0, 64)}" is repeated`, { reason: 'param_repeated' })
    }
    seen.add(name)
    if (value !== '') params.set(name, value)
  }
  return params
}

export function requireParam(params: FormParams, name: string): string {
  const value = params.get(name)
  if (value === undefined) throw new GatehouseError('invalid_request', `parameter "${name}" is missing`, { reason: 'param_missing' })
  return value
}
