// Legacy clients' paths, served exactly as configured: Django OAuth Toolkit sends users to
// /o/authorize/ and redeems codes at /o/token/, trailing slashes and all.
import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { browserLogin, fastHash, rawRequest, startGateway, type Gateway } from '../helpers/index.js'

const CB = 'http://app.example/cb'
let gw: Gateway

beforeAll(async () => {
  gw = await startGateway(`
tokenEndpoint: { paths: [/o/token/] }
authorize: { paths: [/o/authorize/] }
clients: [{ id: web, secretHash: "${await fastHash('s3cret')}", grants: [authorization_code], scopes: [read], redirectUris: ["${CB}"] }]
users: [{ username: alice, passwordHash: "${await fastHash('alice-pw')}", scopes: [read] }]
`)
})
afterAll(() => gw?.close())

describe('legacy authorize and token paths', () => {
  it('serves the login page at /o/authorize/, posts back there, and redeems the code at /o/token/', async () => {
    const verifier = 'v'.repeat(43)
    const query = new URLSearchParams({
      response_type: 'code',
      client_id: 'web',
      redirect_uri: CB,
      state: 's',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    })
    const { page, submit, location } = await browserLogin(`${gw.url}/o/authorize/?${query}`)
    expect(page.status).toBe(200)
    expect(page.text).toContain('<form method="post" action="/o/authorize/">')
    expect(page.headers['set-cookie']?.[0]).toMatch(/; Path=\/o\/authorize\//)
    expect(submit?.status).toBe(302)
    const code = new URL(location!).searchParams.get('code')!
    const res = await rawRequest(gw.url, '/o/token/', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: 'Basic ' + Buffer.from('web:s3cret').toString('base64') },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: verifier }).toString(),
    })
    expect(res.status).toBe(200)
    expect(res.json()).toMatchObject({ token_type: 'Bearer', scope: 'read' })
  })

  it('still serves /oauth/authorize, whose form posts back to itself', async () => {
    const query = new URLSearchParams({
      response_type: 'code',
      client_id: 'web',
      redirect_uri: CB,
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
    })
    const page = await rawRequest(gw.url, `/oauth/authorize?${query}`)
    expect(page.text).toContain('<form method="post" action="/oauth/authorize">')
  })
})
