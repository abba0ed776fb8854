import { GatehouseError } from '../errors.js'

// RFC 6749 §3.3: scope = scope-token *( SP scope-token ), scope-token = 1*NQCHAR
const SCOPE = /^[\x21\x23-\x5B\x5D-\x7E]+(?: [\x21\x23-\x5B\x5D-\x7E]+)*$/

/**
 * The scopes to grant: all of `allowed` when none were requested, else the requested ones, each of
 * which must be allowed (asking for more is invalid_scope, never a silent narrowing).
 */
export function grantScopes(requested: string | undefined, allowed: readonly string[]): readonly string[] {
  if (requested === undefined) return allowed
  if (!SCOPE.test(requested)) throw new GatehouseError('invalid_scope', 'the scope parameter is malformed', { reason: 'scope_malformed' })
  const scopes = [...new Set(requested.split(' '))]
  for (const scope of scopes) {
    if (!allowed.includes(scope)) {
      throw new GatehouseError('invalid_scope', 'a requested scope is not allowed for this client', { reason: 'scope_not_allowed' })
    }
  }
  return scopes
}
