// Client secrets and user passwords are stored as hashes in a self-describing PHC-style string:
//   $scrypt$ln=15,r=8,p=1$<salt, base64 without padding>$<key, base64 without padding>
// so that the cost can be raised later without breaking the hashes already in config files.
//
// A secret that a machine generated (`gatehouse new-client`: 256 random bits) may instead be stored
// as a salted HMAC-SHA256, `$sha256$<salt>$<key>`: a slow hash only protects guessable secrets, and
// nobody guesses 2^256 (Ory Hydra moved client secrets to a fast hash for this reason, hydra#3164;
// Keycloak does not hash them at all). scrypt stays for passwords and for secrets people chose: the
// config refuses a fast hash for a user, and `hash-secret --generated` refuses a short secret.
import { createHmac, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto'

const scrypt = (secret: string, salt: Buffer, keylen: number, options: ScryptOptions) =>
  new Promise<Buffer>((resolve, reject) => {
    scryptCb(secret, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key)))
  })

export interface ScryptHash {
  readonly kind: 'scrypt'
  readonly logN: number
  readonly r: number
  readonly p: number
  readonly salt: Buffer
  readonly key: Buffer
}

const DEFAULT = { logN: 15, r: 8, p: 1 } as const
const KEY_LENGTH = 32
const SALT_LENGTH = 16
// A hash from a config file must not be able to make one verification cost seconds or gigabytes.
const MAX_LOG_N = 20
const MAX_R = 32
const MAX_P = 16

/** A machine-generated secret's hash: HMAC-SHA256 keyed with a random salt. */
export interface GeneratedSecretHash {
  readonly kind: 'sha256'
  readonly salt: Buffer
  readonly key: Buffer
}

export type SecretHash = ScryptHash | GeneratedSecretHash

/** A generated secret has at least this many characters (32 base64url characters: 192 bits). */
export const MIN_GENERATED_LENGTH = 32

const GENERATED_PATTERN = /^\$sha256\$([A-Za-z0-9+/]{16,})\$([A-Za-z0-9+/]{43})$/
const PATTERN = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,3}),p=(\d{1,3})\$([A-Za-z0-9+/]{16,})\$([A-Za-z0-9+/]{32,})$/

const b64 = (buf: Buffer) => buf.toString('base64').replace(/=+$/, '')

/** Parses a stored hash; returns a reason string when it is not one this gateway can verify. */
export function parseSecretHash(text: string): SecretHash | string {
  const g = GENERATED_PATTERN.exec(text)
  if (g) return { kind: 'sha256', salt: Buffer.from(g[1]!, 'base64'), key: Buffer.from(g[2]!, 'base64') }
  const m = PATTERN.exec(text)
  if (!m)
    return 'not a $scrypt$ln=..,r=..,p=..$salt$key hash (make one with `gatehouse hash-secret`) nor a $sha256$salt$key one (`gatehouse hash-secret --generated`)'
  const [logN, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])]
  if (logN < 1 || logN > MAX_LOG_N) return `scrypt ln must be 1..${MAX_LOG_N}`
  if (r < 1 || r > MAX_R) return `scrypt r must be 1..${MAX_R}`
  if (p < 1 || p > MAX_P) return `scrypt p must be 1..${MAX_P}`
  return { kind: 'scrypt', logN, r, p, salt: Buffer.from(m[4]!, 'base64'), key: Buffer.from(m[5]!, 'base64') }
}

const derive = (secret: string, h: Omit<ScryptHash, 'key' | 'kind'>, keylen: number) =>
  scrypt(secret, h.salt, keylen, { N: 2 ** h.logN, r: h.r, p: h.p, maxmem: 256 * 2 ** h.logN * h.r + 1024 * 1024 })

export async function hashSecret(secret: string, cost: { logN?: number } = {}): Promise<string> {
  const params = { ...DEFAULT, ...cost, salt: randomBytes(SALT_LENGTH) }
  const key = await derive(secret, params, KEY_LENGTH)
  return `$scrypt$ln=${params.logN},r=${params.r},p=${params.p}$${b64(params.salt)}$${b64(key)}`
}

/** The fast hash of a generated secret; refuses one too short to have been generated. */
export function hashGeneratedSecret(secret: string): string {
  if (secret.length < MIN_GENERATED_LENGTH) {
    throw new Error(`a generated secret has at least ${MIN_GENERATED_LENGTH} characters; hash a chosen one with scrypt (without --generated)`)
  }
  const salt = randomBytes(SALT_LENGTH)
  return `$sha256$${b64(salt)}$${b64(hmac(salt, secret))}`
}

const hmac = (salt: Buffer, secret: string) => createHmac('sha256', salt).update(secret).digest()

/** Constant-time check of a presented secret against a parsed hash. */
export async function verifySecret(secret: string, hash: SecretHash): Promise<boolean> {
  const key = hash.kind === 'sha256' ? hmac(hash.salt, secret) : await derive(secret, hash, hash.key.length)
  return timingSafeEqual(key, hash.key)
}

/** What a hash costs to check: hashes with the same label take the same time. */
export const costLabel = (h: SecretHash): string => (h.kind === 'sha256' ? 'sha256 (generated)' : `scrypt ln=${h.logN},r=${h.r},p=${h.p}`)

/** A random secret for a new client: 32 bytes, base64url. */
export const generateSecret = (): string => randomBytes(32).toString('base64url')

/**
 * A hash of a random secret, for checking unknown clients and users against, at the cost most of
 * `hashes` use: "no such client" then takes as long as "wrong secret", and timing tells nothing.
 */
export async function decoyHashLike(hashes: Iterable<SecretHash>): Promise<SecretHash> {
  const costs = new Map<string, { hash: SecretHash; count: number }>()
  for (const hash of hashes) {
    const label = costLabel(hash)
    costs.set(label, { hash, count: (costs.get(label)?.count ?? 0) + 1 })
  }
  const [common] = [...costs.values()].sort((a, b) => b.count - a.count)
  // Random salt and key: checking a secret against it costs what a real hash of that kind costs,
  // and no secret matches it, without paying a hash (32 MiB of scrypt memory) at start.
  const salt = randomBytes(SALT_LENGTH)
  const key = randomBytes(KEY_LENGTH)
  if (common?.hash.kind === 'sha256') return { kind: 'sha256', salt, key }
  const { logN, r, p } = common?.hash.kind === 'scrypt' ? common.hash : DEFAULT
  return { kind: 'scrypt', logN, r, p, salt, key }
}
