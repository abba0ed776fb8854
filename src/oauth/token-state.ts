// Authorization codes, refresh tokens, token families and access-token revocations, kept in the
// store under the SHA-256 of each token (never the token itself).
//
// Single use: a code or refresh token is taken by store.takeLeavingMarker, which leaves its
// used-marker in the same atomic step, so a second presentation finds the one or the other, never
// neither. The marker names the family of everything the first presentation issues, and a second
// presentation revokes that family (RFC 6749 §4.1.2, RFC 9700 §4.14.2).
//
// A family's revocation is a key of its own that only ever says "revoked" (family-revoked:{F}),
// apart from the record that rotation rewrites (family:{F}), so no concurrent write undoes it.
// The winner of a race and the reuse that lost it may run at once; each writes before it reads
// (Dekker's order):
//   the reuse  (revokeFamily):     1. set family-revoked:{F}    2. read family:{F}, revoke its access token
//   the winner (issue-tokens.ts):  1. write its refresh token and family:{F}    2. read family-revoked:{F}
// Every key is linearizable, so either the reuse reads the winner's access token or the winner
// sees the flag and withdraws what it wrote: the winner's tokens are revoked in every interleaving.
//
// Keys carry Redis Cluster hash tags: a token's key and its used-marker share the digest's slot,
// as the one script that touches both needs; a family's record and flag share the family's.
import { hash, randomBytes, randomUUID } from 'node:crypto'
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

/** A code presented once: its record and the family its tokens join; or presented again. */
export type CodeRedemption =
  | { readonly status: 'redeemed'; readonly record: CodeRecord; readonly familyId: string }
  | { readonly status: 'replayed'; readonly familyId: string }
  | { readonly status: 'unknown' }

export interface RefreshRecord {
  readonly familyId: string
  readonly clientId: string
  /** The client acting for itself (legacy client_credentials refresh), not for a user. */
  readonly clientItself?: boolean
  readonly subject: string
  readonly scopes: readonly string[]
  readonly authTime: number
  readonly expiresAt: number
}

/** The family's access tokens that have not expired yet, newest last: revoked with it. */
export interface FamilyRecord {
  readonly access: readonly AccessTokenRef[]
}

/**
 * At most this many live access tokens are remembered per family (a client would have to rotate
 * more often than every accessTokenTtl / 64 to pass it; the oldest are then forgotten).
 */
const MAX_FAMILY_ACCESS_TOKENS = 64

/** The access token being recorded: its claims carry these. */
export interface AccessTokenRef {
  readonly jti: string
  readonly exp: number
}

/** What a used code or refresh token leaves behind. */
export interface UsedMarker {
  readonly familyId: string
  /** Whose refresh token it was, so that its owner can still revoke the family (RFC 7009). */
  readonly clientId?: string
}

export interface TokenLifetimes {
  readonly accessTokenTtl: number
  readonly refreshTokenTtl: number
  readonly authorizationCodeTtl: number
}

const digest = (token: string) => hash('sha256', token, 'base64url')
/** 256 random bits: codes and refresh tokens. */
export const newOpaqueToken = (): string => randomBytes(32).toString('base64url')

const codeKey = (code: string) => `code:{${digest(code)}}`
const codeUsedKey = (code: string) => `code-used:{${digest(code)}}`
const refreshKey = (token: string) => `rt:{${digest(token)}}`
const refreshUsedKey = (token: string) => `rt-used:{${digest(token)}}`
const familyKey = (familyId: string) => `family:{${familyId}}`
const familyRevokedKey = (familyId: string) => `family-revoked:{${familyId}}`

export type TokenState = ReturnType<typeof createTokenState>

