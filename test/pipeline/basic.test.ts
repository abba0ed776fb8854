import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { Client } from '../../src/config/compile.js'
import { parseConfig } from '../../src/config/load.js'
import { createClientVerifier } from '../../src/oauth/client-auth.js'
import { hashSecret, parseSecretHash, type ScryptHash } from '../../src/config/secret-hash.js'
import { basicAuthenticator } from '../../src/pipeline/authn-basic.js'
import { NOT_MINE } from '../../src/pipeline/authenticate.js'
import { createMemoryStore } from '../../src/store/memory.js'
import { basic, fastHash, fetchToken, rawRequest, startGateway, startOrigin, type Gateway, type Origin } from '../helpers/index.js'

let gw: Gateway
let origin: Origin

beforeAll(async () => {
  origin = await startOrigin()
  gw = await startGateway(`
tokenEndpoint: { failureLimit: { points: 100, duration: 60 } }
clients:
  - { id: reporting, secretHash: "${await fastHash('s3cret')}", scopes: [orders:read, orders:write], group: acme }
  - { id: spa, type: public, scopes: [orders:read], redirectUris: ["http://127.0.0.1/cb"] }
routes:
  - { id: basic-only, path: /basic, upstream: "${origin.url}", auth: [basic], scopes: [orders:read] }
  - { id: either, path: /either, upstream: "${origin.url}", auth: [bearer, basic] }
  - { id: bearer-only, path: /bearer, upstream: "${origin.url}" }
`)
})
afterAll(async () => {
  await gw?.close()
  await origin?.close()
})
beforeEach(() => {
  origin.received.length = 0
})

describe('HTTP Basic on routes', () => {
  it('lets a client in with its id and secret, with its configured scopes as identity', async () => {
    const res = await rawRequest(gw.url, '/basic/x', { headers: { authorization: basic('reporting', 's3cret') } })
    expect(res.status).toBe(200)
    expect(origin.received[0]!.headers).toMatchObject({
      'x-auth-subject': 'reporting',
      'x-auth-client-id': 'reporting',
      'x-auth-scope': 'orders:read orders:write',
      'x-auth-method': 'basic',
      'x-auth-group': 'acme',
    })
    expect(origin.received[0]!.headers).not.toHaveProperty('authorization')
  })

  it('refuses a wrong secret with 401 invalid_client and a Basic challenge', async () => {
    const res = await rawRequest(gw.url, '/basic/x', { headers: { authorization: basic('reporting', 'wrong'), 'x-forwarded-for': '1.1.1.1' } })
    expect(res.status).toBe(401)
    expect(res.headers['www-authenticate']).toBe('Basic realm="gatehouse", charset="UTF-8"')
    expect(res.json()).toEqual({ error: 'invalid_client', error_description: 'client authentication failed' })
    expect(origin.received).toHaveLength(0)
  })

  it('refuses malformed Basic credentials and public clients the same way', async () => {
    for (const authorization of ['Basic %%%', 'Basic c3Bh' /* "spa", no colon */, basic('spa', '')]) {
      const res = await rawRequest(gw.url, '/basic/x', { headers: { authorization } })
      expect(res.status, authorization).toBe(401)
      expect(res.json(), authorization).toMatchObject({ error: 'invalid_client' })
    }
  })

  it('advertises both challenges on a route that accepts both schemes, and takes either', async () => {
    const none = await rawRequest(gw.url, '/either/x')
    expect(none.status).toBe(401)
    expect(none.headers['www-authenticate']).toBe('Bearer realm="gatehouse", Basic realm="gatehouse", charset="UTF-8"')
    expect((await rawRequest(gw.url, '/either/x', { headers: { authorization: basic('reporting', 's3cret') } })).status).toBe(200)
    const token = await fetchToken(gw.url, 'reporting', 's3cret')
    expect((await rawRequest(gw.url, '/either/x', { headers: { authorization: `Bearer ${token}` } })).status).toBe(200)
    expect(origin.received.map((r) => r.headers['x-auth-method'])).toEqual(['basic', 'bearer'])
  })

  it('does not accept Basic on a route that only takes Bearer', async () => {
    const res = await rawRequest(gw.url, '/bearer/x', { headers: { authorization: basic('reporting', 's3cret') } })
    expect(res.status).toBe(401)
    expect(res.headers['www-authenticate']).toBe('Bearer realm="gatehouse"')
  })

  it("checks scopes against the client's configured scopes", async () => {
    const narrow = await startGateway(`
clients: [{ id: auditor, secretHash: "${await fastHash('s3cret')}", scopes: [audit] }]
routes: [{ id: r, path: /, upstream: "${origin.url}", auth: [basic], scopes: [orders:read] }]
`)
    const res = await rawRequest(narrow.url, '/x', { headers: { authorization: basic('auditor', 's3cret') } })
    await narrow.close()
    expect(res.status).toBe(403)
    expect(res.json()).toMatchObject({ error: 'insufficient_scope' })
    expect(res.headers['www-authenticate']).toBeUndefined()
  })

  it('throttles failed attempts per IP, then refuses even the right secret from that IP', async () => {
    // Guessing: tokenEndpoint.failureLimit (3 a minute here) counts failures from one address.
    const trusting = await startGateway(`
server: { trustedProxies: [127.0.0.1] }
tokenEndpoint: { failureLimit: { points: 3, duration: 60 } }
clients: [{ id: reporting, secretHash: "${await fastHash('s3cret')}" }]
routes: [{ id: r, path: /, upstream: "${origin.url}", auth: [basic] }]
`)
    const from = (ip: string, secret: string) =>
      rawRequest(trusting.url, '/x', { headers: { authorization: basic('reporting', secret), 'x-forwarded-for': ip } })
    const statuses = []
    for (let i = 0; i < 4; i++) statuses.push((await from('203.0.113.5', `guess-${i}`)).status)
    const blocked = await from('203.0.113.5', 's3cret')
    const elsewhere = await from('203.0.113.6', 's3cret')
    await trusting.close()
    expect(statuses).toEqual([401, 401, 401, 429])
    expect(blocked.status).toBe(429)
    expect(blocked.json()).toMatchObject({ error: 'rate_limited' })
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0)
    expect(elsewhere.status).toBe(200)
  })
})

