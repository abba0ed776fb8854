// Attack family 3: forged, confused and replayed JWTs on a protected route. The upstream must
// never see a request carrying any of them.
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { base64url, SignJWT, UnsecuredJWT } from 'jose'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { generateSigningJwk } from '../../src/oauth/keys.js'
import { fastHash, mintToken, rawRequest, startGateway, startOrigin, tempDir, type Gateway, type Origin } from '../helpers/index.js'

const ISSUER = 'http://gatehouse.test'
let gw: Gateway
let origin: Origin
let current: Awaited<ReturnType<typeof generateSigningJwk>>
let retired: Awaited<ReturnType<typeof generateSigningJwk>>

beforeAll(async () => {
  origin = await startOrigin()
  current = await generateSigningJwk('ES256')
  retired = await generateSigningJwk('ES256') // rotated out: no longer in the key file at all
  const file = join(await tempDir(), 'keys.json')
  await writeFile(file, JSON.stringify({ keys: [current] }))
  gw = await startGateway(`
issuer: ${ISSUER}
signing: { keyFile: "${file}" }
tokens: { accessTokenTtl: 300, clockTolerance: 5 }
clients: [{ id: reporting, secretHash: "${await fastHash('s3cret')}", scopes: [orders:read] }]
routes: [{ id: orders, path: /api/orders, upstream: "${origin.url}", scopes: [orders:read] }]
`)
})
afterAll(async () => {
  await gw?.close()
  await origin?.close()
})
beforeEach(() => {
  origin.received.length = 0
})

const now = () => Math.floor(Date.now() / 1000)
const claims = (over: Record<string, unknown> = {}) => ({
  iss: ISSUER,
  aud: ISSUER,
  sub: 'reporting',
  client_id: 'reporting',
  scope: 'orders:read',
  jti: 'j',
  iat: now(),
  exp: now() + 300,
  ...over,
})
const call = (authorization: string, path = '/api/orders/1') => rawRequest(gw.url, path, { headers: { authorization } })

async function refused(authorization: string, status = 401) {
  const res = await call(authorization)
  expect(res.status).toBe(status)
  expect(origin.received).toEqual([])
  return res
}

