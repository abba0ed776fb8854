// Per-client token shape, for clients of systems that shaped their tokens otherwise: MAXST puts the
// client id in "aud" and a "typ" claim in the payload; POD Shop's clients get a refresh token from
// the client-credentials grant (a legacy deviation from RFC 6749 §4.4.3, opted into per client).
import { decodeJwt } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConfigError } from '../../src/errors.js'
import { parseConfig } from '../../src/config/load.js'
import {
  basic,
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

beforeAll(async () => {
  origin = await startOrigin()
  key = await writeKeyFile()
  gw = await startGateway(`
issuer: ${ISSUER}
signing: { keyFile: "${key.path}" }
clients:
  - { id: maxst-app, secretHash: "${await fastHash('s3cret')}", group: biz-1, token: { audience: client_id, claims: { typ: app } } }
  - { id: fixed, secretHash: "${await fastHash('s3cret')}", token: { audience: "https://api.example" } }
  - { id: plain, secretHash: "${await fastHash('s3cret')}" }
  - { id: pod, secretHash: "${await fastHash('s3cret')}", grants: [client_credentials, refresh_token], token: { refreshWithClientCredentials: true } }
routes: [{ id: api, path: /api, upstream: "${origin.url}" }]
`)
})
afterAll(async () => {
  await gw?.close()
  await origin?.close()
})

const call = (token: string) => rawRequest(gw.url, '/api/x', { headers: { authorization: `Bearer ${token}` } })
const form = { 'content-type': 'application/x-www-form-urlencoded' }

describe('per-client access token shape', () => {
  it('sets aud to the client id and adds static claims, and the token works on routes', async () => {
    const token = await fetchToken(gw.url, 'maxst-app', 's3cret')
    expect(decodeJwt(token)).toMatchObject({ aud: 'maxst-app', typ: 'app', sub: 'maxst-app', app: 'maxst-app', azp: 'maxst-app', biz: 'biz-1', iss: ISSUER })
    expect((await call(token)).status).toBe(200)
  })

  it('sets a fixed audience, and leaves other clients on tokens.audience', async () => {
    expect(decodeJwt(await fetchToken(gw.url, 'fixed', 's3cret')).aud).toBe('https://api.example')
    const plain = await fetchToken(gw.url, 'plain', 's3cret')
    expect(decodeJwt(plain).aud).toBe(ISSUER)
    expect((await call(plain)).status).toBe(200)
  })

  it("refuses a token whose aud is another client's (not one we minted for it)", async () => {
    const now = Math.floor(Date.now() / 1000)
    const forged = await mintToken(key.jwk, { iss: ISSUER, aud: 'maxst-app', sub: 'plain', client_id: 'plain', scope: '', jti: 'x', iat: now, exp: now + 60 })
    expect((await call(forged)).status).toBe(401)
  })

  it('refuses static claims the gateway sets itself, naming the key', async () => {
    for (const claim of ['sub', 'iss', 'exp', 'scope', 'client_id', 'aud', 'jti', 'iat']) {
      await expect(parseConfig(`clients: [{ id: a, secret: s, token: { claims: { ${claim}: x } } }]`, '/tmp/g.yaml', {})).rejects.toThrow(
        new RegExp(`clients\\[0\\]\\.token\\.claims\\.${claim}: "${claim}" is set by the gateway`),
      )
    }
    await expect(parseConfig('clients: [{ id: a, secret: s, token: { refreshWithClientCredentials: true } }]', '/tmp/g.yaml', {})).rejects.toThrow(ConfigError)
  })

  it('returns a refresh token from client_credentials to a client that opts in, and refreshes it', async () => {
    const res = await rawRequest(gw.url, '/oauth/token', {
      method: 'POST',
      headers: { ...form, authorization: basic('pod', 's3cret') },
      body: 'grant_type=client_credentials',
    })
    const first = res.json<{ access_token: string; refresh_token: string; refresh_expires_in: number }>()
    expect(first).toMatchObject({ refresh_token: expect.any(String), refresh_expires_in: expect.any(Number) })
    const refreshed = await rawRequest(gw.url, `/oauth/token/refresh?refreshToken=${first.refresh_token}`, {
      method: 'POST',
      headers: { authorization: basic('pod', 's3cret') },
    })
    expect(refreshed.status).toBe(200)
    const second = refreshed.json<{ access_token: string; refresh_token: string }>()
    expect(decodeJwt(second.access_token).sub).toBe('pod')
    expect((await call(second.access_token)).status).toBe(200)
    // Rotation and reuse detection hold as for users' refresh tokens.
    const reused = await rawRequest(gw.url, '/oauth/token', {
      method: 'POST',
      headers: { ...form, authorization: basic('pod', 's3cret') },
      body: `grant_type=refresh_token&refresh_token=${first.refresh_token}`,
    })
    expect(reused.json()).toMatchObject({ error: 'invalid_grant' })
    expect((await call(second.access_token)).status).toBe(401)
  })

  it('returns no refresh token from client_credentials by default (RFC 6749 §4.4.3)', async () => {
    const res = await rawRequest(gw.url, '/oauth/token', {
      method: 'POST',
      headers: { ...form, authorization: basic('plain', 's3cret') },
      body: 'grant_type=client_credentials',
    })
    expect(res.json()).not.toHaveProperty('refresh_token')
  })
})
