import { createPublicKey } from 'node:crypto'
import { SignJWT, UnsecuredJWT, base64url } from 'jose'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { generateSigningJwk } from '../../src/oauth/keys.js'
import {
  fastHash,
  fetchToken,
  mintToken,
  rawRequest,
  startGateway,
  startOrigin,
  writeKeyFile,
  type Gateway,
  type KeyFile,
  type Origin,
} from '../helpers/index.js'

const ISSUER = 'http://gatehouse.test'
let gw: Gateway
let origin: Origin
let key: KeyFile
let now = Date.now()

beforeAll(async () => {
  origin = await startOrigin()
  key = await writeKeyFile()
  gw = await startGateway(
    `
issuer: ${ISSUER}
signing: { keyFile: "${key.path}" }
tokens: { accessTokenTtl: 60, clockTolerance: 5 }
clients:
  - { id: reporting, secretHash: "${await fastHash('s3cret')}", scopes: [orders:read, orders:write], group: acme }
  - { id: auditor, secretHash: "${await fastHash('s3cret')}", scopes: [audit] }
routes:
  - { id: orders, path: /api/orders, upstream: "${origin.url}", scopes: [orders:read] }
`,
    { clock: () => now },
  )
})
afterAll(async () => {
  await gw?.close()
  await origin?.close()
})
beforeEach(() => {
  now = Date.now()
  origin.received.length = 0
})

const call = (authorization?: string) => rawRequest(gw.url, '/api/orders/1', { headers: authorization === undefined ? {} : { authorization } })

const claims = (overrides: Record<string, unknown> = {}) => {
  const iat = Math.floor(now / 1000)
  return { iss: ISSUER, aud: ISSUER, sub: 'reporting', client_id: 'reporting', scope: 'orders:read', jti: 'j1', iat, exp: iat + 60, ...overrides }
}

async function expectInvalidToken(authorization: string, description = 'the access token is invalid') {
  const res = await call(authorization)
  expect(res.status).toBe(401)
  expect(res.json()).toEqual({ error: 'invalid_token', error_description: description })
  expect(res.headers['www-authenticate']).toBe(`Bearer realm="gatehouse", error="invalid_token", error_description="${description}"`)
  expect(origin.received).toHaveLength(0)
}

