// Resource owners (users) log in with a username and password, at the login page and with the
// password grant. Failed logins are counted per username and per IP: past either limit, no
// password is even checked (429). An unknown user costs the same scrypt work as a wrong password.
import type { User } from '../config/compile.js'
import { GatehouseError } from '../errors.js'
import { checkFailureLimit, recordFailure } from '../pipeline/rate-limit.js'
import type { Limiter } from '../store/index.js'
import { verifySecret, type ScryptHash } from './secret-hash.js'

export interface UserVerifierDeps {
  readonly users: () => ReadonlyMap<string, User>
  readonly decoyHash: ScryptHash
  readonly failuresByUser: Limiter
  readonly failuresByIp: Limiter
}

export type UserVerifier = (username: string, password: string, ip: string) => Promise<User>

export function createUserVerifier({ users, decoyHash, failuresByUser, failuresByIp }: UserVerifierDeps): UserVerifier {
  return async function verifyUser(username, password, ip) {
    await checkFailureLimit(failuresByIp, ip)
    await checkFailureLimit(failuresByUser, username)
    const user = users().get(username)
    const ok = await verifySecret(password, user?.password ?? decoyHash)
    if (user !== undefined && ok) return user
    await Promise.all([recordFailure(failuresByIp, ip), recordFailure(failuresByUser, username)])
    throw new GatehouseError('invalid_grant', 'the username or password is wrong', { reason: user ? 'password_wrong' : 'user_unknown' })
  }
}
