// Django OAuth Toolkit: the document's requests, as written, against
// config/examples/django-oauth-toolkit.yaml (../shared/seeds/002_01b199846e7ae794.txt).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { browserLogin, rawRequest, type Gateway } from '../helpers/index.js'
import { startExample } from './helpers.js'

let gw: Gateway
beforeAll(async () => {
  gw = await startExample('django-oauth-toolkit.yaml')
})
afterAll(() => gw?.close())

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
const token = (fields: Record<string, string>) =>
  rawRequest(gw.url, '/o/token/', { method: 'POST', headers: FORM, body: new URLSearchParams(fields).toString() })
const THREE_DAYS = 259200

describe('Django OAuth Toolkit (seed 002)', () => {
  it('implicit: /o/authorize/?client_id&redirect_uri&response_type=token sends the token back in the fragment', async () => {
    const { location } = await browserLogin(`${gw.url}/o/authorize/?client_id=dot-implicit&redirect_uri=https://test.com&response_type=token`, {
      password: 'alice-password',
    })
    const fragment = new URLSearchParams(new URL(location!).hash.slice(1))
    expect(fragment.get('access_token')).toEqual(expect.any(String))
    expect(fragment.get('token_type')).toBe('Bearer')
  })

  it('authorization code: the documented authorize URI, then POST /o/token/ with the client in the body', async () => {
    const { location } = await browserLogin(`${gw.url}/o/authorize/?client_id=dot-confidential&redirect_uri=https://test.com&response_type=code`, {
      password: 'alice-password',
    })
    const code = new URL(location!).searchParams.get('code')!
    const res = await token({
      client_id: 'dot-confidential',
      client_secret: 'dot-confidential-secret',
      redirect_uri: 'https://test.com',
      code,
      grant_type: 'authorization_code',
    })
    expect(res.status).toBe(200)
    expect(res.json()).toEqual({
      token_type: 'Bearer',
      expires_in: THREE_DAYS,
      access_token: expect.any(String),
      refresh_token: expect.any(String),
      refresh_expires_in: expect.any(Number),
      scope: 'groups read write',
    })
  })

  it('answers invalid_grant for a code that has expired', async () => {
    let now = Date.now()
    const timed = await startExample('django-oauth-toolkit.yaml', { clock: () => now })
    try {
      const { location } = await browserLogin(`${timed.url}/o/authorize/?client_id=dot-confidential&redirect_uri=https://test.com&response_type=code`, {
        password: 'alice-password',
      })
      const code = new URL(location!).searchParams.get('code')!
      now += 61_000 // authorizationCodeTtl is 60 s
      const res = await rawRequest(timed.url, '/o/token/', {
        method: 'POST',
        headers: FORM,
        body: new URLSearchParams({
          client_id: 'dot-confidential',
          client_secret: 'dot-confidential-secret',
          redirect_uri: 'https://test.com',
          code,
          grant_type: 'authorization_code',
        }).toString(),
      })
      expect(res.status).toBe(400)
      expect(res.json()).toMatchObject({ error: 'invalid_grant' })
    } finally {
      await timed.close()
    }
  })

  it('password: POST /o/token/ with username and password', async () => {
    const res = await token({
      client_id: 'dot-password',
      client_secret: 'dot-password-secret',
      grant_type: 'password',
      username: 'alice',
      password: 'alice-password',
    })
    expect(res.status).toBe(200)
    expect(res.json()).toMatchObject({
      refresh_token: expect.any(String),
      expires_in: THREE_DAYS,
      access_token: expect.any(String),
      scope: 'groups read write',
      token_type: 'Bearer',
    })
  })

  it('client credentials: POST /o/token/ with the client in the body', async () => {
    const res = await token({ client_id: 'dot-service', client_secret: 'dot-service-secret', grant_type: 'client_credentials' })
    expect(res.status).toBe(200)
    expect(res.json()).toEqual({ token_type: 'Bearer', expires_in: THREE_DAYS, access_token: expect.any(String), scope: 'groups read write' })
  })
})
