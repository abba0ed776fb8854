// CORS for browser apps (draft-ietf-oauth-browser-based-apps): the token, revocation and
// introspection endpoints answer the origins their clients list; the JWKS and metadata also the
// config's webOrigins; the authorize page never; no credentials mode anywhere.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { rawRequest, startGateway, type Gateway } from '../helpers/index.js'

const SPA = 'https://spa.example'
let gw: Gateway

beforeAll(async () => {
  gw = await startGateway(`
webOrigins: ["https://docs.example"]
clients: [{ id: spa, type: public, redirectUris: ["${SPA}/cb"], webOrigins: ["${SPA}"] }]
`)
})
afterAll(() => gw?.close())

const preflight = (path: string, origin: string, method = 'POST') =>
  rawRequest(gw.url, path, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': 'content-type' },
  })

describe('CORS', () => {
  it('answers a preflight to the token endpoint from a client origin, without credentials', async () => {
    const res = await preflight('/oauth/token', SPA)
    expect(res.status).toBe(204)
    expect(res.headers).toMatchObject({ 'access-control-allow-origin': SPA, 'access-control-allow-methods': 'POST', vary: 'Origin' })
    expect(res.headers['access-control-allow-headers']).toContain('content-type')
    expect(res.headers).not.toHaveProperty('access-control-allow-credentials')
  })

  it('answers a plain OPTIONS (no preflight) with what the path takes', async () => {
    const res = await rawRequest(gw.url, '/oauth/token', { method: 'OPTIONS' })
    expect(res.status).toBe(204)
    expect(res.headers.allow).toBe('POST, OPTIONS')
    expect(res.headers).not.toHaveProperty('access-control-allow-origin')
  })

  it('refuses a preflight from another origin, or for another method', async () => {
    expect((await preflight('/oauth/token', 'https://evil.example')).status).toBe(403)
    expect((await preflight('/oauth/token', SPA, 'DELETE')).status).toBe(403)
  })

  it('lets the client origin read token answers, errors included, and no other origin', async () => {
    const mine = await rawRequest(gw.url, '/oauth/token', {
      method: 'POST',
      headers: { origin: SPA, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=authorization_code&client_id=spa&code=x',
    })
    expect(mine.status).toBe(400)
    expect(mine.headers['access-control-allow-origin']).toBe(SPA)
    const other = await rawRequest(gw.url, '/oauth/token', {
      method: 'POST',
      headers: { origin: 'https://evil.example', 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=authorization_code&client_id=spa&code=x',
    })
    expect(other.headers).not.toHaveProperty('access-control-allow-origin')
    for (const path of ['/oauth/revoke', '/oauth/introspect']) expect((await preflight(path, SPA)).status).toBe(204)
  })

  it('serves the JWKS and metadata to client origins and the global list', async () => {
    for (const origin of [SPA, 'https://docs.example']) {
      const res = await rawRequest(gw.url, '/.well-known/jwks.json', { headers: { origin } })
      expect(res.headers['access-control-allow-origin']).toBe(origin)
      expect((await preflight('/.well-known/oauth-authorization-server', origin, 'GET')).status).toBe(204)
    }
    expect((await rawRequest(gw.url, '/.well-known/jwks.json', { headers: { origin: 'https://evil.example' } })).headers).not.toHaveProperty(
      'access-control-allow-origin',
    )
  })

  it('never answers CORS on the authorize page', async () => {
    const page = await rawRequest(gw.url, `/oauth/authorize?response_type=code&client_id=spa&redirect_uri=${encodeURIComponent(SPA + '/cb')}`, {
      headers: { origin: SPA },
    })
    expect(page.headers).not.toHaveProperty('access-control-allow-origin')
    expect((await preflight('/oauth/authorize', SPA, 'GET')).headers).not.toHaveProperty('access-control-allow-origin')
  })
})
