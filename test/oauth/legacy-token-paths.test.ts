// A legacy token path carries what its old clients need: a default grant for a request with no body
// (POD Shop), its own error codes and description field (MAXST), ?pretty and ?envelope (Atlas), and
// refresh paths of its own. /oauth/token keeps strict RFC 6749 behaviour.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { basic, fastHash, rawRequest, startGateway, type Gateway } from '../helpers/index.js'

let gw: Gateway
const FORM = { 'content-type': 'application/x-www-form-urlencoded' }

beforeAll(async () => {
  gw = await startGateway(`
tokenEndpoint:
  paths:
    - { path: /ac/oauth/ext/token, defaultGrantType: client_credentials, refreshPaths: [/ac/oauth/external/*/refresh] }
    - { path: /passport/token, errors: { unsupported_grant_type: T001, invalid_client: T006 }, descriptionField: description }
    - { path: /api/oauth/token, pretty: true, envelope: true }
clients:
  - { id: pod, secretHash: "${await fastHash('key')}", grants: [client_credentials, refresh_token], token: { refreshWithClientCredentials: true } }
`)
})
afterAll(() => gw?.close())

describe('legacy token paths', () => {
  it('answers a request with a Basic header and no body at all with a token, where a default grant is set', async () => {
    const res = await rawRequest(gw.url, '/ac/oauth/ext/token', { method: 'POST', headers: { authorization: basic('pod', 'key') } })
    expect(res.status).toBe(200)
    expect(res.json()).toMatchObject({ token_type: 'Bearer', refresh_token: expect.any(String), refresh_expires_in: expect.any(Number) })
    // A wrong key is 401, as its clients expect, not 400 for the missing body.
    expect((await rawRequest(gw.url, '/ac/oauth/ext/token', { method: 'POST', headers: { authorization: basic('pod', 'nope') } })).status).toBe(401)
    // /oauth/token stays strict: no body is invalid_request.
    expect((await rawRequest(gw.url, '/oauth/token', { method: 'POST', headers: { authorization: basic('pod', 'key') } })).status).toBe(400)
  })

  it('refreshes at a configured refresh path with a wildcard segment, refreshToken in the query', async () => {
    const { refresh_token } = (await rawRequest(gw.url, '/ac/oauth/ext/token', { method: 'POST', headers: { authorization: basic('pod', 'key') } })).json<{
      refresh_token: string
    }>()
    const res = await rawRequest(gw.url, `/ac/oauth/external/abcdefg/refresh?refreshToken=${refresh_token}`, {
      method: 'POST',
      headers: { authorization: basic('pod', 'key') },
    })
    expect(res.status).toBe(200)
    expect(res.json()).toMatchObject({ access_token: expect.any(String), refresh_token: expect.any(String) })
  })

  it("answers errors with the path's own codes and description field", async () => {
    const grant = await rawRequest(gw.url, '/passport/token', { method: 'POST', headers: FORM, body: 'grant_type=password&client_id=pod&client_secret=key' })
    // password is a grant the gateway knows, but pod may not use it: unauthorized_client, unmapped.
    expect(grant.json()).toEqual({ error: 'unauthorized_client', description: expect.any(String) })
    const unknownGrant = await rawRequest(gw.url, '/passport/token', {
      method: 'POST',
      headers: FORM,
      body: 'grant_type=magic&client_id=pod&client_secret=key',
    })
    expect(unknownGrant.status).toBe(400)
    expect(unknownGrant.json()).toEqual({ error: 'T001', description: 'this grant type is not supported' })
    const client = await rawRequest(gw.url, '/passport/token', {
      method: 'POST',
      headers: FORM,
      body: 'grant_type=client_credentials&client_id=pod&client_secret=nope',
    })
    expect(client.status).toBe(401)
    expect(client.json()).toEqual({ error: 'T006', description: 'client authentication failed' })
    // The same request at /oauth/token keeps RFC 6749's codes.
    expect(
      (await rawRequest(gw.url, '/oauth/token', { method: 'POST', headers: FORM, body: 'grant_type=magic&client_id=pod&client_secret=key' })).json(),
    ).toMatchObject({ error: 'unsupported_grant_type' })
  })

  it('indents with ?pretty=true and wraps in an envelope with ?envelope=true, errors too', async () => {
    const post = (query: string, secret = 'key') =>
      rawRequest(gw.url, `/api/oauth/token${query}`, {
        method: 'POST',
        headers: { ...FORM, authorization: basic('pod', secret) },
        body: 'grant_type=client_credentials',
      })
    const pretty = await post('?pretty=true')
    expect(pretty.text).toMatch(/^\{\n {2}"access_token": /)
    const enveloped = await post('?envelope=true', 'nope')
    expect(enveloped.status).toBe(200)
    expect(enveloped.json()).toEqual({ status: 401, content: { error: 'invalid_client', error_description: 'client authentication failed' } })
    expect((await post('')).text).not.toContain('\n')
    // Not on a path that does not enable it.
    const plain = await rawRequest(gw.url, '/oauth/token?envelope=true', {
      method: 'POST',
      headers: { ...FORM, authorization: basic('pod', 'nope') },
      body: 'grant_type=client_credentials',
    })
    expect(plain.status).toBe(401)
  })
})