export function createTokenState(store: Store, clock: Clock, ttl: TokenLifetimes) {
  const now = () => Math.floor(clock() / 1000)
  const read = async <T>(promise: Promise<string | undefined>): Promise<T | undefined> => {
    const raw = await promise
    return raw === undefined ? undefined : (JSON.parse(raw) as T)
  }
  // Used-markers, family records and revocation flags outlive everything issued in the family.
  // A refresh token saved after its family's flag is withdrawn by its writer (withdrawIfRevoked),
  // so every one that remains was saved before the flag, and expires before it.
  const familyTtl = Math.max(ttl.accessTokenTtl, ttl.refreshTokenTtl)
  const marker = (used: UsedMarker) => JSON.stringify(used)

  const state = {
    async saveCode(record: Omit<CodeRecord, 'expiresAt'>): Promise<string> {
      const code = newOpaqueToken()
      const full: CodeRecord = { ...record, expiresAt: now() + ttl.authorizationCodeTtl }
      await store.put(codeKey(code), JSON.stringify(full), ttl.authorizationCodeTtl)
      return code
    },

    /** Redeems a code once. Its marker names a new family, which everything it issues joins. */
    async redeemCode(code: string): Promise<CodeRedemption> {
      const familyId = state.newFamilyId()
      const record = await read<CodeRecord>(store.takeLeavingMarker(codeKey(code), codeUsedKey(code), marker({ familyId }), familyTtl))
      if (record) return record.expiresAt > now() ? { status: 'redeemed', record, familyId } : { status: 'unknown' }
      const used = await read<UsedMarker>(store.get(codeUsedKey(code)))
      return used ? { status: 'replayed', familyId: used.familyId } : { status: 'unknown' }
    },

    async saveRefreshToken(record: Omit<RefreshRecord, 'expiresAt'>): Promise<string> {
      const token = newOpaqueToken()
      const full: RefreshRecord = { ...record, expiresAt: now() + ttl.refreshTokenTtl }
      await store.put(refreshKey(token), JSON.stringify(full), ttl.refreshTokenTtl)
      return token
    },

    async peekRefreshToken(token: string): Promise<RefreshRecord | undefined> {
      const record = await read<RefreshRecord>(store.get(refreshKey(token)))
      return record && record.expiresAt > now() ? record : undefined
    },

    /** Uses a refresh token up, leaving a marker that names its family; false when another request took it first. */
    async useRefreshToken(token: string, record: RefreshRecord): Promise<boolean> {
      const used = marker({ familyId: record.familyId, clientId: record.clientId })
      return (await store.takeLeavingMarker(refreshKey(token), refreshUsedKey(token), used, familyTtl)) !== undefined
    },

    /** What a refresh token that was already used left behind, if it was one of ours. */
    usedRefreshToken: (token: string): Promise<UsedMarker | undefined> => read<UsedMarker>(store.get(refreshUsedKey(token))),

    newFamilyId: (): string => randomUUID(),

    /**
     * The winner's write: adds an access token to its family, for revokeFamily to find. Read, then
     * write: safe, because a family only grows by the one request that took its code or refresh
     * token, and the next can only start from the token this one returns.
     */
    async saveFamily(familyId: string, access: AccessTokenRef): Promise<void> {
      const family = await read<FamilyRecord>(store.get(familyKey(familyId)))
      const live = (family?.access ?? []).filter((a) => a.exp > now())
      const record: FamilyRecord = { access: [...live, { jti: access.jti, exp: access.exp }].slice(-MAX_FAMILY_ACCESS_TOKENS) }
      await store.put(familyKey(familyId), JSON.stringify(record), familyTtl)
    },

    async isFamilyRevoked(familyId: string): Promise<boolean> {
      return (await store.get(familyRevokedKey(familyId))) !== undefined
    },

    /**
     * The winner's read, after saveFamily and after saving its refresh token: when a reuse revoked
     * the family meanwhile, revokes that access token, deletes that refresh token and says true.
     */
    async withdrawIfRevoked(familyId: string, access: AccessTokenRef, refreshToken: string | undefined): Promise<boolean> {
      if (!(await state.isFamilyRevoked(familyId))) return false
      await state.revokeAccessToken(access.jti, access.exp)
      if (refreshToken !== undefined) await store.delete(refreshKey(refreshToken))
      return true
    },

    /** Revokes every refresh token of a family, and its live access tokens: flag first, then read. */
    async revokeFamily(familyId: string): Promise<void> {
      await store.put(familyRevokedKey(familyId), '1', familyTtl)
      const family = await read<FamilyRecord>(store.get(familyKey(familyId)))
      await Promise.all((family?.access ?? []).map((a) => state.revokeAccessToken(a.jti, a.exp)))
    },

    /** Refused on routes until the token would have expired anyway. */
    async revokeAccessToken(jti: string, exp: number): Promise<void> {
      const remaining = exp - now()
      if (remaining > 0) await store.revokeToken(jti, remaining + 60)
    },

    /** No round trip: the store keeps revocations in memory (throws when it cannot vouch for them). */
    isAccessTokenRevoked(jti: string): boolean {
      return store.isTokenRevoked(jti)
    },
  }
  return state
}
