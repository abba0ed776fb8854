// Client authentication (RFC 6749 §2.3): at the token endpoint with client_secret_basic,
// client_secret_post or none (public clients), and with HTTP Basic on routes. An unknown client and
// a wrong secret are answered the same way, after the same scrypt work.
import { hash, randomBytes } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import type { Client } from '../config/compile.js'
import { verifySecret, type SecretHash } from '../config/secret-hash.js'
import { GatehouseError } from '../errors.js'
import { basicChallenge } from '../policy/challenge.js'
import { reserveAttempt } from '../policy/rate-limit.js'
import type { Limiter } from '../store/index.js'
import { isBasicScheme, parseBasicCredentials, type Credentials } from './basic-credentials.js'
import type { FormParams } from './form-params.js'

export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'none'

export interface ClientCredentials {
  readonly id: string
  /** Undefined for a public client, which proves nothing. */
  readonly secret: string | undefined
  readonly method: ClientAuthMethod
  /** Basic credentials read as sent, when that differs from their form-decoded reading. */
  readonly raw?: Credentials
}

const invalidRequest = (description: string, reason: string) => new GatehouseError('invalid_request', description, { reason })

export const invalidClient = (reason: string, challenge: boolean) =>
  new GatehouseError('invalid_client', 'client authentication failed', {
    reason,
    // RFC 6749 §5.2: a client that tried the Authorization header gets 401 with a challenge.
    headers: challenge ? { 'www-authenticate': basicChallenge() } : {},
  })

/** The credentials of a token request, by exactly one method; only their syntax is checked here. */
export function extractClientCredentials(params: FormParams, authorization: string | undefined): ClientCredentials {
  if (authorization !== undefined) {
    if (!isBasicScheme(authorization)) throw invalidRequest('only Basic client authentication is accepted here', 'client_auth_scheme')
    if (params.has('client_secret')) throw invalidRequest('client authentication must use exactly one method', 'client_auth_multiple')
    const { id, secret, raw } = parseBasicCredentials(authorization)
    const bodyId = params.get('client_id')
    if (bodyId !== undefined && bodyId !== id && bodyId !== raw?.id)
      throw invalidRequest('client_id does not match the Basic credentials', 'client_id_mismatch')
    // `Basic base64("id:")`, as requests-oauthlib sends for a public client: no secret, not a wrong one.
    if (secret === '' && (raw === undefined || raw.secret === '')) return { id, secret: undefined, method: 'client_secret_basic' }
    return { id, secret, method: 'client_secret_basic', ...(raw ? { raw } : {}) }
  }
  const id = params.get('client_id')
  if (id === undefined) throw invalidClient('client_auth_missing', false)
  const secret = params.get('client_secret')
  return { id, secret, method: secret === undefined ? 'none' : 'client_secret_post' }
}

export interface ClientVerifierDeps {
  readonly clients: () => ReadonlyMap<string, Client>
  /** A hash of a random secret, verified against when the client is unknown, so timing says nothing. */
  readonly decoyHash: SecretHash
  /** Failed authentications per address (guesses in flight count too). */
  readonly failures: Limiter
}

/** Checks credentials against the configured clients; `addressKey` is what the failure limit counts. */
export type ClientVerifier = (credentials: ClientCredentials, addressKey: string) => Promise<Client>

/**
 * Checks credentials against the configured clients. The attempt is counted per address before
 * anything is checked, and never per claimed client_id: that would let a stranger create a counter
 * per made-up id, or spend a real client's budget with wrong secrets.
 */
// Verified credentials are remembered for a while (Kong, Ory and oauth2-proxy do the same): scrypt is
// slow on purpose, and a client that repeats its credentials on every token request or Basic call
// must not pay it every time. Keyed by a hash (with a secret made at start) of both readings of the
// credentials, never the secret itself; an entry counts only while the config still holds the very
// client object it was verified against, so a changed secret or a removed client invalidates it.
const VERIFIED_ENTRIES = 10_000
const VERIFIED_TTL_MS = 60_000

export function createClientVerifier({ clients, decoyHash, failures }: ClientVerifierDeps): ClientVerifier {
  const cacheSecret = randomBytes(32).toString('hex')
  const verified = new LRUCache<string, Client>({ max: VERIFIED_ENTRIES, ttl: VERIFIED_TTL_MS })
  const cacheKey = ({ id, secret, raw }: ClientCredentials) =>
    // SHA-256 of a secret made at start and the credentials: an opaque key nobody outside sees, so
    // an HMAC's structure buys nothing, and the one-shot hash costs 0.4 µs against createHmac's 10.
    hash('sha256', cacheSecret + JSON.stringify([id, secret, raw?.id, raw?.secret]), 'base64url')

  /** The client these credentials prove, or why not; a wrong or unknown one costs the same scrypt work. */
  const check = async (id: string, secret: string | undefined): Promise<Client | string> => {
    const client = clients().get(id)
    if (secret === undefined) {
      if (client !== undefined && client.secret === undefined) return client
      return client === undefined ? 'client_unknown' : 'client_secret_missing'
    }
    if (client?.secret === undefined) {
      await verifySecret(secret, decoyHash)
      return client === undefined ? 'client_unknown' : 'client_public_with_secret'
    }
    return (await verifySecret(secret, client.secret)) ? client : 'client_secret_wrong'
  }

  return async function verifyClient(credentials, addressKey) {
    const { id, secret, method, raw } = credentials
    const challenge = method === 'client_secret_basic'
    // Only credentials with a secret are remembered: they are the ones that cost scrypt.
    const key = secret === undefined ? undefined : cacheKey(credentials)
    const remembered = key === undefined ? undefined : verified.get(key)
    if (remembered !== undefined && clients().get(remembered.id) === remembered) return remembered
    // One attempt, however many readings it has: both are checked under one reservation.
    const attempt = await reserveAttempt([[failures, addressKey]])
    const first = await check(id, secret)
    const outcome = typeof first === 'string' && raw !== undefined ? await check(raw.id, raw.secret) : first
    // Refused for the reason of the standard reading (a failed raw reading says nothing new).
    if (typeof outcome === 'string') throw invalidClient(typeof first === 'string' ? first : outcome, challenge)
    await attempt.succeeded()
    if (key !== undefined) verified.set(key, outcome)
    return outcome
  }
}
