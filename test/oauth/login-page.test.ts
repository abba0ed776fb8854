// The login and consent page as a user meets it: who is asking, in words the user knows, and a
// form that puts the cursor where it is needed and says which field is wrong.
import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { browserLogin, fastHash, rawRequest, startGateway, type Gateway } from '../helpers/index.js'

const CB = 'http://app.example/cb'
let gw: Gateway

beforeAll(async () => {
  gw = await startGateway(`
scopes:
  orders:read: See your orders
clients:
  - { id: web-7f3a, name: "Acme Orders", type: public, redirectUris: ["${CB}"], scopes: [orders:read, orders:write] }
users: [{ username: alice, passwordHash: "${await fastHash('alice-pw')}", scopes: [orders:read] }]
`)
})
afterAll(() => gw?.close())

const authorizeUrl = () =>
  `${gw.url}/oauth/authorize?${new URLSearchParams({ response_type: 'code', client_id: 'web-7f3a', redirect_uri: CB, scope: 'orders:read orders:write', code_challenge: createHash('sha256').update('v'.repeat(43)).digest('base64url'), code_challenge_method: 'S256' })}`

/** WCAG relative luminance contrast of a #rrggbb colour against white. */
function contrastOnWhite(hex: string): number {
  const channel = (i: number) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4
  }
  const l = 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5)
  return 1.05 / (l + 0.05)
}

describe('the login page', () => {
  it('names the app by its display name and the scopes by their descriptions', async () => {
    const page = await rawRequest(gw.url, authorizeUrl().slice(gw.url.length))
    expect(page.text).toContain('<h1>Sign in to continue to Acme Orders</h1>')
    expect(page.text).toContain('<li>See your orders <span class="muted">(orders:read)</span></li>')
    expect(page.text).toContain('<li>orders:write</li>') // no description configured: shown as is
    expect(page.text).toContain('>Sign in and allow</button>')
  })

  it('focuses the username first, and the password after a wrong one, with the error tied to the fields', async () => {
    const page = await rawRequest(gw.url, authorizeUrl().slice(gw.url.length))
    expect(page.text).toMatch(/<input type="text" id="username"[^>]* autofocus>/)
    expect(page.text).not.toMatch(/<input[^>]*aria-invalid/)
    const { submit } = await browserLogin(authorizeUrl(), { password: 'wrong' })
    expect(submit?.status).toBe(401)
    expect(submit?.text).toMatch(/<p class="error" id="form-error" role="alert">/)
    expect(submit?.text).toMatch(/<input type="password" id="password"[^>]* aria-invalid="true" aria-describedby="form-error" autofocus>/)
    expect(submit?.text).toMatch(/<input type="text" id="username"[^>]*value="alice" aria-invalid="true" aria-describedby="form-error">/)
  })

  it('draws input borders at 3:1 contrast or more (WCAG 1.4.11)', async () => {
    const page = await rawRequest(gw.url, authorizeUrl().slice(gw.url.length))
    const border = /input\[type=text\],input\[type=password\]\{[^}]*border:1px solid (#[0-9a-f]{6})/.exec(page.text)![1]!
    expect(contrastOnWhite(border)).toBeGreaterThanOrEqual(3)
  })
})
