// Access tokens: JWTs per RFC 9068 (typ at+jwt, kid), signed and verified with jose against the
// gateway's own keys only. Verification results are cached by token, because an ES256 signature
// check costs more than proxying the request.
import { randomUUID } from 'node:crypto'
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose'
import { LRUCache } from 'lru-cache'
import type { Client, GatehouseConfig } from '../config/compile.js'
import { GatehouseError } from '../errors.js'
import type { SigningKeys } from './keys.js'

/** Milliseconds since the epoch; tests pass a frozen clock. */
export type Clock = () => number
export const systemClock: Clock = () => Date.now()

export interface AccessTokenClaims {
  readonly iss: string
  readonly sub: string
  readonly aud: string
  readonly exp: number
  readonly iat: number
  readonly jti: string
  readonly client_id: string
  readonly scope: string
  readonly azp: string
  readonly app: string
  readonly biz?: string
  readonly auth_time: number
}

export interface IssueRequest {
  readonly client: Client
  readonly subject: string
  readonly scopes: readonly string[]
  /** When the user or client authenticated, in seconds. */
  readonly authTime: number
}

export interface IssuedAccessToken {
  readonly token: string
  readonly claims: AccessTokenClaims
  readonly expiresIn: number
}

export function createAccessTokenIssuer(config: GatehouseConfig, keys: SigningKeys, clock: Clock) {
  return async function issueAccessToken(req: IssueRequest): Promise<IssuedAccessToken> {
    const iat = Math.floor(clock() / 1000)
    const expiresIn = config.tokens.accessTokenTtl
    const { client } = req
    const claims: AccessTokenClaims = {
      iss: config.issuer,
      sub: req.subject,
      aud: client.audience,
      exp: iat + expiresIn,
      iat,
      jti: randomUUID(),
      client_id: client.id,
      scope: req.scopes.join(' '),
      azp: client.id,
      app: client.id,
      ...(client.group === undefined ? {} : { biz: client.group }),
      auth_time: req.authTime,
    }
    // The client's static claims first: the gateway's own always win (the config refuses clashes too).
    const token = await new SignJWT({ ...client.extraClaims, ...claims })
      .setProtectedHeader({ alg: keys.alg, kid: keys.kid, typ: 'at+jwt' })
      .sign(keys.privateKey)
    return { token, claims, expiresIn }
  }
}

export interface VerifiedAccessToken {
  readonly claims: AccessTokenClaims
  readonly scopes: readonly string[]
}

// Our own tokens are well under 1 KiB; a longer one is refused before any parsing.
const MAX_TOKEN_LENGTH = 4096
const CACHE_ENTRIES = 10_000
const CACHE_TTL_MS = 5 * 60_000

export function createAccessTokenVerifier(config: GatehouseConfig, keys: SigningKeys, clock: Clock) {
  const cache = new LRUCache<string, VerifiedAccessToken>({ max: CACHE_ENTRIES, ttl: CACHE_TTL_MS })
  const toleranceMs = config.tokens.clockTolerance * 1000
  const options = {
    issuer: config.issuer,
    // Every audience a token of ours can carry; verifyAccessToken then checks it is its client's.
    audience: [...new Set([config.tokens.audience, ...[...config.clients.values()].map((c) => c.audience)])],
    algorithms: [...keys.algorithms], // each key verifies only with its own alg (jose matches the JWK's alg)
    typ: 'at+jwt', // RFC 9068 §4: an ID token or other JWT is not an access token
    clockTolerance: config.tokens.clockTolerance,
    // jose checks that iat is not in the future only with maxTokenAge. None of our tokens lives
    // longer than accessTokenTtl, so one whose iat says otherwise is not ours, whatever its exp.
    maxTokenAge: config.tokens.accessTokenTtl,
    requiredClaims: ['exp', 'iat', 'sub', 'jti', 'client_id'],
  }

  return async function verifyAccessToken(token: string): Promise<VerifiedAccessToken> {
    const cached = cache.get(token)
    if (cached) {
      if (cached.claims.exp * 1000 + toleranceMs > clock()) return cached
      cache.delete(token)
      throw invalidToken('the access token expired', 'token_expired')
    }
    if (token.length > MAX_TOKEN_LENGTH) throw invalidToken('the access token is invalid', 'token_too_long')
    let payload: Record<string, unknown>
    try {
      ;({ payload } = await jwtVerify(token, keys.getKey, { ...options, currentDate: new Date(clock()) }))
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) throw invalidToken('the access token expired', 'token_expired')
      const code = err instanceof joseErrors.JOSEError ? err.code : 'ERR_UNKNOWN'
      throw invalidToken('the access token is invalid', `token_${code}`)
    }
    if (typeof payload.scope !== 'string' && payload.scope !== undefined) throw invalidToken('the access token is invalid', 'token_scope_claim')
    const claims = payload as unknown as AccessTokenClaims
    // A token carries its own client's audience: one that names another's was not minted for it.
    const client = config.clients.get(claims.client_id)
    if (client !== undefined && claims.aud !== client.audience) throw invalidToken('the access token is invalid', 'token_aud_not_its_clients')
    // The config as it is now, not as it was when the token was issued: a scope taken from the
    // client or the user since (a reload) is gone from its tokens at once, and a removed user's
    // tokens stop, as a removed client's do (the Bearer check). A token whose subject is not its
    // client is a user's.
    const user = claims.sub === claims.client_id ? undefined : config.users.get(claims.sub)
    if (claims.sub !== claims.client_id && user === undefined) throw invalidToken('the access token is invalid', 'token_user_unknown')
    const granted = claims.scope ? claims.scope.split(' ') : []
    const verified: VerifiedAccessToken = Object.freeze({
      claims,
      scopes: Object.freeze(
        client === undefined ? granted : granted.filter((s) => client.scopes.includes(s) && (user === undefined || user.scopes.includes(s))),
      ),
    })
    cache.set(token, verified)
    return verified
  }
}

const invalidToken = (description: string, reason: string) => new GatehouseError('invalid_token', description, { reason })
