import { decodeJwt, decodeProtectedHeader } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { basic, fastHash, rawRequest, startGateway, type Gateway } from '../helpers/index.js'

const ODD_ID = 'odd:client'
const ODD_SECRET = 'p@ss word+&:=%41é'
let gw: Gateway

beforeAll(async () => {
  gw = await startGateway(`
issuer: http://gatehouse.test
tokenEndpoint:
  paths: [/passport/token, /o/token/]
  rateLimit: { points: 1000, duration: 60 }     # the limits have tests of their own
  failureLimit: { points: 1000, duration: 60 }
clients:
  - id: reporting
    secretHash: "${await fastHash('s3cret')}"
    grants: [client_credentials]
    scopes: [orders:read, orders:write]
    group: acme
  - id: "${ODD_ID}"
    secretHash: "${await fastHash(ODD_SECRET)}"
    scopes: [x]
  - id: passwordonly
    secretHash: "${await fastHash('s3cret')}"
    grants: [password]
`)
})
afterAll(() => gw?.close())

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
const post = (body: string, headers: Record<string, string> = {}, path = '/oauth/token') =>
  rawRequest(gw.url, path, { method: 'POST', headers: { ...FORM, ...headers }, body })

describe('POST /oauth/token, client_credentials', () => {
  it('issues an RFC 9068 access token to a client authenticated with HTTP Basic', async () => {
    const res = await post('grant_type=client_credentials', { authorization: basic('reporting', 's3cret') })
    expect(res.status).toBe(200)
    expect(res.headers['cache-control']).toBe('no-store')
    expect(res.headers['pragma']).toBe('no-cache')
    const body = res.json<{ access_token: string }>()
    expect(body).toEqual({ access_token: expect.any(String), token_type: 'Bearer', expires_in: 3600, scope: 'orders:read orders:write' })

    const header = decodeProtectedHeader(body.access_token)
    expect(header).toEqual({ alg: 'ES256', typ: 'at+jwt', kid: gw.config && expect.any(String) })
    const claims = decodeJwt(body.access_token)
    expect(claims).toEqual({
      iss: 'http://gatehouse.test',
      aud: 'http://gatehouse.test',
      sub: 'reporting',
      client_id: 'reporting',
      azp: 'reporting',
      app: 'reporting',
      biz: 'acme',
      scope: 'orders:read orders:write',
      jti: expect.stringMatching(/^[0-9a-f-]{36}$/),
      iat: expect.any(Number),
      exp: expect.any(Number),
      auth_time: expect.any(Number),
    })
    expect(claims.exp! - claims.iat!).toBe(3600)
    expect(Math.abs(claims.iat! - Date.now() / 1000)).toBeLessThan(10)
  })

  it('accepts client_id and client_secret in the form body (client_secret_post)', async () => {
    const res = await post('grant_type=client_credentials&client_id=reporting&client_secret=s3cret')
    expect(res.status).toBe(200)
    expect(decodeJwt(res.json<{ access_token: string }>().access_token).sub).toBe('reporting')
  })

  it('form-url-decodes the Basic id and secret (RFC 6749 §2.3.1)', async () => {
    const encoded = (s: string) => new URLSearchParams({ v: s }).toString().slice(2) // spaces as '+'
    const ok = await post('grant_type=client_credentials', {
      authorization: 'Basic ' + Buffer.from(`${encoded(ODD_ID)}:${encoded(ODD_SECRET)}`).toString('base64'),
    })
    expect(ok.status).toBe(200)
    expect(decodeJwt(ok.json<{ access_token: string }>().access_token).client_id).toBe(ODD_ID)
    // Unencoded, "+" decodes to a space and "%41" to "A": no longer the secret.
    const raw = await post('grant_type=client_credentials', {
      authorization: 'Basic ' + Buffer.from(`${encoded(ODD_ID)}:${ODD_SECRET}`).toString('base64'),
    })
    expect(raw.status).toBe(401)
  })

  it('narrows scopes on request and refuses scopes the client does not have', async () => {
    const auth = { authorization: basic('reporting', 's3cret') }
    const narrowed = await post('grant_type=client_credentials&scope=orders%3Aread', auth)
    expect(narrowed.json()).toMatchObject({ scope: 'orders:read' })
    expect(decodeJwt(narrowed.json<{ access_token: string }>().access_token).scope).toBe('orders:read')

    const wider = await post('grant_type=client_credentials&scope=orders%3Aread+admin', auth)
    expect(wider.status).toBe(400)
    expect(wider.json()).toEqual({ error: 'invalid_scope', error_description: expect.any(String) })

    const malformed = await post('grant_type=client_credentials&scope=orders%3Aread++orders%3Awrite', auth)
    expect(malformed.json()).toMatchObject({ error: 'invalid_scope' })
  })

  it('answers at every legacy path of tokenEndpoint.paths, exactly as written', async () => {
    for (const path of ['/passport/token', '/o/token/']) {
      const res = await post('grant_type=client_credentials', { authorization: basic('reporting', 's3cret') }, path)
      expect(res.status, path).toBe(200)
    }
    // Django OAuth Toolkit's clients post to /o/token/; the slash is part of the path, as configured.
    expect((await post('grant_type=client_credentials', { authorization: basic('reporting', 's3cret') }, '/o/token')).status).toBe(404)
  })
})

