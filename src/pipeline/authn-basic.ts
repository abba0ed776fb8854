// The Basic authenticator: a client's id and secret on every request (RFC 7617). scrypt is slow on
// purpose, so verified credentials are remembered for a short while, under a keyed hash (HMAC with
// a key made at start) of the id and secret, never the secret itself. An entry counts only while
// the config still holds the very client object it was verified against, so a changed or removed
// client invalidates it.
import { createHmac, randomBytes } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import type { Client } from '../config/compile.js'
import { isBasicScheme, parseBasicCredentials } from '../oauth/basic-credentials.js'
import { invalidClient, type ClientVerifier } from '../oauth/client-auth.js'
import { NOT_MINE, type Authenticator } from './authenticate.js'
import type { Principal } from './principal.js'

const CACHE_ENTRIES = 10_000
const CACHE_TTL_MS = 60_000

export interface BasicDeps {
  readonly clients: () => ReadonlyMap<string, Client>
  readonly verifyClient: ClientVerifier
}

const principalOf = (client: Client): Principal => ({
  subject: client.id,
  clientId: client.id,
  scopes: client.scopes,
  method: 'basic',
  group: client.group,
})

export function basicAuthenticator({ clients, verifyClient }: BasicDeps): Authenticator {
  const hmacKey = randomBytes(32)
  const verified = new LRUCache<string, Client>({ max: CACHE_ENTRIES, ttl: CACHE_TTL_MS })

  return async ({ headers, addressKey }) => {
    const authorization = headers.authorization
    if (authorization === undefined || !isBasicScheme(authorization)) return NOT_MINE
    let credentials
    try {
      credentials = parseBasicCredentials(authorization)
    } catch {
      throw invalidClient('basic_malformed', true)
    }
    // Keyed by what the header says, not how it is spelled: spaces, the scheme's case or
    // percent-encoding must not buy a fresh scrypt check for credentials already verified.
    // Both readings go into the key: a header that verified by its raw reading must not vouch for
    // another whose form-decoded reading is the same string.
    const { id, secret, raw } = credentials
    const cacheKey = createHmac('sha256', hmacKey).update(JSON.stringify([id, secret, raw?.id, raw?.secret])).digest('base64url')
    const cached = verified.get(cacheKey)
    if (cached !== undefined && clients().get(cached.id) === cached) return principalOf(cached)

    // Public clients have no secret to send; Basic on a route is for confidential clients only.
    const client = await verifyClient({ ...credentials, method: 'client_secret_basic' }, addressKey)
    verified.set(cacheKey, client)
    return principalOf(client)
  }
}
