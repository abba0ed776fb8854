// User grants and the token lifecycle, end to end over HTTP, against the memory store and Redis.
import { decodeJwt } from 'jose'
import * as oidc from 'openid-client'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  basic,
  browserLogin,
  fastHash,
  freePort,
  rawRequest,
  startGateway,
  startOrigin,
  type Gateway,
  type Origin,
  type RawResponse,
  untilStoresReady,
} from '../helpers/index.js'
import { redisAvailable, startRedis, type RedisServer } from '../helpers/redis.js'

const CALLBACK = 'http://127.0.0.1:1/callback'
const stores = [{ kind: 'memory' }, ...(redisAvailable() ? [{ kind: 'redis' }] : [])] as const

let origin: Origin
let redis: RedisServer | undefined
beforeAll(async () => {
  origin = await startOrigin()
  if (stores.some((s) => s.kind === 'redis')) redis = await startRedis()
})
afterAll(async () => {
  await origin?.close()
  await redis?.close()
})

async function config(storeKind: string) {
  const port = await freePort()
  return {
    port,
    yaml: `
issuer: http://127.0.0.1:${port}
${storeKind === 'redis' ? `store: { redis: "${redis!.url}" }` : ''}
tokens: { accessTokenTtl: 300, authorizationCodeTtl: 60 }
tokenEndpoint: { rateLimit: { points: 1000, duration: 60 }, failureLimit: { points: 1000, duration: 60 } }
authorize: { loginFailureLimit: { points: 3, duration: 60 }, loginFailureLimitPerIp: { points: 1000, duration: 60 } }
clients:
  - id: web
    secretHash: "${await fastHash('s3cret')}"
    grants: [authorization_code, refresh_token]
    scopes: [orders:read, orders:write, profile]
    redirectUris: ["${CALLBACK}", "http://app.example/cb?tenant=1"]
  - { id: spa, type: public, grants: [authorization_code, refresh_token], scopes: [orders:read], redirectUris: ["http://app.example/spa"] }
  - { id: legacy, secretHash: "${await fastHash('s3cret')}", grants: [password, refresh_token], scopes: [orders:read, orders:write] }
  - { id: widget, type: public, grants: [implicit], scopes: [orders:read], redirectUris: ["http://app.example/widget"] }
  - { id: other, secretHash: "${await fastHash('s3cret')}", grants: [authorization_code, refresh_token], scopes: [orders:read], redirectUris: ["http://app.example/other"] }
users:
  - { username: alice, passwordHash: "${await fastHash('alice-pw')}", scopes: [orders:read, orders:write] }
  - { username: bob, passwordHash: "${await fastHash('bob-pw')}", scopes: [orders:read] }
routes:
  - { id: orders, path: /api/orders, upstream: "${origin.url}", scopes: [orders:read] }
`,
  }
}

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString()
const FORM = { 'content-type': 'application/x-www-form-urlencoded' }

