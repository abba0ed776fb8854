import { createRemoteJWKSet, jwtVerify } from 'jose'
import * as oidc from 'openid-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fastHash, freePort, rawRequest, startGateway, startOrigin, type Gateway, type Origin } from '../helpers/index.js'

let gw: Gateway
let origin: Origin

beforeAll(async () => {
  origin = await startOrigin()
  // openid-client checks that the metadata's issuer is the URL it discovered: it must name the port.
  const port = await freePort()
  gw = await startGateway(
    `
issuer: http://127.0.0.1:${port}
clients:
  - { id: reporting, secretHash: "${await fastHash('s3cret')}", scopes: [orders:read, orders:write] }
routes:
  - { id: orders, path: /api/orders, upstream: "${origin.url}", scopes: [orders:read] }
`,
    { port },
  )
})
afterAll(async () => {
  await gw?.close()
  await origin?.close()
})

describe('discovery', () => {
  it('publishes RFC 8414 metadata', async () => {
    const res = await rawRequest(gw.url, '/.well-known/oauth-authorization-server')
    expect(res.status).toBe(200)
    const issuer = gw.config.issuer
    expect(res.json()).toEqual({
      issuer,
      authorization_endpoint: `${issuer}/oauth/authorize`,
      token_endpoint: `${issuer}/oauth/token`,
      jwks_uri: `${issuer}/.well-known/jwks.json`,
      revocation_endpoint: `${issuer}/oauth/revoke`,
      introspection_endpoint: `${issuer}/oauth/introspect`,
      grant_types_supported: ['client_credentials', 'password', 'authorization_code', 'refresh_token'],
      response_types_supported: ['code'],
      response_modes_supported: ['query'],
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      scopes_supported: ['orders:read', 'orders:write'],
      authorization_response_iss_parameter_supported: true,
    })
  })

  it('publishes only public keys, each with kid, alg and use', async () => {
    const res = await rawRequest(gw.url, '/.well-known/jwks.json')
    const { keys } = res.json<{ keys: Record<string, unknown>[] }>()
    expect(keys).toHaveLength(1)
    expect(keys[0]).toEqual({ kty: 'EC', crv: 'P-256', x: expect.any(String), y: expect.any(String), kid: expect.any(String), alg: 'ES256', use: 'sig' })
    expect(keys[0]).not.toHaveProperty('d')
  })

  it('works with openid-client: discovery, client credentials, and a call to a protected route', async () => {
    const config = await oidc.discovery(new URL(gw.config.issuer), 'reporting', undefined, oidc.ClientSecretBasic('s3cret'), {
      algorithm: 'oauth2',
      execute: [oidc.allowInsecureRequests],
    })
    const tokens = await oidc.clientCredentialsGrant(config, { scope: 'orders:read' })
    expect(tokens.token_type).toBe('bearer')
    expect(tokens.scope).toBe('orders:read')
    expect(tokens.expires_in).toBe(3600)

    // The token verifies against the published JWKS, as any resource server would check it.
    const { payload } = await jwtVerify(tokens.access_token, createRemoteJWKSet(new URL(`${gw.config.issuer}/.well-known/jwks.json`)), {
      issuer: gw.config.issuer,
      audience: gw.config.issuer,
      typ: 'at+jwt',
    })
    expect(payload.client_id).toBe('reporting')

    const res = await oidc.fetchProtectedResource(config, tokens.access_token, new URL(`${gw.config.issuer}/api/orders/7`), 'GET')
    expect(res.status).toBe(200)
    expect(origin.received.at(-1)).toMatchObject({ url: '/api/orders/7', headers: { 'x-auth-client-id': 'reporting', 'x-auth-scope': 'orders:read' } })
  })
})
