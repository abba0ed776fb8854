// The README's walkthrough runs on config/gatehouse.yaml: keep it working as documented.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createGateway, type Gateway } from '../src/gateway.js'
import { loadConfig } from '../src/config/load.js'
import { createHash } from 'node:crypto'
import { basic, browserLogin, fetchToken, rawRequest } from './helpers/index.js'

let gateway: Gateway
let url: string

beforeAll(async () => {
  gateway = await createGateway(await loadConfig('config/gatehouse.yaml', {}), { logger: false })
  url = `http://127.0.0.1:${(await gateway.listen('127.0.0.1', 0)).port}`
})
afterAll(() => gateway?.close())

describe('the bundled example config', () => {
  it('gives the demo client a token for the documented secret', async () => {
    const token = await fetchToken(url, 'demo', 'demo-secret')
    expect(token.split('.')).toHaveLength(3)
  })

  it("takes the demo client's id and secret as Basic on /basic/echo", async () => {
    const res = await rawRequest(url, '/basic/echo/hello', { headers: { authorization: basic('demo', 'demo-secret') } })
    // Authenticated, so forwarded: 502 without the demo's echo upstream on :9000, 200 with it.
    expect([200, 502]).toContain(res.status)
  })

  it('protects /api/echo with a Bearer challenge', async () => {
    const res = await rawRequest(url, '/api/echo/hello')
    expect(res.status).toBe(401)
    expect(res.headers['www-authenticate']).toBe('Bearer realm="gatehouse"')
  })

  it("runs the README's browser login flow for demo-web as alice, then refreshes", async () => {
    const verifier = 'readme-verifier-readme-verifier-readme-verifier'
    const challenge = createHash('sha256').update(verifier).digest('base64url')
    const { location } = await browserLogin(
      `${url}/oauth/authorize?response_type=code&client_id=demo-web&redirect_uri=http://127.0.0.1:9000/callback&scope=echo:read&state=xyz&code_challenge=${challenge}&code_challenge_method=S256`,
      { username: 'alice', password: 'alice-password' },
    )
    const code = new URL(location!).searchParams.get('code')!
    const form = { 'content-type': 'application/x-www-form-urlencoded' }
    const tokens = await rawRequest(url, '/oauth/token', {
      method: 'POST',
      headers: form,
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        client_id: 'demo-web',
        code,
        redirect_uri: 'http://127.0.0.1:9000/callback',
        code_verifier: verifier,
      }).toString(),
    })
    expect(tokens.status).toBe(200)
    const { refresh_token } = tokens.json<{ refresh_token: string }>()
    const refreshed = await rawRequest(url, '/oauth/token', {
      method: 'POST',
      headers: form,
      body: new URLSearchParams({ grant_type: 'refresh_token', client_id: 'demo-web', refresh_token }).toString(),
    })
    expect(refreshed.status).toBe(200)
  })

  it('gives the demo client a token for alice with the password grant', async () => {
    const res = await rawRequest(url, '/oauth/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('demo', 'demo-secret') },
      body: 'grant_type=password&username=alice&password=alice-password',
    })
    expect(res.status).toBe(200)
    expect(res.json()).toMatchObject({ scope: 'echo:read echo:write', refresh_token: expect.any(String) })
  })
})
