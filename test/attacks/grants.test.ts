// Attack family 5: abusing grants. (Code replay, twenty parallel redemptions also across two
// instances on one Redis, codes of other clients, expired codes, PKCE downgrade and concurrent
// refreshes run in test/oauth/lifecycle.test.ts against both stores; these are the rest.)
import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { basic, browserLogin, fastHash, rawRequest, startGateway, startOrigin, type Gateway, type Origin } from '../helpers/index.js'

const CB = 'http://app.example/cb'
let gw: Gateway
let origin: Origin

beforeAll(async () => {
  origin = await startOrigin()
  gw = await startGateway(`
tokenEndpoint: { rateLimit: { points: 10000, duration: 60 }, failureLimit: { points: 10000, duration: 60 } }
authorize: { loginFailureLimitPerIp: { points: 10000, duration: 60 } }
clients:
  - { id: web, secretHash: "${await fastHash('s3cret')}", grants: [authorization_code, refresh_token, password], scopes: [orders:read], redirectUris: ["${CB}"] }
users: [{ username: alice, passwordHash: "${await fastHash('alice-pw')}", scopes: [orders:read] }]
routes: [{ id: orders, path: /api/orders, upstream: "${origin.url}" }]
`)
})
afterAll(async () => {
  await gw?.close()
  await origin?.close()
})

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString()
const token = (fields: Record<string, string>) =>
  rawRequest(gw.url, '/oauth/token', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('web', 's3cret') },
    body: form(fields),
  })
const verifier = 'v'.repeat(50)
const challenge = createHash('sha256').update(verifier).digest('base64url')
async function code(): Promise<string> {
  const { location } = await browserLogin(
    `${gw.url}/oauth/authorize?${form({ response_type: 'code', client_id: 'web', redirect_uri: CB, state: 's', code_challenge: challenge, code_challenge_method: 'S256' })}`,
  )
  return new URL(location!).searchParams.get('code')!
}
const passwordTokens = async () =>
  (await token({ grant_type: 'password', username: 'alice', password: 'alice-pw' })).json<{ access_token: string; refresh_token: string }>()

describe('grant attacks', () => {
  it.each([
    [`${CB}/`, 'trailing slash'],
    ['http://APP.example/cb', 'host case'],
    ['http://app.example/CB', 'path case'],
    ['http://app.example:80/cb', 'explicit default port'],
    ['https://app.example/cb', 'other scheme'],
    [`${CB}?`, 'empty query'],
    [`${CB}?next=http://evil.example`, 'extra query'],
    [`${CB}#x`, 'fragment'],
    ['http://app.example@evil.example/cb', 'userinfo: the browser goes to evil.example'],
    ['http://app.example.evil.example/cb', 'suffix domain'],
    [`${CB}/../evil`, 'dot-dot'],
    [`${CB}%2F..%2Fevil`, 'encoded dot-dot'],
    ['//evil.example/cb', 'scheme-relative'],
    ['http://evil.example/cb', 'another host'],
  ])('never redirects to the near miss %s (%s)', async (redirect_uri) => {
    const res = await rawRequest(gw.url, `/oauth/authorize?${form({ response_type: 'code', client_id: 'web', redirect_uri, state: 's' })}`)
    expect(res.status).toBe(400)
    expect(res.headers.location).toBeUndefined()
  })

  it('never redirects for an unknown client, whatever redirect_uri it names', async () => {
    const res = await rawRequest(gw.url, `/oauth/authorize?${form({ response_type: 'code', client_id: 'evil', redirect_uri: 'http://evil.example/cb' })}`)
    expect(res.status).toBe(400)
    expect(res.headers.location).toBeUndefined()
  })

  it('refuses hybrid and unknown response types', async () => {
    for (const response_type of ['code token', 'code id_token', 'none', 'CODE']) {
      const res = await rawRequest(gw.url, `/oauth/authorize?${form({ response_type, client_id: 'web', redirect_uri: CB, state: 's' })}`)
      expect(res.status, response_type).toBe(302)
      expect(new URL(res.headers.location!).searchParams.get('error'), response_type).toBe('unsupported_response_type')
    }
  })

  it.each([
    ['v'.repeat(42), 'too short (RFC 7636 §4.1: 43 to 128)'],
    ['v'.repeat(129), 'too long'],
    ['v'.repeat(49) + '+', 'outside the alphabet'],
    ['v'.repeat(49) + '/', 'outside the alphabet'],
    [challenge, 'the challenge itself'],
  ])('refuses the code_verifier %s… (%s)', async (bad) => {
    const res = await token({ grant_type: 'authorization_code', code: await code(), redirect_uri: CB, code_verifier: bad })
    expect(res.status).toBe(400)
    expect(res.json()).toMatchObject({ error: 'invalid_grant' })
  })

  it('does not take one kind of token for another', async () => {
    const { access_token, refresh_token } = await passwordTokens()
    // a refresh token is not an access token
    expect((await rawRequest(gw.url, '/api/orders', { headers: { authorization: `Bearer ${refresh_token}` } })).status).toBe(401)
    // an access token, or a code, is not a refresh token
    expect((await token({ grant_type: 'refresh_token', refresh_token: access_token })).json()).toMatchObject({ error: 'invalid_grant' })
    expect((await token({ grant_type: 'refresh_token', refresh_token: await code() })).json()).toMatchObject({ error: 'invalid_grant' })
    // a refresh token is not a code
    expect((await token({ grant_type: 'authorization_code', code: refresh_token, redirect_uri: CB, code_verifier: verifier })).json()).toMatchObject({
      error: 'invalid_grant',
    })
    expect(origin.received).toEqual([])
  })

  it('answers 200 with a token once, then invalid_grant, for the honest flow (the control case)', async () => {
    const c = await code()
    expect((await token({ grant_type: 'authorization_code', code: c, redirect_uri: CB, code_verifier: verifier })).status).toBe(200)
    expect((await token({ grant_type: 'authorization_code', code: c, redirect_uri: CB, code_verifier: verifier })).status).toBe(400)
  })
})
