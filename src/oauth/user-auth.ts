// Resource owners (users) log in with a username and password, at the login page and with the
// password grant. Every attempt is counted per username and per address before the password is
// checked: past either limit, no password is even checked (429). An unknown user costs the same
// scrypt work as a wrong password.
import { createHmac } from 'node:crypto'
import type { User } from '../config/compile.js'
import { verifySecret, type SecretHash } from '../config/secret-hash.js'
import { GatehouseError } from '../errors.js'
import { reserveAttempt } from '../policy/rate-limit.js'
import type { Limiter } from '../store/index.js'

/** Usernames that are not in the config share this many counters between them. */
export const UNKNOWN_USER_BUCKETS = 4096

export interface UserVerifierDeps {
  readonly users: () => ReadonlyMap<string, User>
  readonly decoyHash: SecretHash
  readonly failuresByUser: Limiter
  readonly failuresByIp: Limiter
  /**
   * Keys the hash that puts unknown usernames in buckets, so that nobody can tell which names share
   * one. The same on every instance that shares a Redis (it comes from the signing key).
   */
  readonly bucketKey: Buffer
}

/** `addressKey` is what the per-address limit counts. */
export type UserVerifier = (username: string, password: string, addressKey: string) => Promise<User>

export function createUserVerifier({ users, decoyHash, failuresByUser, failuresByIp, bucketKey }: UserVerifierDeps): UserVerifier {
  // A known user has a counter of their own. A typed name that is no user must be limited too, or
  // the sixth guess would tell a user (429) from a non-user (still 400); but one counter per made-up
  // name is state any stranger can grow. So unknown names share a bounded set of counters.
  const userKey = (username: string) => {
    if (users().has(username)) return `user:${username}`
    const bucket = createHmac('sha256', bucketKey).update(username).digest().readUInt32BE(0) % UNKNOWN_USER_BUCKETS
    return `unknown:${bucket}`
  }
  return async function verifyUser(username, password, addressKey) {
    const attempt = await reserveAttempt([
      [failuresByIp, addressKey],
      [failuresByUser, userKey(username)],
    ])
    const user = users().get(username)
    const ok = await verifySecret(password, user?.password ?? decoyHash)
    if (user !== undefined && ok) {
      await attempt.succeeded()
      return user
    }
    throw new GatehouseError('invalid_grant', 'the username or password is wrong', { reason: user ? 'password_wrong' : 'user_unknown' })
  }
}
