// MAXST passport, application authentication: the document's requests, as written, against
// config/examples/maxst-passport.yaml (../shared/seeds/000_fed5a3668e2bb67c.txt).
import { decodeJwt } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { rawRequest, startOrigin, type Gateway, type Origin } from '../helpers/index.js'
import { startExample } from './helpers.js'

let gw: Gateway
let origin: Origin
beforeAll(async () => {
  origin = await startOrigin()
  gw = await startExample('maxst-passport.yaml', { env: { UPSTREAM: origin.url } })
})
afterAll(async () => {
  await gw?.close()
  await origin?.close()
})

// curl -v -X POST '.../passport/token' -H 'Content-Type: application/x-www-form-urlencoded'
//   -d 'grant_type=client_credentials' -d 'client_id=${ID}' -d 'client_secret=${KEY}'
const request = (body: string) =>
  rawRequest(gw.url, '/passport/token', { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body })

describe('MAXST passport (seed 000)', () => {
  it('answers the documented request with access_token, token_type and expires_in', async () => {
    const res = await request('grant_type=client_credentials&client_id=maxst-app-1&client_secret=maxst-app-1-key')
    expect(res.status).toBe(200)
    const body = res.json<{ access_token: string; token_type: string; expires_in: number }>()
    expect(body).toMatchObject({ access_token: expect.any(String), token_type: 'Bearer', expires_in: 3600 })
  })

  it('issues a one-hour token with the documented payload, and the two applications apart', async () => {
    for (const [id, group] of [
      ['maxst-app-1', 'biz-seoul'],
      ['maxst-app-2', 'biz-busan'],
    ] as const) {
      const { access_token } = (await request(`grant_type=client_credentials&client_id=${id}&client_secret=${id}-key`)).json<{ access_token: string }>()
      const claims = decodeJwt(access_token)
      expect(claims).toMatchObject({ app: id, sub: id, aud: id, biz: group, azp: id, typ: 'app', iss: expect.any(String), jti: expect.any(String) })
      expect(claims.exp! - claims.iat!).toBe(3600)
      expect(claims.auth_time).toEqual(expect.any(Number))
      expect((await rawRequest(gw.url, '/api/x', { headers: { authorization: `Bearer ${access_token}` } })).status).toBe(200)
    }
  })

  it('answers a bad grant type with T001 and bad client credentials with T006, in a description field', async () => {
    const grant = await request('grant_type=password&client_id=maxst-app-1&client_secret=maxst-app-1-key')
    expect(grant.json()).toEqual({ error: 'T001', description: expect.any(String) })
    const unknown = await request('grant_type=authorization_codes&client_id=maxst-app-1&client_secret=maxst-app-1-key')
    expect(unknown.json()).toEqual({ error: 'T001', description: expect.any(String) })
    const client = await request('grant_type=client_credentials&client_id=maxst-app-1&client_secret=wrong')
    expect(client.json()).toEqual({ error: 'T006', description: expect.any(String) })
  })
})