describe.each(stores)('token lifecycle ($kind store)', ({ kind }) => {
  let gw: Gateway
  let now = Date.now()
  let issuer: string

  beforeAll(async () => {
    const { port, yaml } = await config(kind)
    gw = await startGateway(yaml, { port, clock: () => now })
    issuer = gw.config.issuer
    await untilStoresReady(gw)
  })
  afterAll(() => gw?.close())
  beforeEach(() => {
    now = Date.now()
  })

  const token = (fields: Record<string, string>, client = basic('web', 's3cret')) =>
    rawRequest(gw.url, '/oauth/token', { method: 'POST', headers: { ...FORM, ...(client ? { authorization: client } : {}) }, body: form(fields) })
  const callRoute = (accessToken: string) => rawRequest(gw.url, '/api/orders/1', { headers: { authorization: `Bearer ${accessToken}` } })
  const authorizeUrl = (params: Record<string, string>) => `${gw.url}/oauth/authorize?${form(params)}`
  const pkce = async () => {
    const verifier = oidc.randomPKCECodeVerifier()
    return { verifier, challenge: await oidc.calculatePKCECodeChallenge(verifier) }
  }
  /** Logs alice in for `web` and returns the code from the redirect. */
  async function codeFor(params: Record<string, string> = {}, login = {}): Promise<{ code: string; verifier: string }> {
    const { verifier, challenge } = await pkce()
    const { location } = await browserLogin(
      authorizeUrl({
        response_type: 'code',
        client_id: 'web',
        redirect_uri: CALLBACK,
        scope: 'orders:read',
        state: 'st',
        code_challenge: challenge,
        code_challenge_method: 'S256',
        ...params,
      }),
      login,
    )
    return { code: new URL(location!).searchParams.get('code')!, verifier }
  }
  const expectError = (res: RawResponse, status: number, error: string) => {
    expect(res.status).toBe(status)
    expect(res.json()).toMatchObject({ error })
  }

  describe('authorization code with PKCE', () => {
    it('runs with openid-client: discovery, login form, code, tokens, a route, refresh', async () => {
      const client = await oidc.discovery(new URL(issuer), 'web', undefined, oidc.ClientSecretBasic('s3cret'), {
        algorithm: 'oauth2',
        execute: [oidc.allowInsecureRequests],
      })
      const { verifier, challenge } = await pkce()
      const state = oidc.randomState()
      const url = oidc.buildAuthorizationUrl(client, {
        redirect_uri: CALLBACK,
        scope: 'orders:read profile',
        code_challenge: challenge,
        code_challenge_method: 'S256',
        state,
      })
      const login = await browserLogin(url)
      expect(login.page.headers['content-type']).toBe('text/html; charset=utf-8')
      expect(login.page.headers['content-security-policy']).toContain("frame-ancestors 'none'")
      expect(login.submit!.status).toBe(302)
      expect(login.location).toMatch(/^http:\/\/127\.0\.0\.1:1\/callback\?code=/)

      const tokens = await oidc.authorizationCodeGrant(client, new URL(login.location!), { pkceCodeVerifier: verifier, expectedState: state })
      // alice has no "profile": she can grant only what she has herself.
      expect(tokens.scope).toBe('orders:read')
      expect(tokens.refresh_token).toEqual(expect.any(String))
      expect(decodeJwt(tokens.access_token)).toMatchObject({ sub: 'alice', client_id: 'web', scope: 'orders:read' })

      expect((await callRoute(tokens.access_token)).status).toBe(200)
      expect(origin.received.at(-1)!.headers).toMatchObject({ 'x-auth-subject': 'alice', 'x-auth-client-id': 'web' })

      const refreshed = await oidc.refreshTokenGrant(client, tokens.refresh_token!)
      expect(refreshed.refresh_token).not.toBe(tokens.refresh_token)
      expect((await callRoute(refreshed.access_token)).status).toBe(200)
    })

    it('lets a public client in with PKCE and no secret', async () => {
      const { verifier, challenge } = await pkce()
      const { location } = await browserLogin(
        authorizeUrl({ response_type: 'code', client_id: 'spa', state: 's', code_challenge: challenge, code_challenge_method: 'S256' }),
      )
      const code = new URL(location!).searchParams.get('code')!
      const res = await token({ grant_type: 'authorization_code', code, client_id: 'spa', code_verifier: verifier }, '')
      expect(res.status).toBe(200)
      expect(res.json()).toMatchObject({ token_type: 'Bearer', scope: 'orders:read', refresh_token: expect.any(String) })
    })

    it('refuses a code presented twice, and revokes what the first redemption issued', async () => {
      const { code, verifier } = await codeFor()
      const first = await token({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: verifier })
      expect(first.status).toBe(200)
      const { access_token, refresh_token } = first.json<{ access_token: string; refresh_token: string }>()
      expect((await callRoute(access_token)).status).toBe(200)

      expectError(await token({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: verifier }), 400, 'invalid_grant')
      const onRoute = await callRoute(access_token)
      expect(onRoute.status).toBe(401)
      expect(onRoute.json()).toMatchObject({ error: 'invalid_token', error_description: 'the access token was revoked' })
      expectError(await token({ grant_type: 'refresh_token', refresh_token }), 400, 'invalid_grant')
    })

    it('refuses a code redeemed by another client', async () => {
      const { code, verifier } = await codeFor()
      expectError(
        await token({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: verifier }, basic('other', 's3cret')),
        400,
        'invalid_grant',
      )
    })

    it('refuses an expired code', async () => {
      const { code, verifier } = await codeFor()
      now += 61_000
      expectError(await token({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: verifier }), 400, 'invalid_grant')
    })

    it('refuses a wrong, missing or malformed code_verifier', async () => {
      for (const verifier of ['x'.repeat(43), undefined, 'short', 'ü'.repeat(43)]) {
        const { code } = await codeFor()
        const res = await token({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK, ...(verifier ? { code_verifier: verifier } : {}) })
        expectError(res, 400, 'invalid_grant')
      }
    })

    it('refuses a verifier for a code issued without a challenge (PKCE downgrade)', async () => {
      const { location } = await browserLogin(authorizeUrl({ response_type: 'code', client_id: 'web', redirect_uri: CALLBACK, state: 's' }))
      const code = new URL(location!).searchParams.get('code')!
      expectError(await token({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: 'a'.repeat(43) }), 400, 'invalid_grant')
    })

    it('refuses a token request whose redirect_uri differs from the authorization request', async () => {
      const { code, verifier } = await codeFor()
      expectError(await token({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK + '/', code_verifier: verifier }), 400, 'invalid_grant')
      const second = await codeFor()
      expectError(await token({ grant_type: 'authorization_code', code: second.code, code_verifier: second.verifier }), 400, 'invalid_grant')
    })

    it('gives tokens to at most one of twenty parallel redemptions of a code, and revokes them for the replays', async () => {
      const { code, verifier } = await codeFor()
      const results = await Promise.all(
        Array.from({ length: 20 }, () => token({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: verifier })),
      )
      const winners = results.filter((r) => r.status === 200)
      expect(winners.length).toBeLessThanOrEqual(1)
      expect(results.filter((r) => r.status === 400).map((r) => r.json().error)).toEqual(Array(20 - winners.length).fill('invalid_grant'))
      for (const winner of winners) expect((await callRoute(winner.json<{ access_token: string }>().access_token)).status).toBe(401)
    })
  })

  describe('the authorization page', () => {
    it('shows an error page and never redirects when the redirect_uri is not registered', async () => {
      // Near misses of registered URIs: a trailing slash, case, userinfo, another query, a prefix.
      for (const redirect_uri of [
        CALLBACK + '/',
        CALLBACK.toUpperCase(),
        'http://127.0.0.1:1@evil.example/callback',
        'http://app.example/cb?tenant=2',
        'http://app.example/cb',
        `${CALLBACK}/../evil`,
      ]) {
        const res = await rawRequest(gw.url, `/oauth/authorize?${form({ response_type: 'code', client_id: 'web', redirect_uri, state: 's' })}`)
        expect(res.status, redirect_uri).toBe(400)
        expect(res.headers.location, redirect_uri).toBeUndefined()
        expect(res.text).toContain('The redirect URI is not registered for this application.')
      }
    })

    it('shows an error page for an unknown client', async () => {
      const res = await rawRequest(gw.url, `/oauth/authorize?${form({ response_type: 'code', client_id: 'nobody', redirect_uri: CALLBACK })}`)
      expect(res.status).toBe(400)
      expect(res.headers.location).toBeUndefined()
    })

    it('sends other errors back to the client with state and iss', async () => {
      const cases: [Record<string, string>, string][] = [
        [{ response_type: 'code', client_id: 'spa', state: 's' }, 'invalid_request'], // public client without PKCE
        [{ response_type: 'code', client_id: 'spa', state: 's', code_challenge: 'a'.repeat(43), code_challenge_method: 'plain' }, 'invalid_request'],
        [{ response_type: 'code', client_id: 'spa', state: 's', code_challenge: 'a'.repeat(43) }, 'invalid_request'], // method absent means plain
        [{ response_type: 'code', client_id: 'spa', state: 's', code_challenge: 'short', code_challenge_method: 'S256' }, 'invalid_request'],
        [{ response_type: 'code', client_id: 'web', redirect_uri: CALLBACK, state: 's', scope: 'admin' }, 'invalid_scope'],
        [{ response_type: 'id_token', client_id: 'web', redirect_uri: CALLBACK, state: 's' }, 'unsupported_response_type'],
      ]
      for (const [params, error] of cases) {
        const res = await rawRequest(gw.url, `/oauth/authorize?${form(params)}`)
        expect(res.status, JSON.stringify(params)).toBe(302)
        const location = new URL(res.headers.location!)
        expect(location.searchParams.get('error'), JSON.stringify(params)).toBe(error)
        expect(location.searchParams.get('state')).toBe('s')
        expect(location.searchParams.get('iss')).toBe(issuer)
      }
    })

    it('keeps the registered query of a redirect URI and adds to it', async () => {
      const { challenge } = await pkce()
      const { location } = await browserLogin(
        authorizeUrl({
          response_type: 'code',
          client_id: 'web',
          redirect_uri: 'http://app.example/cb?tenant=1',
          state: 'x y',
          code_challenge: challenge,
          code_challenge_method: 'S256',
        }),
      )
      const url = new URL(location!)
      expect(url.searchParams.get('tenant')).toBe('1')
      expect(url.searchParams.get('state')).toBe('x y')
      expect(url.searchParams.get('code')).toEqual(expect.any(String))
    })

    it('shows the form again with an error after a wrong password, and redirects nowhere', async () => {
      const { challenge } = await pkce()
      const { submit, location } = await browserLogin(
        authorizeUrl({ response_type: 'code', client_id: 'web', redirect_uri: CALLBACK, state: 's', code_challenge: challenge, code_challenge_method: 'S256' }),
        { username: 'bob', password: 'wrong' },
      )
      expect(submit!.status).toBe(401)
      expect(location).toBeUndefined()
      expect(submit!.text).toContain('The username or password is wrong.')
      expect(submit!.text).toContain('value="bob"')
    })

    it('refuses a form without the CSRF cookie, or with a forged token', async () => {
      const url = authorizeUrl({ response_type: 'code', client_id: 'web', redirect_uri: CALLBACK, state: 's' })
      for (const attack of [{ cookie: null }, { csrf: 'forged' }, { cookie: 'gatehouse_csrf=' + 'A'.repeat(43) }]) {
        const { submit } = await browserLogin(url, attack)
        expect(submit!.status, JSON.stringify(attack)).toBe(403)
        expect(submit!.headers.location).toBeUndefined()
      }
    })

    it('validates the posted request again: a tampered hidden redirect_uri is refused', async () => {
      const page = await rawRequest(gw.url, `/oauth/authorize?${form({ response_type: 'code', client_id: 'web', redirect_uri: CALLBACK, state: 's' })}`)
      const cookie = ([] as string[]).concat(page.headers['set-cookie']!)[0]!.split(';')[0]!
      const csrf = /name="csrf" value="([^"]+)"/.exec(page.text)![1]!
      const res = await rawRequest(gw.url, '/oauth/authorize', {
        method: 'POST',
        headers: { ...FORM, cookie },
        body: form({
          response_type: 'code',
          client_id: 'web',
          redirect_uri: 'http://evil.example/cb',
          csrf,
          username: 'alice',
          password: 'alice-pw',
          decision: 'approve',
        }),
      })
      expect(res.status).toBe(400)
      expect(res.headers.location).toBeUndefined()
    })

    it('sends access_denied back when the user declines', async () => {
      const { location } = await browserLogin(authorizeUrl({ response_type: 'code', client_id: 'web', redirect_uri: CALLBACK, state: 's' }), {
        decision: 'deny',
      })
      expect(new URL(location!).searchParams.get('error')).toBe('access_denied')
      expect(new URL(location!).searchParams.get('state')).toBe('s')
    })

    it('escapes what it echoes', async () => {
      const res = await rawRequest(
        gw.url,
        `/oauth/authorize?${form({ response_type: 'code', client_id: 'web', redirect_uri: CALLBACK, state: '"><script>alert(1)</script>' })}`,
      )
      expect(res.status).toBe(200)
      expect(res.text).not.toContain('<script>')
      expect(res.text).toContain('&quot;&gt;&lt;script&gt;')
    })
  })

  describe('implicit grant', () => {
    it('returns the access token in the fragment, with no refresh token, to a client that opted in', async () => {
      const { location } = await browserLogin(authorizeUrl({ response_type: 'token', client_id: 'widget', state: 'w' }))
      const url = new URL(location!)
      expect(url.search).toBe('')
      const fragment = new URLSearchParams(url.hash.slice(1))
      expect(fragment.get('token_type')).toBe('Bearer')
      expect(fragment.get('state')).toBe('w')
      expect(fragment.get('refresh_token')).toBeNull()
      expect((await callRoute(fragment.get('access_token')!)).status).toBe(200)
    })

    it('is refused to every client that does not list it', async () => {
      const res = await rawRequest(gw.url, `/oauth/authorize?${form({ response_type: 'token', client_id: 'web', redirect_uri: CALLBACK, state: 's' })}`)
      expect(res.status).toBe(302)
      const fragment = new URLSearchParams(new URL(res.headers.location!).hash.slice(1))
      expect(fragment.get('error')).toBe('unauthorized_client')
      expect(fragment.get('access_token')).toBeNull()
    })
  })

  describe('password grant', () => {
    it("issues tokens bounded by both the client's and the user's scopes", async () => {
      const alice = await token({ grant_type: 'password', username: 'alice', password: 'alice-pw' }, basic('legacy', 's3cret'))
      expect(alice.json()).toMatchObject({ scope: 'orders:read orders:write', refresh_token: expect.any(String) })
      const bob = await token({ grant_type: 'password', username: 'bob', password: 'bob-pw' }, basic('legacy', 's3cret'))
      expect(bob.json()).toMatchObject({ scope: 'orders:read' })
      expectError(
        await token({ grant_type: 'password', username: 'bob', password: 'bob-pw', scope: 'orders:write' }, basic('legacy', 's3cret')),
        400,
        'invalid_scope',
      )
    })

    it('answers a wrong password and an unknown user alike', async () => {
      const wrong = await token({ grant_type: 'password', username: 'alice', password: 'nope' }, basic('legacy', 's3cret'))
      const unknown = await token({ grant_type: 'password', username: 'mallory', password: 'nope' }, basic('legacy', 's3cret'))
      expect(wrong.status).toBe(400)
      expect(wrong.json()).toEqual(unknown.json())
      expect(wrong.json()).toEqual({ error: 'invalid_grant', error_description: 'the username or password is wrong' })
    })

    it('is refused to clients that do not list it', async () => {
      expectError(await token({ grant_type: 'password', username: 'alice', password: 'alice-pw' }), 400, 'unauthorized_client')
    })

    it('stops checking passwords for a username after too many failures', async () => {
      const statuses = []
      for (let i = 0; i < 4; i++)
        statuses.push((await token({ grant_type: 'password', username: 'carol', password: `guess${i}` }, basic('legacy', 's3cret'))).status)
      expect(statuses).toEqual([400, 400, 400, 429])
    })
  })

  describe('refresh tokens', () => {
    const passwordTokens = async () =>
      (await token({ grant_type: 'password', username: 'alice', password: 'alice-pw' }, basic('legacy', 's3cret'))).json<{
        access_token: string
        refresh_token: string
      }>()
    const refresh = (refresh_token: string, extra: Record<string, string> = {}) =>
      token({ grant_type: 'refresh_token', refresh_token, ...extra }, basic('legacy', 's3cret'))

    it('rotate on every use; reusing a rotated one revokes the whole family', async () => {
      const first = await passwordTokens()
      const second = (await refresh(first.refresh_token)).json<{ access_token: string; refresh_token: string; refresh_expires_in: number }>()
      expect(second.refresh_token).not.toBe(first.refresh_token)
      expect(second.refresh_expires_in).toBe(1209600)

      expectError(await refresh(first.refresh_token), 400, 'invalid_grant') // reuse
      expectError(await refresh(second.refresh_token), 400, 'invalid_grant') // the family is gone
      expect((await callRoute(second.access_token)).status).toBe(401)
    })

    it('may narrow the scope, never widen it', async () => {
      const { refresh_token } = (
        await token({ grant_type: 'password', username: 'alice', password: 'alice-pw', scope: 'orders:read' }, basic('legacy', 's3cret'))
      ).json<{ refresh_token: string }>()
      expectError(await refresh(refresh_token, { scope: 'orders:read orders:write' }), 400, 'invalid_scope')
      const full = await passwordTokens()
      const narrowed = await refresh(full.refresh_token, { scope: 'orders:read' })
      expect(narrowed.json()).toMatchObject({ scope: 'orders:read' })
      // The rotated refresh token keeps the original scopes (RFC 6749 §6).
      const again = await refresh(narrowed.json<{ refresh_token: string }>().refresh_token)
      expect(again.json()).toMatchObject({ scope: 'orders:read orders:write' })
    })

    it('belong to the client they were issued to', async () => {
      const { refresh_token } = await passwordTokens()
      expectError(await token({ grant_type: 'refresh_token', refresh_token }, basic('other', 's3cret')), 400, 'invalid_grant')
    })

    it('also refresh at the legacy POST {token path}/refresh, from the query or the body', async () => {
      const { refresh_token } = await passwordTokens()
      const viaQuery = await rawRequest(gw.url, `/oauth/token/refresh?refreshToken=${encodeURIComponent(refresh_token)}`, {
        method: 'POST',
        headers: { authorization: basic('legacy', 's3cret') },
      })
      expect(viaQuery.status).toBe(200)
      const next = viaQuery.json<{ refresh_token: string }>().refresh_token
      const viaBody = await rawRequest(gw.url, '/oauth/token/refresh', {
        method: 'POST',
        headers: { ...FORM, authorization: basic('legacy', 's3cret') },
        body: form({ refreshToken: next }),
      })
      expect(viaBody.status).toBe(200)
      expect(viaBody.headers['cache-control']).toBe('no-store')
      expectError(
        await rawRequest(gw.url, '/oauth/token/refresh', { method: 'POST', headers: { authorization: basic('legacy', 's3cret') } }),
        400,
        'invalid_request',
      )
    })

    it('at most one of concurrent refreshes of one token succeeds, and the reuses revoke what it got', async () => {
      const { refresh_token } = await passwordTokens()
      const results = await Promise.all(Array.from({ length: 5 }, () => refresh(refresh_token)))
      const winners = results.filter((r) => r.status === 200)
      expect(winners.length).toBeLessThanOrEqual(1)
      expect(results.filter((r) => r.status === 400).map((r) => r.json().error)).toEqual(Array(5 - winners.length).fill('invalid_grant'))
      for (const winner of winners) expect((await callRoute(winner.json<{ access_token: string }>().access_token)).status).toBe(401)
    })
  })

  describe('revocation and introspection', () => {
    it('revokes an access token: the route refuses it from then on (RFC 7009)', async () => {
      const { access_token } = (await token({ grant_type: 'password', username: 'alice', password: 'alice-pw' }, basic('legacy', 's3cret'))).json<{
        access_token: string
      }>()
      expect((await callRoute(access_token)).status).toBe(200)
      const res = await rawRequest(gw.url, '/oauth/revoke', {
        method: 'POST',
        headers: { ...FORM, authorization: basic('legacy', 's3cret') },
        body: form({ token: access_token }),
      })
      expect(res.status).toBe(200)
      expect((await callRoute(access_token)).status).toBe(401)
    })

    it('revokes a refresh token and its family', async () => {
      const { refresh_token, access_token } = (
        await token({ grant_type: 'password', username: 'alice', password: 'alice-pw' }, basic('legacy', 's3cret'))
      ).json<{ access_token: string; refresh_token: string }>()
      await rawRequest(gw.url, '/oauth/revoke', {
        method: 'POST',
        headers: { ...FORM, authorization: basic('legacy', 's3cret') },
        body: form({ token: refresh_token, token_type_hint: 'refresh_token' }),
      })
      expectError(await token({ grant_type: 'refresh_token', refresh_token }, basic('legacy', 's3cret')), 400, 'invalid_grant')
      expect((await callRoute(access_token)).status).toBe(401)
    })

    it("answers 200 for another client's token but leaves it alone", async () => {
      const { access_token } = (await token({ grant_type: 'password', username: 'alice', password: 'alice-pw' }, basic('legacy', 's3cret'))).json<{
        access_token: string
      }>()
      const res = await rawRequest(gw.url, '/oauth/revoke', {
        method: 'POST',
        headers: { ...FORM, authorization: basic('other', 's3cret') },
        body: form({ token: access_token }),
      })
      expect(res.status).toBe(200)
      expect((await callRoute(access_token)).status).toBe(200)
      expect((await rawRequest(gw.url, '/oauth/revoke', { method: 'POST', headers: FORM, body: form({ token: 'garbage', client_id: 'legacy' }) })).status).toBe(
        401,
      )
    })

    it("introspects a client's own tokens (RFC 7662), and nothing else", async () => {
      const tokens = (await token({ grant_type: 'password', username: 'alice', password: 'alice-pw' }, basic('legacy', 's3cret'))).json<{
        access_token: string
        refresh_token: string
      }>()
      const introspect = (t: string, client = basic('legacy', 's3cret')) =>
        rawRequest(gw.url, '/oauth/introspect', { method: 'POST', headers: { ...FORM, authorization: client }, body: form({ token: t }) })
      expect((await introspect(tokens.access_token)).json()).toMatchObject({
        active: true,
        token_type: 'Bearer',
        client_id: 'legacy',
        username: 'alice',
        scope: 'orders:read orders:write',
      })
      expect((await introspect(tokens.refresh_token)).json()).toMatchObject({
        active: true,
        token_type: 'refresh_token',
        client_id: 'legacy',
        username: 'alice',
      })
      expect((await introspect(tokens.access_token, basic('other', 's3cret'))).json()).toEqual({ active: false })
      expect((await introspect('not-a-token')).json()).toEqual({ active: false })
      await rawRequest(gw.url, '/oauth/revoke', {
        method: 'POST',
        headers: { ...FORM, authorization: basic('legacy', 's3cret') },
        body: form({ token: tokens.access_token }),
      })
      expect((await introspect(tokens.access_token)).json()).toEqual({ active: false })
      const publicClient = await rawRequest(gw.url, '/oauth/introspect', {
        method: 'POST',
        headers: FORM,
        body: form({ token: tokens.access_token, client_id: 'spa' }),
      })
      expect(publicClient.status).toBe(401)
    })

    it('lists every endpoint in the metadata', async () => {
      const metadata = (await rawRequest(gw.url, '/.well-known/oauth-authorization-server')).json()
      expect(metadata).toMatchObject({
        authorization_endpoint: `${issuer}/oauth/authorize`,
        revocation_endpoint: `${issuer}/oauth/revoke`,
        introspection_endpoint: `${issuer}/oauth/introspect`,
        code_challenge_methods_supported: ['S256'],
        response_types_supported: ['code', 'token'],
        grant_types_supported: ['client_credentials', 'password', 'authorization_code', 'refresh_token', 'implicit'],
        token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
      })
    })
  })
})