describe('JWT attacks', () => {
  it('accepts a well-formed token of ours (the control case)', async () => {
    expect((await call(`Bearer ${await mintToken(current, claims())}`)).status).toBe(200)
  })

  it('refuses alg: none', async () => {
    await refused(`Bearer ${new UnsecuredJWT(claims()).encode()}`)
    // the same with a typ header and an empty signature, hand-assembled
    const header = base64url.encode(JSON.stringify({ alg: 'none', typ: 'at+jwt', kid: current.kid }))
    await refused(`Bearer ${header}.${base64url.encode(JSON.stringify(claims()))}.`)
  })

  it('refuses an algorithm outside the allow-list, even with a valid signature', async () => {
    const rsa = await generateSigningJwk('RS256')
    await refused(`Bearer ${await mintToken(rsa, claims(), { kid: current.kid })}`)
    const ed = await generateSigningJwk('EdDSA')
    await refused(`Bearer ${await mintToken(ed, claims())}`)
  })

  it('refuses HS256 signed with our public key as the HMAC secret (key confusion)', async () => {
    const publicKey = createPublicKey(createPrivateKey({ key: current, format: 'jwk' }))
    for (const secret of [publicKey.export({ type: 'spki', format: 'pem' }), JSON.stringify(publicKey.export({ format: 'jwk' }))]) {
      const forged = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: current.kid }).sign(Buffer.from(secret))
      await refused(`Bearer ${forged}`)
    }
  })

  it.each([
    ['an unknown kid', { kid: 'nope' }],
    ['a path-like kid', { kid: '../../../../dev/null' }],
    ['an SQL-ish kid', { kid: "x' OR '1'='1" }],
    ['a jku pointing elsewhere (never fetched)', { jku: 'http://127.0.0.1:1/jwks.json' }],
    ['an x5u pointing elsewhere (never fetched)', { x5u: 'http://127.0.0.1:1/cert.pem' }],
  ])('refuses an attacker-signed token with %s', async (_, header) => {
    const attacker = await generateSigningJwk('ES256')
    await refused(`Bearer ${await mintToken(attacker, claims(), header)}`)
  })

  it('refuses a token carrying its own key in an embedded jwk header', async () => {
    const attacker = await generateSigningJwk('ES256')
    const { d: _d, ...attackerPublic } = attacker
    await refused(`Bearer ${await mintToken(attacker, claims(), { jwk: attackerPublic, kid: undefined })}`)
  })

  it('refuses a token signed by a key that was rotated out of the key file', async () => {
    await refused(`Bearer ${await mintToken(retired, claims())}`)
  })

  it('refuses unknown critical headers (RFC 7515 §4.1.11)', async () => {
    // jose will not sign this, so it is signed by hand, as an attacker would: a valid signature
    // under our key, with a critical extension the verifier does not know.
    const header = base64url.encode(JSON.stringify({ alg: 'ES256', typ: 'at+jwt', kid: current.kid, crit: ['exp-v2'], 'exp-v2': 1 }))
    const input = `${header}.${base64url.encode(JSON.stringify(claims()))}`
    const key = createPrivateKey({ key: current, format: 'jwk' })
    const signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' })
    await refused(`Bearer ${input}.${base64url.encode(signature)}`)
  })

  it('refuses expired tokens, and nbf or iat in the future beyond the tolerance', async () => {
    await refused(`Bearer ${await mintToken(current, claims({ exp: now() - 60 }))}`)
    await refused(`Bearer ${await mintToken(current, claims({ nbf: now() + 60 }))}`)
    await refused(`Bearer ${await mintToken(current, claims({ iat: now() + 60, exp: now() + 360 }))}`)
    // A token of ours never lives longer than accessTokenTtl, whatever its exp claims.
    await refused(`Bearer ${await mintToken(current, claims({ iat: now() - 3600, exp: now() + 3600 }))}`)
  })

  it('refuses a wrong issuer or audience, and claims of the wrong type', async () => {
    await refused(`Bearer ${await mintToken(current, claims({ iss: 'http://evil.test' }))}`)
    await refused(`Bearer ${await mintToken(current, claims({ aud: 'http://other.test' }))}`)
    await refused(`Bearer ${await mintToken(current, claims({ aud: ['http://other.test'] }))}`)
    await refused(`Bearer ${await mintToken(current, claims({ exp: String(now() + 300) }))}`)
    await refused(`Bearer ${await mintToken(current, claims({ scope: ['orders:read'] }))}`)
  })

  it('refuses an ID token or plain JWT where an access token is due (typ, RFC 9068 §4)', async () => {
    await refused(`Bearer ${await mintToken(current, claims(), { typ: 'JWT' })}`)
    await refused(`Bearer ${await mintToken(current, claims(), { typ: undefined })}`)
    await refused(`Bearer ${await mintToken(current, claims(), { typ: 'application/jwt' })}`)
  })

  it('refuses a tampered payload or header', async () => {
    const [h, p, s] = (await mintToken(current, claims())).split('.')
    const widened = base64url.encode(JSON.stringify(claims({ scope: 'orders:read admin' })))
    await refused(`Bearer ${h}.${widened}.${s}`)
    const header = base64url.encode(JSON.stringify({ alg: 'ES256', typ: 'at+jwt', kid: current.kid, x: 1 }))
    await refused(`Bearer ${header}.${p}.${s}`)
    await refused(`Bearer ${h}.${p}.${s!.slice(0, -2)}AA`)
  })

  it('refuses a JWE, whitespace inside the token, and an 8 KB token', async () => {
    await refused('Bearer eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d')
    const token = await mintToken(current, claims())
    await refused(`Bearer ${token.slice(0, 20)} ${token.slice(20)}`)
    await refused(`Bearer ${token.slice(0, 20)}\t${token.slice(20)}`)
    await refused(`Bearer ${token.split('.')[0]}.${'A'.repeat(8 * 1024)}.${token.split('.')[2]}`)
  })

  it('refuses a token sent both in the header and as ?access_token= (RFC 6750 §2)', async () => {
    const token = await mintToken(current, claims())
    const res = await rawRequest(gw.url, `/api/orders/1?access_token=${token}`, { headers: { authorization: `Bearer ${token}` } })
    expect(res.status).toBe(400)
    expect(res.json()).toMatchObject({ error: 'invalid_request' })
    expect(origin.received).toEqual([])
  })

  it('does not accept a token in the query string alone', async () => {
    const token = await mintToken(current, claims())
    const res = await rawRequest(gw.url, `/api/orders/1?access_token=${token}`)
    expect(res.status).toBe(401)
    expect(origin.received).toEqual([])
  })

  it('keeps refusing a forged token after a valid one is cached (the cache is keyed by the whole token)', async () => {
    const good = await mintToken(current, claims({ jti: 'cached' }))
    expect((await call(`Bearer ${good}`)).status).toBe(200)
    origin.received.length = 0
    const [h, , s] = good.split('.')
    await refused(`Bearer ${h}.${base64url.encode(JSON.stringify(claims({ jti: 'cached', sub: 'admin' })))}.${s}`)
  })

  it('refuses a PEM-era RSA key pair generated elsewhere, even under our kid', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const forged = await new SignJWT(claims()).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: current.kid }).sign(privateKey)
    await refused(`Bearer ${forged}`)
  })
})