describe('the verified-credentials cache', () => {
  const makeClient = async (secret: string): Promise<Client> => {
    const config = await parseConfig(`clients: [{ id: reporting, secretHash: "${await hashSecret(secret, { logN: 10 })}" }]`, '/t.yaml', {})
    return config.clients.get('reporting')!
  }

  it('verifies credentials once, and forgets them when the client changes or goes', async () => {
    let clients = new Map([['reporting', await makeClient('s3cret')]])
    // Every check that reaches scrypt first reserves an attempt: counting those counts the checks.
    const limiter = createMemoryStore().limiter('f', { points: 100, duration: 60 })
    let verifications = 0
    const failures = { ...limiter, consume: (key: string) => (verifications++, limiter.consume(key)) }
    const verifyClient = createClientVerifier({
      clients: () => clients,
      decoyHash: parseSecretHash(await hashSecret('decoy', { logN: 10 })) as ScryptHash,
      failures,
    })
    const authenticate = basicAuthenticator({ verifyClient })
    const input = { headers: { authorization: basic('reporting', 's3cret') }, addressKey: '127.0.0.1', query: '' }

    expect(await authenticate(input)).toMatchObject({ clientId: 'reporting' })
    expect(await authenticate(input)).toMatchObject({ clientId: 'reporting' })
    expect(verifications).toBe(1)
    // Another spelling of the same credentials is no fresh scrypt check (an outside review made one
    // per request, with a header that differed in spaces, case or percent-encoding).
    const b64 = (text: string) => Buffer.from(text).toString('base64')
    for (const spelling of [`Basic   ${b64('reporting:s3cret')}`, `bAsIc ${b64('reporting:s3cret')}  `]) {
      expect(await authenticate({ ...input, headers: { authorization: spelling } })).toMatchObject({ clientId: 'reporting' })
    }
    // The token endpoint's client_secret_post with the same credentials is remembered too.
    expect(await verifyClient({ id: 'reporting', secret: 's3cret', method: 'client_secret_post' }, '127.0.0.1')).toMatchObject({ id: 'reporting' })
    expect(verifications).toBe(1)
    // A wrong secret is never remembered.
    await expect(verifyClient({ id: 'reporting', secret: 'nope', method: 'client_secret_post' }, '127.0.0.1')).rejects.toMatchObject({ code: 'invalid_client' })
    await expect(verifyClient({ id: 'reporting', secret: 'nope', method: 'client_secret_post' }, '127.0.0.1')).rejects.toMatchObject({ code: 'invalid_client' })
    expect(verifications).toBe(3)

    clients = new Map([['reporting', await makeClient('rotated')]]) // the secret was rotated
    await expect(authenticate(input)).rejects.toMatchObject({ code: 'invalid_client' })
    expect(verifications).toBe(4)

    clients = new Map() // the client was removed
    await expect(authenticate(input)).rejects.toMatchObject({ code: 'invalid_client' })
    expect(await authenticate({ headers: {}, addressKey: '127.0.0.1', query: '' })).toBe(NOT_MINE)
  })
})