describe.skipIf(!stores.some((s) => s.kind === 'redis'))('two instances on one Redis', () => {
  it('redeem a code at most once between them, however many requests race, and revoke it for the replays', async () => {
    const { port, yaml } = await config('redis')
    const one = await startGateway(yaml, { port })
    const two = await startGateway(yaml) // same config and issuer, another port (each signs with its own key)
    try {
      await untilStoresReady(one, two)
      const verifier = 'v'.repeat(43)
      const challenge = await oidc.calculatePKCECodeChallenge(verifier)
      const { location } = await browserLogin(
        `${one.url}/oauth/authorize?${form({ response_type: 'code', client_id: 'web', redirect_uri: CALLBACK, state: 's', code_challenge: challenge, code_challenge_method: 'S256' })}`,
      )
      const code = new URL(location!).searchParams.get('code')!
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          rawRequest((i % 2 ? two : one).url, '/oauth/token', {
            method: 'POST',
            headers: { ...FORM, authorization: basic('web', 's3cret') },
            body: form({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: verifier }),
          }),
        ),
      )
      const winners = results.flatMap((r, i) => (r.status === 200 ? [{ gw: i % 2 ? two : one, access: r.json<{ access_token: string }>().access_token }] : []))
      expect(winners.length).toBeLessThanOrEqual(1)
      expect(results.filter((r) => r.status === 400).map((r) => r.json().error)).toEqual(Array(20 - winners.length).fill('invalid_grant'))
      // Checked where it was issued: each instance signs with its own key.
      for (const { gw, access } of winners) {
        expect((await rawRequest(gw.url, '/api/orders/1', { headers: { authorization: `Bearer ${access}` } })).status).toBe(401)
      }
    } finally {
      await one.close()
      await two.close()
    }
  })
})

describe('failed logins per IP', () => {
  it('stop password checks from an address that failed too often, whatever the username', async () => {
    const gw = await startGateway(`
server: { trustedProxies: [127.0.0.1] }
authorize: { loginFailureLimit: { points: 100, duration: 60 }, loginFailureLimitPerIp: { points: 2, duration: 60 } }
clients: [{ id: legacy, secretHash: "${await fastHash('s3cret')}", grants: [password] }]
users: [{ username: alice, passwordHash: "${await fastHash('alice-pw')}" }]
`)
    const login = (ip: string, username: string, password: string) =>
      rawRequest(gw.url, '/oauth/token', {
        method: 'POST',
        headers: { ...FORM, authorization: basic('legacy', 's3cret'), 'x-forwarded-for': ip },
        body: form({ grant_type: 'password', username, password }),
      })
    try {
      const statuses = [(await login('203.0.113.1', 'u1', 'x')).status, (await login('203.0.113.1', 'u2', 'x')).status]
      statuses.push((await login('203.0.113.1', 'alice', 'alice-pw')).status)
      statuses.push((await login('203.0.113.2', 'alice', 'alice-pw')).status)
      expect(statuses).toEqual([400, 400, 429, 200])
    } finally {
      await gw.close()
    }
  })
})
