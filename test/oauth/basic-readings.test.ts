// HTTP Basic as clients really send it. RFC 6749 §2.3.1 form-encodes id and secret before base64,
// but RFC 7617, curl -u, Python's requests and authlib, and POD Shop's instructions
// (`echo -n 'id:key' | base64`) send them as they are. Both readings are accepted, as one attempt.
import { execFile, spawnSync } from 'node:child_process'
import { promisify } from 'node:util'
import * as oidc from 'openid-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fastHash, rawRequest, startGateway, startOrigin, type Gateway, type Origin } from '../helpers/index.js'

const hasCurl = spawnSync('curl', ['--version'], { stdio: 'ignore' }).status === 0

const SECRET = 'p+q%zz w%20x' // a +, a bare %, a space and a %20: every way the two readings differ
let gw: Gateway
let origin: Origin

beforeAll(async () => {
  origin = await startOrigin()
  gw = await startGateway(`
server: { trustedProxies: [127.0.0.1] }
tokenEndpoint: { failureLimit: { points: 3, duration: 60 } }
clients:
  - { id: legacy, secretHash: "${await fastHash(SECRET)}" }
  - { id: spaced, secretHash: "${await fastHash('a%20b')}" }
  - { id: spa, type: public, redirectUris: ["http://app.example/cb"] }
routes: [{ id: api, path: /api, upstream: "${origin.url}", auth: [basic] }]
`)
})
afterAll(async () => {
  await gw?.close()
  await origin?.close()
})

const raw = (id: string, secret: string) => 'Basic ' + Buffer.from(`${id}:${secret}`).toString('base64')
const formEncoded = (id: string, secret: string) => {
  const enc = (s: string) => new URLSearchParams({ v: s }).toString().slice(2)
  return 'Basic ' + Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')
}
let address = 0
/** Each case from its own address, so that the failure limit of one does not touch another. */
const from = () => ({ 'x-forwarded-for': `198.51.100.${++address}` })
const token = (authorization: string, headers: Record<string, string> = from(), body = 'grant_type=client_credentials') =>
  rawRequest(gw.url, '/oauth/token', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization, ...headers }, body })

describe('Basic credentials, as sent and as form-encoded', () => {
  it('accepts a secret with +, % and spaces sent as curl -u sends it, and form-encoded', async () => {
    expect((await token(raw('legacy', SECRET))).status).toBe(200)
    expect((await token(formEncoded('legacy', SECRET))).status).toBe(200)
    expect((await token(raw('legacy', 'p q%zz w%20x'))).status).toBe(401)
  })

  it('accepts both readings on a Basic route', async () => {
    expect((await rawRequest(gw.url, '/api/x', { headers: { authorization: raw('legacy', SECRET), ...from() } })).status).toBe(200)
    expect((await rawRequest(gw.url, '/api/x', { headers: { authorization: formEncoded('legacy', SECRET), ...from() } })).status).toBe(200)
  })

  it('never lets a header verified by one reading vouch for another header with the same other reading', async () => {
    // "a%20b" verifies by its raw reading; "a b" reads as "a b" only, which is not the secret.
    const headers = from()
    expect((await rawRequest(gw.url, '/api/x', { headers: { authorization: raw('spaced', 'a%20b'), ...headers } })).status).toBe(200)
    expect((await rawRequest(gw.url, '/api/x', { headers: { authorization: raw('spaced', 'a b'), ...headers } })).status).toBe(401)
  })

  it('counts a header with two readings as one attempt against the failure limit', async () => {
    const headers = from()
    const statuses = []
    for (let i = 0; i < 4; i++) statuses.push((await token(raw('legacy', `guess+${i}%20`), headers)).status)
    expect(statuses).toEqual([401, 401, 401, 429])
  })

  it('takes Basic base64("id:") as a public client with no secret, as requests-oauthlib sends it', async () => {
    const res = await token(
      raw('spa', ''),
      from(),
      'grant_type=authorization_code&code=made-up&redirect_uri=http%3A%2F%2Fapp.example%2Fcb&code_verifier=' + 'v'.repeat(43),
    )
    expect(res.status).toBe(400) // the client is known and public; only the made-up code is wrong
    expect(res.json()).toMatchObject({ error: 'invalid_grant' })
    expect((await token(raw('legacy', ''))).status).toBe(401) // a confidential client with no secret
  })

  // Found by an outside review: introspection refused a public client only when no Authorization
  // header came, so `Basic base64("spa:")` let anyone check a stolen public-client token's liveness.
  it('does not let a public client introspect, however it names itself', async () => {
    for (const headers of [{ authorization: raw('spa', ''), ...from() }, from()]) {
      const res = await rawRequest(gw.url, '/oauth/introspect', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body: 'token=anything&client_id=spa',
      })
      expect(res.status).toBe(401)
      expect(res.json()).toMatchObject({ error: 'invalid_client' })
    }
  })

  // Real clients, as they build the header: curl -u sends the parts as they are (RFC 7617), and
  // openid-client form-encodes them first (RFC 6749 §2.3.1). Both get a token for the same secret.
  it.skipIf(!hasCurl)('gives curl -u a token for a secret with +, % and spaces', async () => {
    const { stdout } = await promisify(execFile)('curl', [
      '-s',
      '-u',
      `legacy:${SECRET}`,
      '-H',
      'x-forwarded-for: 198.51.100.200',
      '-d',
      'grant_type=client_credentials',
      `${gw.url}/oauth/token`,
    ])
    expect(JSON.parse(stdout)).toMatchObject({ token_type: 'Bearer', access_token: expect.any(String) })
  })

  it('gives openid-client (client_secret_basic, form-encoded) a token for the same secret', async () => {
    const config = new oidc.Configuration(
      { issuer: gw.config.issuer, token_endpoint: `${gw.url}/oauth/token` },
      'legacy',
      undefined,
      oidc.ClientSecretBasic(SECRET),
    )
    oidc.allowInsecureRequests(config)
    const tokens = await oidc.clientCredentialsGrant(config)
    expect(tokens.token_type.toLowerCase()).toBe('bearer')
  })
})