describe('bearer authentication', () => {
  it('lets a valid token through and tells the upstream who called', async () => {
    const token = await fetchToken(gw.url, 'reporting', 's3cret')
    const res = await call(`Bearer ${token}`)
    expect(res.status).toBe(200)
    expect(origin.received[0]!.headers).toMatchObject({
      'x-auth-subject': 'reporting',
      'x-auth-client-id': 'reporting',
      'x-auth-scope': 'orders:read orders:write',
      'x-auth-method': 'bearer',
      'x-auth-group': 'acme',
    })
  })

  it('accepts the scheme name in any case (RFC 7235 §2.1)', async () => {
    const token = await fetchToken(gw.url, 'reporting', 's3cret')
    expect((await call(`bearer ${token}`)).status).toBe(200)
  })

  it('asks for credentials with a challenge without error= when there are none (RFC 6750 §3.1)', async () => {
    const res = await call()
    expect(res.status).toBe(401)
    expect(res.headers['www-authenticate']).toBe('Bearer realm="gatehouse"')
    expect(res.json()).toEqual({ error: 'invalid_request', error_description: 'this route needs credentials' })
    expect(origin.received).toHaveLength(0)
  })

  it('treats a credential of another scheme as no credential', async () => {
    const res = await call('Basic cmVwb3J0aW5nOnMzY3JldA==')
    expect(res.status).toBe(401)
    expect(res.headers['www-authenticate']).toBe('Bearer realm="gatehouse"')
  })

  it("refuses a token that does not grant the route's scopes with 403 insufficient_scope", async () => {
    const token = await fetchToken(gw.url, 'auditor', 's3cret')
    const res = await call(`Bearer ${token}`)
    expect(res.status).toBe(403)
    expect(res.json()).toMatchObject({ error: 'insufficient_scope' })
    expect(res.headers['www-authenticate']).toContain('error="insufficient_scope"')
    expect(res.headers['www-authenticate']).toContain('scope="orders:read"')
    expect(origin.received).toHaveLength(0)
  })

  it('refuses an expired token, and accepts one within the clock tolerance', async () => {
    await expectInvalidToken(`Bearer ${await mintToken(key.jwk, claims({ exp: Math.floor(now / 1000) - 30 }))}`, 'the access token expired')
    expect((await call(`Bearer ${await mintToken(key.jwk, claims({ exp: Math.floor(now / 1000) - 2 }))}`)).status).toBe(200)
  })

  it('stops accepting a cached token once it expires', async () => {
    const token = await fetchToken(gw.url, 'reporting', 's3cret')
    expect((await call(`Bearer ${token}`)).status).toBe(200)
    now += 66_000 // 60 s lifetime + 5 s tolerance, and a second more
    origin.received.length = 0
    await expectInvalidToken(`Bearer ${token}`, 'the access token expired')
  })

  it('refuses a token not yet valid beyond the tolerance', async () => {
    await expectInvalidToken(`Bearer ${await mintToken(key.jwk, claims({ nbf: Math.floor(now / 1000) + 60 }))}`)
  })

  it('refuses a wrong issuer or audience', async () => {
    await expectInvalidToken(`Bearer ${await mintToken(key.jwk, claims({ iss: 'http://evil.test' }))}`)
    await expectInvalidToken(`Bearer ${await mintToken(key.jwk, claims({ aud: 'http://other-api.test' }))}`)
  })

  it('refuses a JWT that is not typed as an access token (RFC 9068 §4)', async () => {
    await expectInvalidToken(`Bearer ${await mintToken(key.jwk, claims(), { typ: 'JWT' })}`)
    await expectInvalidToken(`Bearer ${await mintToken(key.jwk, claims(), { typ: undefined })}`)
  })

  it('refuses a token missing a required claim', async () => {
    await expectInvalidToken(`Bearer ${await mintToken(key.jwk, claims({ client_id: undefined }))}`)
    await expectInvalidToken(`Bearer ${await mintToken(key.jwk, claims({ jti: undefined }))}`)
  })

  it('refuses an unsigned token (alg: none)', async () => {
    const unsecured = new UnsecuredJWT(claims()).encode()
    await expectInvalidToken(`Bearer ${unsecured}`)
  })

  it('refuses HS256 signed with the public key as the secret (algorithm confusion)', async () => {
    const publicPem = createPublicKey({ key: key.jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' })
    const forged = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: key.jwk.kid }).sign(Buffer.from(publicPem))
    await expectInvalidToken(`Bearer ${forged}`)
  })

  it('refuses a token signed by another key, under our kid or another', async () => {
    const attacker = await generateSigningJwk('ES256')
    await expectInvalidToken(`Bearer ${await mintToken(attacker, claims())}`)
    await expectInvalidToken(`Bearer ${await mintToken(attacker, claims(), { kid: key.jwk.kid })}`)
    await expectInvalidToken(`Bearer ${await mintToken(attacker, claims(), { kid: '../../etc/passwd', jwk: { kty: 'EC' } })}`)
  })

  it('refuses a tampered payload', async () => {
    const [h, , s] = (await mintToken(key.jwk, claims())).split('.')
    const payload = base64url.encode(JSON.stringify(claims({ scope: 'orders:read orders:write admin' })))
    await expectInvalidToken(`Bearer ${h}.${payload}.${s}`)
  })

  it('refuses a token of a client that is no longer in the config', async () => {
    await expectInvalidToken(`Bearer ${await mintToken(key.jwk, claims({ sub: 'ghost', client_id: 'ghost' }))}`)
  })

  it('refuses malformed and oversized bearer credentials', async () => {
    await expectInvalidToken('Bearer a b', 'the access token is malformed')
    await expectInvalidToken('Bearer', 'the access token is malformed')
    await expectInvalidToken(`Bearer ${'a'.repeat(5000)}`)
  })
})