// A key set after a change of algorithm: the new ES256 key signs, the old RS256 key is kept as a
// public key until its tokens expire. Its tokens used to be refused (only signing.alg was allowed),
// although the JWKS published it. Each key must verify with its own algorithm and no other, or the
// rotation opens the RS256/HS256 key-confusion door (CVE-2015-9235, CVE-2016-10555).
describe('a key set that changed algorithm', () => {
  let mixed: Gateway
  let rsa: Awaited<ReturnType<typeof generateSigningJwk>>
  beforeAll(async () => {
    rsa = await generateSigningJwk('RS256')
    const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, alg: _alg, ...rsaPublic } = rsa
    const file = join(await tempDir(), 'keys.json')
    await writeFile(file, JSON.stringify({ keys: [current, rsaPublic] })) // no alg: taken from the key type
    mixed = await startGateway(`
issuer: ${ISSUER}
signing: { alg: ES256, keyFile: "${file}" }
tokens: { accessTokenTtl: 300 }
clients: [{ id: reporting, secretHash: "${await fastHash('s3cret')}", scopes: [orders:read] }]
routes: [{ id: orders, path: /api/orders, upstream: "${origin.url}", scopes: [orders:read] }]
`)
  })
  afterAll(() => mixed?.close())

  const callMixed = (token: string) => rawRequest(mixed.url, '/api/orders/1', { headers: { authorization: `Bearer ${token}` } })

  it('publishes the rotated-out RS256 key with its own alg, and accepts the tokens it signed', async () => {
    const jwks = (await rawRequest(mixed.url, '/.well-known/jwks.json')).json<{ keys: { kid: string; alg: string }[] }>()
    expect(jwks.keys.map((k) => [k.kid, k.alg])).toEqual([
      [current.kid, 'ES256'],
      [rsa.kid, 'RS256'],
    ])
    expect((await callMixed(await mintToken(rsa, claims()))).status).toBe(200)
    expect((await callMixed(await mintToken(current, claims()))).status).toBe(200)
  })

  it('refuses the RSA key with another algorithm, and HS256 keyed with its public key', async () => {
    const key = createPrivateKey({ key: rsa, format: 'jwk' })
    const ps256 = await new SignJWT(claims()).setProtectedHeader({ alg: 'PS256', typ: 'at+jwt', kid: rsa.kid }).sign(key)
    expect((await callMixed(ps256)).status).toBe(401)
    const pem = createPublicKey(key).export({ type: 'spki', format: 'pem' }) as string
    const hs256 = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: rsa.kid }).sign(Buffer.from(pem))
    expect((await callMixed(hs256)).status).toBe(401)
    const es256UnderRsaKid = await new SignJWT(claims())
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: rsa.kid })
      .sign(createPrivateKey({ key: current, format: 'jwk' }))
    expect((await callMixed(es256UnderRsaKid)).status).toBe(401)
  })
})