describe('POST /oauth/token, client authentication failures', () => {
  it('refuses a wrong secret and an unknown client with the same 401 and body', async () => {
    const wrong = await post('grant_type=client_credentials', { authorization: basic('reporting', 'nope') })
    const unknown = await post('grant_type=client_credentials', { authorization: basic('nobody', 'nope') })
    for (const res of [wrong, unknown]) {
      expect(res.status).toBe(401)
      expect(res.headers['www-authenticate']).toBe('Basic realm="gatehouse", charset="UTF-8"')
      expect(res.headers['cache-control']).toBe('no-store')
    }
    expect(wrong.json()).toEqual(unknown.json())
    expect(wrong.json()).toEqual({ error: 'invalid_client', error_description: 'client authentication failed' })
  })

  it('refuses a wrong secret sent in the body with 401 and no Basic challenge', async () => {
    const res = await post('grant_type=client_credentials&client_id=reporting&client_secret=nope')
    expect(res.status).toBe(401)
    expect(res.headers['www-authenticate']).toBeUndefined()
    expect(res.json()).toMatchObject({ error: 'invalid_client' })
  })

  it('refuses a request with no client authentication', async () => {
    const res = await post('grant_type=client_credentials')
    expect(res.status).toBe(401)
    expect(res.json()).toMatchObject({ error: 'invalid_client' })
    const idOnly = await post('grant_type=client_credentials&client_id=reporting')
    expect(idOnly.status).toBe(401)
  })

  it('refuses two authentication methods at once', async () => {
    const res = await post('grant_type=client_credentials&client_secret=s3cret', { authorization: basic('reporting', 's3cret') })
    expect(res.status).toBe(400)
    expect(res.json()).toMatchObject({ error: 'invalid_request' })
    const mismatch = await post('grant_type=client_credentials&client_id=other', { authorization: basic('reporting', 's3cret') })
    expect(mismatch.json()).toMatchObject({ error: 'invalid_request' })
  })

  it('refuses malformed Basic credentials as invalid_request', async () => {
    for (const authorization of ['Basic !!!', 'Basic cmVwb3J0aW5n' /* no colon */, 'Basic cmVwb3J0aW5nOnMzY3JldA' /* unpadded */, 'Bearer abc']) {
      const res = await post('grant_type=client_credentials', { authorization })
      expect(res.status, authorization).toBe(400)
      expect(res.json(), authorization).toMatchObject({ error: 'invalid_request' })
    }
  })
})

describe('POST /oauth/token, malformed requests', () => {
  const auth = { authorization: basic('reporting', 's3cret') }

  it('needs grant_type, knows which grants exist, and which a client may use', async () => {
    expect((await post('scope=x', auth)).json()).toMatchObject({ error: 'invalid_request' })
    const unknown = await post('grant_type=urn%3Aexample%3Amagic', auth)
    expect(unknown.status).toBe(400)
    expect(unknown.json()).toMatchObject({ error: 'unsupported_grant_type' })
    const notAllowed = await post('grant_type=client_credentials', { authorization: basic('passwordonly', 's3cret') })
    expect(notAllowed.status).toBe(400)
    expect(notAllowed.json()).toMatchObject({ error: 'unauthorized_client' })
  })

  it('refuses a repeated parameter (RFC 6749 §3.2)', async () => {
    const res = await post('grant_type=client_credentials&scope=orders%3Aread&scope=orders%3Awrite', auth)
    expect(res.status).toBe(400)
    expect(res.json()).toEqual({ error: 'invalid_request', error_description: 'parameter "scope" is repeated' })
  })

  it('treats an empty parameter as omitted (RFC 6749 §3.1)', async () => {
    const res = await post('grant_type=client_credentials&scope=', auth)
    expect(res.status).toBe(200)
    expect(res.json()).toMatchObject({ scope: 'orders:read orders:write' })
  })

  it('accepts a charset parameter on the form content type', async () => {
    const res = await post('grant_type=client_credentials', { ...auth, 'content-type': 'application/x-www-form-urlencoded; charset=UTF-8' })
    expect(res.status).toBe(200)
  })

  it('answers a wrong content type, no body or an oversized body with invalid_request, never a 500', async () => {
    const cases = [
      { headers: { ...auth, 'content-type': 'application/json' }, body: '{"grant_type":"client_credentials"}' },
      { headers: { ...auth, 'content-type': 'text/plain' }, body: 'grant_type=client_credentials' },
      { headers: { authorization: auth.authorization }, body: undefined },
      { headers: { ...auth, ...FORM }, body: 'grant_type=client_credentials&pad=' + 'x'.repeat(17 * 1024) },
    ]
    for (const c of cases) {
      const res = await rawRequest(gw.url, '/oauth/token', { method: 'POST', headers: c.headers, body: c.body })
      expect(res.status, JSON.stringify(c.headers)).toBe(400)
      expect(res.json(), JSON.stringify(c.headers)).toMatchObject({ error: 'invalid_request', error_description: expect.any(String) })
      expect(res.headers['cache-control']).toBe('no-store')
    }
  })

  it('never reads client credentials from the query string', async () => {
    const res = await rawRequest(gw.url, '/oauth/token?client_id=reporting&client_secret=s3cret', {
      method: 'POST',
      headers: FORM,
      body: 'grant_type=client_credentials',
    })
    expect(res.status).toBe(401)
  })

  it('answers other methods with 405 and Allow: POST', async () => {
    const res = await rawRequest(gw.url, '/oauth/token')
    expect(res.status).toBe(405)
    expect(res.headers['allow']).toBe('POST')
    expect(res.json()).toMatchObject({ error: 'method_not_allowed' })
  })
})
