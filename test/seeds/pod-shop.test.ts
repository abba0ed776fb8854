// POD Shop admin API authentication: the document's requests, as written, against
// config/examples/pod-shop.yaml (../shared/seeds/001_5d56d2dd2d2f7a7e.txt).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { rawRequest, startOrigin, type Gateway, type Origin } from '../helpers/index.js'
import { basicAsDocumented, startExample } from './helpers.js'

let gw: Gateway
let origin: Origin
const BASIC = basicAsDocumented('pod-shop-client', 'pod-shop-key') // echo -n 'id:key' | base64
beforeAll(async () => {
  origin = await startOrigin()
  gw = await startExample('pod-shop.yaml', { env: { UPSTREAM: origin.url } })
})
afterAll(async () => {
  await gw?.close()
  await origin?.close()
})

describe('POD Shop (seed 001)', () => {
  it('calls the API with Basic base64(id:key), and answers 401 to a wrong key', async () => {
    expect((await rawRequest(gw.url, '/api/products', { headers: { Authorization: BASIC } })).status).toBe(200)
    expect((await rawRequest(gw.url, '/api/products', { headers: { Authorization: basicAsDocumented('pod-shop-client', 'wrong') } })).status).toBe(401)
  })

  it('answers the token curl (Basic header alone, no body) with the five documented fields, and a bearer call works', async () => {
    // curl --location --request POST '.../ac/oauth/ext/token' --header 'Authorization: Basic ...'
    const res = await rawRequest(gw.url, '/ac/oauth/ext/token', { method: 'POST', headers: { Authorization: BASIC } })
    expect(res.status).toBe(200)
    const body = res.json<{ access_token: string; token_type: string; expires_in: number; refresh_token: string; refresh_expires_in: number }>()
    expect(body).toMatchObject({
      access_token: expect.any(String),
      token_type: expect.stringMatching(/^bearer$/i),
      expires_in: expect.any(Number),
      refresh_token: expect.any(String),
      refresh_expires_in: 1209600,
    })
    // Authorization: bearer [Access Token] (lower case, as documented)
    expect((await rawRequest(gw.url, '/api/products', { headers: { Authorization: `bearer ${body.access_token}` } })).status).toBe(200)
    expect(
      (await rawRequest(gw.url, '/ac/oauth/ext/token', { method: 'POST', headers: { Authorization: basicAsDocumented('pod-shop-client', 'wrong') } })).status,
    ).toBe(401)
  })

  it("refreshes at /ac/oauth/external/{id}/refresh?refreshToken=..., as the document's curl does", async () => {
    const { refresh_token } = (await rawRequest(gw.url, '/ac/oauth/ext/token', { method: 'POST', headers: { Authorization: BASIC } })).json<{
      refresh_token: string
    }>()
    const res = await rawRequest(gw.url, `/ac/oauth/external/abcdefg/refresh?refreshToken=${refresh_token}`, {
      method: 'POST',
      headers: { Authorization: BASIC },
    })
    expect(res.status).toBe(200)
    expect(res.json()).toMatchObject({
      access_token: expect.any(String),
      token_type: expect.stringMatching(/^bearer$/i),
      expires_in: expect.any(Number),
      refresh_token: expect.any(String),
      refresh_expires_in: expect.any(Number),
    })
    // And at the path its heading names, with refreshToken in the body.
    const next = res.json<{ refresh_token: string }>().refresh_token
    const viaBody = await rawRequest(gw.url, '/ac/oauth/ext/token/refresh', {
      method: 'POST',
      headers: { Authorization: BASIC, 'content-type': 'application/x-www-form-urlencoded' },
      body: `refreshToken=${next}`,
    })
    expect(viaBody.status).toBe(200)
  })
})
