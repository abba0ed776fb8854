// Client authentication at the token endpoint (RFC 6749 §2.3): exactly one method per request,
// client_secret_basic or client_secret_post, or none for a public client. An unknown client and a
// wrong secret are answered the same way, after the same scrypt work.
import type { Client } from '../config/compile.js'
import { GatehouseError } from '../errors.js'
import { isBasicScheme, parseBasicCredentials } from './basic-credentials.js'
import type { FormParams } from './form-params.js'
import { verifySecret, type ScryptHash } from './secret-hash.js'

export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'none'

export interface AuthenticatedClient {
  readonly client: Client
  readonly method: ClientAuthMethod
}

export interface ClientAuthDeps {
  readonly clients: ReadonlyMap<string, Client>
  /** A hash of a random secret, verified against when the client is unknown, so timing says nothing. */
  readonly decoyHash: ScryptHash
}

const invalidRequest = (description: string, reason: string) => new GatehouseError('invalid_request', description, { reason })

export function createClientAuthenticator({ clients, decoyHash }: ClientAuthDeps) {
  const refuse = (usedBasic: boolean, reason: string) =>
    new GatehouseError('invalid_client', 'client authentication failed', {
      reason,
      // RFC 6749 §5.2: a client that tried the Authorization header gets 401 with a challenge.
      headers: usedBasic ? { 'www-authenticate': 'Basic realm="gatehouse", charset="UTF-8"' } : {},
    })

  return async function authenticateClient(params: FormParams, authorization: string | undefined): Promise<AuthenticatedClient> {
    let id: string | undefined
    let secret: string | undefined
    let method: ClientAuthMethod
    if (authorization !== undefined) {
      if (!isBasicScheme(authorization)) throw invalidRequest('only Basic client authentication is accepted here', 'client_auth_scheme')
      if (params.has('client_secret')) {
        throw invalidRequest('client authentication must use exactly one method', 'client_auth_multiple')
      }
      ;({ id, secret } = parseBasicCredentials(authorization))
      const bodyId = params.get('client_id')
      if (bodyId !== undefined && bodyId !== id) throw invalidRequest('client_id does not match the Basic credentials', 'client_id_mismatch')
      method = 'client_secret_basic'
    } else {
      id = params.get('client_id')
      secret = params.get('client_secret')
      if (id === undefined) throw refuse(false, 'client_auth_missing')
      method = secret === undefined ? 'none' : 'client_secret_post'
    }
    const usedBasic = method === 'client_secret_basic'

    const client = clients.get(id)
    if (client === undefined) {
      await verifySecret(secret ?? '', decoyHash)
      throw refuse(usedBasic, 'client_unknown')
    }
    if (client.secret === undefined) {
      // A public client proves nothing; presenting a secret for one is a mistake worth refusing.
      if (secret !== undefined) throw refuse(usedBasic, 'client_public_with_secret')
      return { client, method: 'none' }
    }
    if (secret === undefined) throw refuse(false, 'client_secret_missing')
    if (!(await verifySecret(secret, client.secret))) throw refuse(usedBasic, 'client_secret_wrong')
    return { client, method }
  }
}
