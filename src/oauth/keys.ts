// The gateway's signing keys. `signing.keyFile` holds a private JWK, a JWK set or a PEM private key;
// in a set, the first private key signs and every key verifies (so a rotated-out key, kept in the
// set without its private part, keeps its tokens valid until they expire). Without a key file an
// ephemeral key is made at start.
import { createPrivateKey, createPublicKey, generateKeyPairSync, hkdfSync, type KeyObject } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { calculateJwkThumbprint, createLocalJWKSet, type JWK, type JWTVerifyGetKey } from 'jose'
import { ConfigError } from '../errors.js'
import type { SigningAlg } from '../config/compile.js'

export interface SigningKeys {
  /** The algorithm new tokens are signed with. */
  readonly alg: SigningAlg
  /** Every published key's algorithm: a token is verified with the algorithm its key was made for. */
  readonly algorithms: readonly SigningAlg[]
  readonly kid: string
  readonly privateKey: KeyObject
  /** Public keys as published at /.well-known/jwks.json. */
  readonly jwks: { readonly keys: readonly JWK[] }
  /** Resolves a token's key by `kid` among our own keys only (never jku, x5u or an embedded jwk). */
  readonly getKey: JWTVerifyGetKey
  readonly ephemeral: boolean
}

const SIGNING_ALGS: readonly SigningAlg[] = ['ES256', 'RS256', 'EdDSA']
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']

/** Why `key` cannot sign with `alg`, or undefined when it can. */
function keyMismatch(key: KeyObject, alg: SigningAlg): string | undefined {
  const type = key.asymmetricKeyType
  const details = key.asymmetricKeyDetails ?? {}
  if (alg === 'ES256' && !(type === 'ec' && details.namedCurve === 'prime256v1')) return 'ES256 needs an EC P-256 key'
  if (alg === 'RS256' && !(type === 'rsa' && (details.modulusLength ?? 0) >= 2048)) return 'RS256 needs an RSA key of 2048 bits or more'
  if (alg === 'EdDSA' && type !== 'ed25519') return 'EdDSA needs an Ed25519 key'
  return undefined
}

export async function loadSigningKeys(alg: SigningAlg, keyFile: string | undefined): Promise<SigningKeys> {
  if (keyFile === undefined) return fromPrivateKeys(alg, [{ key: generate(alg), kid: undefined }], [], true)
  let text: string
  try {
    text = await readFile(keyFile, 'utf8')
  } catch (err) {
    throw new ConfigError(keyFile, [`signing.keyFile: cannot read the file: ${(err as NodeJS.ErrnoException).code ?? ''}`])
  }
  const fail = (why: string) => new ConfigError(keyFile, [`signing.keyFile: ${why}`])
  try {
    if (text.trimStart().startsWith('-----BEGIN')) {
      return await fromPrivateKeys(alg, [{ key: createPrivateKey(text), kid: undefined }], [], false, fail)
    }
    const json = JSON.parse(text) as JWK | { keys: JWK[] }
    const jwks = 'keys' in json && Array.isArray(json.keys) ? json.keys : [json as JWK]
    const privates = jwks.filter((k) => k.d !== undefined)
    const publics = jwks.filter((k) => k.d === undefined)
    if (privates.length === 0) throw fail('no private key in the file')
    return await fromPrivateKeys(
      alg,
      privates.map((k) => ({ key: createPrivateKey({ key: k, format: 'jwk' }), kid: k.kid })),
      publics,
      false,
      fail,
    )
  } catch (err) {
    if (err instanceof ConfigError) throw err
    throw fail(`not a private JWK, JWK set or PEM private key (${(err as Error).message})`)
  }
}

async function fromPrivateKeys(
  alg: SigningAlg,
  privates: { key: KeyObject; kid: string | undefined }[],
  extraPublics: JWK[],
  ephemeral: boolean,
  fail: (why: string) => Error = (why) => new Error(why),
): Promise<SigningKeys> {
  const published: JWK[] = []
  for (const { key, kid } of privates) {
    const mismatch = keyMismatch(key, alg)
    if (mismatch) throw fail(`${mismatch} (signing.alg is ${alg})`)
    const jwk = createPublicKey(key).export({ format: 'jwk' }) as JWK
    published.push({ ...jwk, kid: kid ?? (await calculateJwkThumbprint(jwk)), alg, use: 'sig' })
  }
  // Rotated-out keys may be of another algorithm (an RS256 key kept beside a new ES256 one): each
  // is published, and verifies, with the algorithm its key type fits, never the signing one.
  for (const k of extraPublics) {
    const jwk = Object.fromEntries(Object.entries(k).filter(([name]) => !PRIVATE_MEMBERS.includes(name))) as JWK
    const key = createPublicKey({ key: jwk, format: 'jwk' })
    const keyAlg = jwk.alg === undefined ? algFor(key) : SIGNING_ALGS.find((a) => a === jwk.alg)
    const mismatch =
      keyAlg === undefined ? `a public key for an algorithm gatehouse does not use (${jwk.alg ?? key.asymmetricKeyType})` : keyMismatch(key, keyAlg)
    if (mismatch) throw fail(`${mismatch} (public key ${jwk.kid ?? 'without kid'})`)
    published.push({ ...jwk, kid: jwk.kid ?? (await calculateJwkThumbprint(jwk)), alg: keyAlg, use: 'sig' })
  }
  const jwks = Object.freeze({ keys: Object.freeze(published) })
  return Object.freeze({
    alg,
    algorithms: Object.freeze([...new Set(published.map((k) => k.alg as SigningAlg))]),
    kid: published[0]!.kid!,
    privateKey: privates[0]!.key,
    jwks,
    getKey: createLocalJWKSet({ keys: published }),
    ephemeral,
  })
}

/** The algorithm a key type is used with here, or undefined for one gatehouse does not use. */
function algFor(key: KeyObject): SigningAlg | undefined {
  return SIGNING_ALGS.find((alg) => keyMismatch(key, alg) === undefined)
}

function generate(alg: SigningAlg): KeyObject {
  if (alg === 'ES256') return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
  if (alg === 'RS256') return generateKeyPairSync('rsa', { modulusLength: 3072 }).privateKey
  return generateKeyPairSync('ed25519').privateKey
}

/** A new private signing key as a JWK with kid, alg and use (for `gatehouse gen-key`). */
export async function generateSigningJwk(alg: SigningAlg): Promise<JWK> {
  const jwk = generate(alg).export({ format: 'jwk' }) as JWK
  const publicJwk = Object.fromEntries(Object.entries(jwk).filter(([name]) => !PRIVATE_MEMBERS.includes(name))) as JWK
  return { ...jwk, kid: await calculateJwkThumbprint(publicJwk), alg, use: 'sig' }
}

/**
 * A 32-byte key for `purpose`, derived from the signing key (HKDF), so that every instance sharing
 * a key file derives the same one, and none of them needs a secret of its own.
 */
export function deriveKey(keys: SigningKeys, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', keys.privateKey.export({ format: 'der', type: 'pkcs8' }), 'gatehouse', purpose, 32))
}
