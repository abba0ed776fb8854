// The Basic authenticator: a client's id and secret on every request (RFC 7617).
import type { Client } from '../config/compile.js'
import { isBasicScheme, parseBasicCredentials } from '../oauth/basic-credentials.js'
import { invalidClient, type ClientVerifier } from '../oauth/client-auth.js'
import { NOT_MINE, type Authenticator } from './authenticate.js'
import type { Principal } from './principal.js'

export interface BasicDeps {
  readonly verifyClient: ClientVerifier
}

const principalOf = (client: Client): Principal => ({
  subject: client.id,
  clientId: client.id,
  scopes: client.scopes,
  method: 'basic',
  group: client.group,
})

export function basicAuthenticator({ verifyClient }: BasicDeps): Authenticator {
  return async ({ headers, addressKey }) => {
    const authorization = headers.authorization
    if (authorization === undefined || !isBasicScheme(authorization)) return NOT_MINE
    let credentials
    try {
      credentials = parseBasicCredentials(authorization)
    } catch {
      throw invalidClient('basic_malformed', true)
    }
    // Public clients have no secret to send: "id:" is a wrong secret here, never none. Verified
    // credentials are remembered by verifyClient, so scrypt is paid once per client and secret.
    return principalOf(await verifyClient({ ...credentials, method: 'client_secret_basic' }, addressKey))
  }
}
