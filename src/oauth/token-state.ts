// Authorization codes, refresh tokens, token families and access-token revocations, kept in the
// store under the SHA-256 of each token (never the token itself). Single use is enforced by the
// store's atomic take(): of two instances redeeming one code, exactly one gets it.
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import type { Store } from '../store/index.js'
import type { Clock } from './access-token.js'

export interface CodeRecord {
  readonly clientId: string
  readonly redirectUri: string
  /** Whether the authorization request named redirect_uri (then the token request must repeat it). */
  readonly redirectUriGiven: boolean
  readonly codeChallenge: string | undefined
  readonly codeChallengeMethod: 'S256' | 'plain' | undefined
  readonly scopes: readonly string[]
  readonly subject: string
  readonly authTime: number
  /** Seconds since the epoch, by the gateway's clock. */
  readonly expiresAt: number
}

/** What was issued for a code or in a family, so that it can be revoked together. */
export interface IssuedRecord {
  readonly accessJti: string
  readonly accessExp: number
  readonly familyId: string | undefined
}

export interface RefreshRecord {
  readonly familyId: string
  readonly clientId: string
  readonly subject: string
  readonly scopes: readonly string[]
  readonly authTime: number
  readonly expiresAt: number
}

export interface FamilyRecord {
  readonly revoked: boolean
  /** The access token issued with the family's newest refresh token. */
  readonly accessJti: string | undefined
  readonly accessExp: number | undefined
}

export interface TokenLifetimes {
  readonly accessTokenTtl: number
  readonly refreshTokenTtl: number
  readonly authorizationCodeTtl: number
}

const digest = (token: string) => createHash('sha256').update(token).digest('base64url')
/** 256 random bits: codes and refresh tokens. */
export const newOpaqueToken = (): string => randomBytes(32).toString('base64url')

export type TokenState = ReturnType<typeof createTokenState>

export function createTokenState(store: Store, clock: Clock, ttl: TokenLifetimes) {
  const now = () => Math.floor(clock() / 1000)
  const read = async <T>(promise: Promise<string | undefined>): Promise<T | undefined> => {
    const raw = await promise
    return raw === undefined ? undefined : (JSON.parse(raw) as T)
  }
  // Markers of used codes and refresh tokens live as long as what was issued from them.
  const usedTtl = Math.max(ttl.accessTokenTtl, ttl.refreshTokenTtl)

  const state = {
    async saveCode(record: Omit<CodeRecord, 'expiresAt'>): Promise<string> {
      const code = newOpaqueToken()
      const full: CodeRecord = { ...record, expiresAt: now() + ttl.authorizationCodeTtl }
      await store.put(`code:${digest(code)}`, JSON.stringify(full), ttl.authorizationCodeTtl)
      return code
    },

    /** Redeems a code once: its record, or what was issued from it when it was used already. */
    async redeemCode(code: string): Promise<{ record?: CodeRecord; replayed?: IssuedRecord }> {
      const key = digest(code)
      const record = await read<CodeRecord>(store.take(`code:${key}`))
      if (record) return record.expiresAt > now() ? { record } : {}
      const replayed = await read<IssuedRecord>(store.get(`code-used:${key}`))
      return replayed ? { replayed } : {}
    },

    async markCodeUsed(code: string, issued: IssuedRecord): Promise<void> {
      await store.put(`code-used:${digest(code)}`, JSON.stringify(issued), usedTtl)
    },

    async saveRefreshToken(record: Omit<RefreshRecord, 'expiresAt'>): Promise<string> {
      const token = newOpaqueToken()
      const full: RefreshRecord = { ...record, expiresAt: now() + ttl.refreshTokenTtl }
      await store.put(`rt:${digest(token)}`, JSON.stringify(full), ttl.refreshTokenTtl)
      return token
    },

    async peekRefreshToken(token: string): Promise<RefreshRecord | undefined> {
      const record = await read<RefreshRecord>(store.get(`rt:${digest(token)}`))
      return record && record.expiresAt > now() ? record : undefined
    },

    /** Uses a refresh token up; false when another request used it first. */
    async useRefreshToken(token: string, familyId: string): Promise<boolean> {
      const key = digest(token)
      const taken = await store.take(`rt:${key}`)
      // Marked either way: a second presentation of this token is a reuse.
      await store.put(`rt-used:${key}`, JSON.stringify({ familyId }), usedTtl)
      return taken !== undefined
    },

    /** The family of a refresh token that was already used, if it was one of ours. */
    async familyOfUsedRefreshToken(token: string): Promise<string | undefined> {
      return (await read<{ familyId: string }>(store.get(`rt-used:${digest(token)}`)))?.familyId
    },

    newFamilyId: (): string => randomUUID(),

    getFamily: (familyId: string) => read<FamilyRecord>(store.get(`family:${familyId}`)),

    async saveFamily(familyId: string, record: FamilyRecord): Promise<void> {
      await store.put(`family:${familyId}`, JSON.stringify(record), ttl.refreshTokenTtl)
    },

    /** Revokes every refresh token of a family, and its newest access token. */
    async revokeFamily(familyId: string): Promise<void> {
      const family = await state.getFamily(familyId)
      await state.saveFamily(familyId, { revoked: true, accessJti: undefined, accessExp: undefined })
      if (family?.accessJti && family.accessExp) await state.revokeAccessToken(family.accessJti, family.accessExp)
    },

    /** Revokes what a code issued: its access token and its refresh token family. */
    async revokeIssued(issued: IssuedRecord): Promise<void> {
      await state.revokeAccessToken(issued.accessJti, issued.accessExp)
      if (issued.familyId) await state.revokeFamily(issued.familyId)
    },

    /** Refused on routes until the token would have expired anyway. */
    async revokeAccessToken(jti: string, exp: number): Promise<void> {
      const remaining = exp - now()
      if (remaining > 0) await store.put(`revoked:${jti}`, '1', remaining + 60)
    },

    async isAccessTokenRevoked(jti: string): Promise<boolean> {
      return (await store.get(`revoked:${jti}`)) !== undefined
    },
  }
  return state
}
