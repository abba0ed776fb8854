// Client secrets and user passwords are stored as scrypt hashes in a self-describing PHC-style string:
//   $scrypt$ln=15,r=8,p=1$<salt, base64 without padding>$<key, base64 without padding>
// so that the cost can be raised later without breaking the hashes already in config files.
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto'

const scrypt = (secret: string, salt: Buffer, keylen: number, options: ScryptOptions) =>
  new Promise<Buffer>((resolve, reject) => {
    scryptCb(secret, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key)))
  })

export interface ScryptHash {
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

const PATTERN = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,3}),p=(\d{1,3})\$([A-Za-z0-9+/]{16,})\$([A-Za-z0-9+/]{32,})$/

const b64 = (buf: Buffer) => buf.toString('base64').replace(/=+$/, '')

/** Parses a stored hash; returns a reason string when it is not one this gateway can verify. */
export function parseSecretHash(text: string): ScryptHash | string {
  const m = PATTERN.exec(text)
  if (!m) return 'not a $scrypt$ln=..,r=..,p=..$salt$key hash (make one with `gatehouse hash-secret`)'
  const [logN, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])]
  if (logN < 1 || logN > MAX_LOG_N) return `scrypt ln must be 1..${MAX_LOG_N}`
  if (r < 1 || r > MAX_R) return `scrypt r must be 1..${MAX_R}`
  if (p < 1 || p > MAX_P) return `scrypt p must be 1..${MAX_P}`
  return { logN, r, p, salt: Buffer.from(m[4]!, 'base64'), key: Buffer.from(m[5]!, 'base64') }
}

const derive = (secret: string, h: Omit<ScryptHash, 'key'>, keylen: number) =>
  scrypt(secret, h.salt, keylen, { N: 2 ** h.logN, r: h.r, p: h.p, maxmem: 256 * 2 ** h.logN * h.r + 1024 * 1024 })

export async function hashSecret(secret: string, cost: { logN?: number } = {}): Promise<string> {
  const params = { ...DEFAULT, ...cost, salt: randomBytes(SALT_LENGTH) }
  const key = await derive(secret, params, KEY_LENGTH)
  return `$scrypt$ln=${params.logN},r=${params.r},p=${params.p}$${b64(params.salt)}$${b64(key)}`
}

/** Constant-time check of a presented secret against a parsed hash. */
export async function verifySecret(secret: string, hash: ScryptHash): Promise<boolean> {
  const key = await derive(secret, hash, hash.key.length)
  return timingSafeEqual(key, hash.key)
}

/** A random secret for a new client: 32 bytes, base64url. */
export const generateSecret = (): string => randomBytes(32).toString('base64url')

/**
 * A hash of a random secret, for checking unknown clients and users against, at the cost most of
 * `hashes` use: "no such client" then takes as long as "wrong secret", and timing tells nothing.
 */
export async function decoyHashLike(hashes: Iterable<ScryptHash>): Promise<ScryptHash> {
  const costs = new Map<number, number>()
  for (const { logN } of hashes) costs.set(logN, (costs.get(logN) ?? 0) + 1)
  const [logN] = [...costs].sort((a, b) => b[1] - a[1])[0] ?? []
  return parseSecretHash(await hashSecret(generateSecret(), logN === undefined ? {} : { logN })) as ScryptHash
}
