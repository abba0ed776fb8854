// A single-page app in a real browser: authorization code with PKCE, the code redeemed by fetch()
// from the app's own origin, which CORS must allow (draft-ietf-oauth-browser-based-apps). Before
// gatehouse answered CORS, the preflight to /oauth/token was 404 and the app could not get a token.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { browserAvailable, launchBrowser } from '../helpers/browser.js'
import { fastHash, freePort, startGateway, type Gateway } from '../helpers/index.js'

const run = browserAvailable()

/** A tiny SPA: / starts the flow, /callback redeems the code with fetch and shows the outcome. */
function spaPage(gatewayUrl: string): string {
  return `<!doctype html><html><body><script type="module">
const b64url = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '')
const redirect = location.origin + '/callback'
if (location.pathname === '/') {
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)))
  sessionStorage.setItem('verifier', verifier)
  const challenge = b64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))))
  location.href = '${gatewayUrl}/oauth/authorize?' + new URLSearchParams({ response_type: 'code', client_id: 'spa', redirect_uri: redirect, scope: 'read', state: 'xyz', code_challenge: challenge, code_challenge_method: 'S256' })
} else {
  const code = new URLSearchParams(location.search).get('code')
  try {
    const res = await fetch('${gatewayUrl}/oauth/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', client_id: 'spa', code, redirect_uri: redirect, code_verifier: sessionStorage.getItem('verifier') }),
    })
    document.body.dataset.outcome = JSON.stringify({ status: res.status, body: await res.json() })
  } catch (err) {
    document.body.dataset.outcome = JSON.stringify({ error: String(err) })
  }
}
</script></body></html>`
}

async function serveSpa(gatewayUrl: string): Promise<{ origin: string; server: Server }> {
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(spaPage(gatewayUrl)))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server }
}

describe.skipIf(!run)('a single-page app in a real browser', () => {
  let browser: Browser
  let gw: Gateway
  let allowed: { origin: string; server: Server }
  let stranger: { origin: string; server: Server }

  beforeAll(async () => {
    const port = await freePort()
    const gatewayUrl = `http://127.0.0.1:${port}`
    allowed = await serveSpa(gatewayUrl)
    stranger = await serveSpa(gatewayUrl)
    gw = await startGateway(
      `
issuer: ${gatewayUrl}
clients:
  - id: spa
    name: The Test SPA
    type: public
    scopes: [read]
    redirectUris: ["${allowed.origin}/callback", "${stranger.origin}/callback"]
    webOrigins: ["${allowed.origin}"]
users: [{ username: alice, passwordHash: "${await fastHash('alice-pw')}", scopes: [read] }]
`,
      { port },
    )
    browser = await launchBrowser()
  })
  afterAll(async () => {
    await browser?.close()
    await gw?.close()
    allowed?.server.close()
    stranger?.server.close()
  })

  async function signInFrom(origin: string): Promise<Record<string, unknown>> {
    const page = await browser.newPage()
    try {
      await page.goto(origin + '/')
      await page.waitForSelector('#username') // the gateway's login page
      expect(await page.locator('h1').textContent()).toBe('Sign in to continue to The Test SPA')
      expect(await page.evaluate(() => document.activeElement?.id)).toBe('username') // autofocus
      await page.fill('#username', 'alice')
      await page.fill('#password', 'alice-pw')
      await page.click('button[value=approve]')
      await page.waitForFunction(() => document.body?.dataset.outcome !== undefined, undefined, { timeout: 10_000 })
      return JSON.parse((await page.evaluate(() => document.body.dataset.outcome))!)
    } finally {
      await page.close()
    }
  }

  it('signs in on the login page and redeems the code with fetch from its own origin', async () => {
    const outcome = await signInFrom(allowed.origin)
    expect(outcome).toMatchObject({ status: 200, body: { token_type: 'Bearer', access_token: expect.any(String), scope: 'read' } })
  })

  it('cannot read the token endpoint from an origin the client does not list', async () => {
    const outcome = await signInFrom(stranger.origin)
    expect(outcome).toEqual({ error: expect.stringMatching(/TypeError/) }) // the browser blocked it
  })
})
