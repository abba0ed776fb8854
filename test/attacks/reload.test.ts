// Attack family 16: privileges that outlive the config that granted them. An access token carried
// the scopes its client and user had when it was issued, and a reload that took a scope away, or
// removed the user, changed nothing for tokens already out: they kept working until they expired
// (an hour by default). Stale authorization after a change of rights is CWE-613 (Insufficient
// Session Expiration); an operator who removes a right expects it gone now. Tokens are now read
// against the live config: their scopes narrowed to what the client and user still have, a
// removed user's refused, as a removed client's already were.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/load.js'
import { basic, fastHash, rawRequest, startGateway, startOrigin, type Gateway, type Origin } from '../helpers/index.js'

let origin: Origin
let gw: Gateway
const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
const yaml = async (clientScopes: string, users: string) => `
clients: [{ id: reader, secretHash: "${await fastHash('s3cret')}", grants: [client_credentials, password], scopes: [${clientScopes}] }]
users: [${users}]
routes:
  - { id: admin, path: /admin, upstream: "${origin.url}", scopes: [admin] }
  - { id: read, path: /read, upstream: "${origin.url}", scopes: [read] }
`
const alice = async () => `{ username: alice, passwordHash: "${await fastHash('alice-pw')}", scopes: [read, admin] }`

beforeAll(async () => {
  origin = await startOrigin()
  gw = await startGateway(await yaml('read, admin', await alice()))
})
afterAll(async () => {
  await gw?.close()
  await origin?.close()
})

const token = async (body: string) => {
  const res = await rawRequest(gw.url, '/oauth/token', { method: 'POST', headers: { ...FORM, authorization: basic('reader', 's3cret') }, body })
  expect(res.status).toBe(200)
  return res.json<{ access_token: string }>().access_token
}
const call = async (path: string, accessToken: string) => (await rawRequest(gw.url, path, { headers: { authorization: `Bearer ${accessToken}` } })).status

describe('rights taken away by a reload', () => {
  it('are gone from tokens already issued: scopes narrowed, a removed user refused', async () => {
    const clientToken = await token('grant_type=client_credentials&scope=read%20admin')
    const userToken = await token('grant_type=password&username=alice&password=alice-pw&scope=read%20admin')
    expect([await call('/admin/x', clientToken), await call('/admin/x', userToken)]).toEqual([200, 200])

    // The client loses admin: its token still reads, no longer administers.
    await gw.gateway.apply(await parseConfig(await yaml('read', await alice()), gw.config.file, {}))
    expect([await call('/admin/x', clientToken), await call('/read/x', clientToken)]).toEqual([403, 200])
    const introspected = await rawRequest(gw.url, '/oauth/introspect', {
      method: 'POST',
      headers: { ...FORM, authorization: basic('reader', 's3cret') },
      body: `token=${clientToken}`,
    })
    expect(introspected.json()).toMatchObject({ active: true, scope: 'read' })

    // The user is removed: her token stops at once.
    await gw.gateway.apply(await parseConfig(await yaml('read, admin', ''), gw.config.file, {}))
    expect(await call('/read/x', userToken)).toBe(401)
    expect(await call('/admin/x', clientToken)).toBe(200) // the client has admin again: so does its token
  })
})
