// Attack family 8: secrets leaking into logs or error bodies. A run that sends every kind of
// secret, rightly and wrongly, at the most verbose log level; none may appear in what it wrote.
import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  basic,
  browserLogin,
  captureLogs,
  fastHash,
  freePort,
  rawRequest,
  startGateway,
  startOrigin,
  type Gateway,
  type Origin,
  type RawResponse,
} from '../helpers/index.js'

const CLIENT_SECRET = 'cs-4f1d9a7e-secret'
const WRONG_SECRET = 'cs-wrong-8c2b-secret'
const PASSWORD = 'pw-alice-93be-secret'
const WRONG_PASSWORD = 'pw-wrong-17aa-secret'
const CB = 'http://app.example/cb'
const logs = captureLogs('trace')
let gw: Gateway
let origin: Origin
const secrets: string[] = [CLIENT_SECRET, WRONG_SECRET, PASSWORD, WRONG_PASSWORD]
const errorBodies: string[] = []

beforeAll(async () => {
  origin = await startOrigin()
  const port = await freePort()
  gw = await startGateway(
    `
issuer: http://127.0.0.1:${port}
clients:
  - { id: web, secretHash: "${await fastHash(CLIENT_SECRET)}", grants: [client_credentials, authorization_code, refresh_token, password], scopes: [orders:read], redirectUris: ["${CB}"] }
users: [{ username: alice, passwordHash: "${await fastHash(PASSWORD)}", scopes: [orders:read] }]
routes:
  - { id: orders, path: /api/orders, upstream: "${origin.url}" }
  - { id: basic, path: /basic, upstream: "${origin.url}", auth: [basic] }
  - { id: down, path: /down, upstream: "http://127.0.0.1:1", auth: [] }
`,
    { port, logger: logs.logger },
  )
})
afterAll(async () => {
  await gw?.close()
  await origin?.close()
})

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString()
const note = (res: RawResponse) => {
  if (res.status >= 400) errorBodies.push(res.text)
  return res
}
const post = async (path: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
  note(await rawRequest(gw.url, path, { method: 'POST', headers: { ...FORM, ...headers }, body: form(fields) }))

describe('secrets', () => {
  it('never appear in logs or error bodies, whatever was sent and however it failed', async () => {
    const basicHeader = basic('web', CLIENT_SECRET)
    const wrongBasic = basic('web', WRONG_SECRET)
    secrets.push(basicHeader.slice(6), wrongBasic.slice(6))

    // Client secrets: Basic, in the body, in the query string, wrong ones.
    const cc = (await post('/oauth/token', { grant_type: 'client_credentials' }, { authorization: basicHeader })).json<{ access_token: string }>()
    secrets.push(cc.access_token)
    await post('/oauth/token', { grant_type: 'client_credentials', client_id: 'web', client_secret: CLIENT_SECRET })
    await post(`/oauth/token?client_id=web&client_secret=${CLIENT_SECRET}`, { grant_type: 'client_credentials' })
    await post('/oauth/token', { grant_type: 'client_credentials' }, { authorization: wrongBasic })
    await post('/oauth/token', { grant_type: 'client_credentials', client_id: 'web', client_secret: WRONG_SECRET })

    // Passwords, right and wrong; refresh tokens, used and reused.
    const pw = (await post('/oauth/token', { grant_type: 'password', username: 'alice', password: PASSWORD }, { authorization: basicHeader })).json<{
      access_token: string
      refresh_token: string
    }>()
    secrets.push(pw.access_token, pw.refresh_token)
    await post('/oauth/token', { grant_type: 'password', username: 'alice', password: WRONG_PASSWORD }, { authorization: basicHeader })
    const rotated = (await post('/oauth/token', { grant_type: 'refresh_token', refresh_token: pw.refresh_token }, { authorization: basicHeader })).json<{
      refresh_token: string
    }>()
    secrets.push(rotated.refresh_token)
    await post('/oauth/token', { grant_type: 'refresh_token', refresh_token: pw.refresh_token }, { authorization: basicHeader })
    note(await rawRequest(gw.url, `/oauth/token/refresh?refreshToken=${rotated.refresh_token}`, { method: 'POST', headers: { authorization: basicHeader } }))

    // A code and its verifier, through the login form (with a wrong password first).
    const verifier = 'verifier-5e0c-secret-' + 'x'.repeat(30)
    secrets.push(verifier)
    const authorize = `${gw.url}/oauth/authorize?${form({ response_type: 'code', client_id: 'web', redirect_uri: CB, state: 's', code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256' })}`
    await browserLogin(authorize, { username: 'alice', password: WRONG_PASSWORD })
    const { location } = await browserLogin(authorize, { username: 'alice', password: PASSWORD })
    const code = new URL(location!).searchParams.get('code')!
    secrets.push(code)
    const ac = (
      await post('/oauth/token', { grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: verifier }, { authorization: basicHeader })
    ).json<{ access_token: string }>()
    secrets.push(ac.access_token)
    await post('/oauth/token', { grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: verifier }, { authorization: basicHeader })

    // Tokens and Basic credentials on routes, good and bad, in headers and query strings.
    note(await rawRequest(gw.url, '/api/orders', { headers: { authorization: `Bearer ${ac.access_token}` } }))
    note(await rawRequest(gw.url, `/api/orders?access_token=${cc.access_token}`, { headers: { authorization: `Bearer ${cc.access_token}` } }))
    note(await rawRequest(gw.url, '/api/orders', { headers: { authorization: `Bearer ${cc.access_token.slice(0, -4)}AAAA` } }))
    note(await rawRequest(gw.url, '/basic/x', { headers: { authorization: basicHeader } }))
    note(await rawRequest(gw.url, '/basic/x', { headers: { authorization: wrongBasic } }))
    note(await rawRequest(gw.url, `/down/x?token=${cc.access_token}`, { headers: { authorization: basicHeader } }))

    // Revocation and introspection.
    await post('/oauth/introspect', { token: pw.access_token }, { authorization: basicHeader })
    await post('/oauth/revoke', { token: rotated.refresh_token }, { authorization: basicHeader })

    const written = logs.text()
    expect(written.length).toBeGreaterThan(1000) // the run did log, at trace level
    // The access lines' fields that name the caller were written, so they were checked too.
    expect(written).toMatch(/"client":"web","subject":"web","auth":"basic"/)
    expect(written).toMatch(/"upstreamMs":/)
    for (const secret of secrets) {
      expect(written.includes(secret), `a secret (${secret.slice(0, 6)}…) is in the logs`).toBe(false)
      for (const body of errorBodies) expect(body.includes(secret), `a secret (${secret.slice(0, 6)}…) is in an error body`).toBe(false)
    }
    // No Authorization header, by name or by value (the grant authorization_code may be named).
    expect(written).not.toMatch(/"authorization"\s*:/i)
    expect(written).not.toMatch(/\b(?:Basic|Bearer) [A-Za-z0-9+/=._~-]{8,}/)
  })
})
