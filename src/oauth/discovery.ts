// GET /.well-known/jwks.json and GET /.well-known/oauth-authorization-server (RFC 8414), both
// computed once at start.
import type { FastifyInstance } from 'fastify'
import type { GatehouseConfig } from '../config/compile.js'
import { AUTHORIZE_PATH } from './authorize.js'
import { GRANTS } from './grants/index.js'
import { INTROSPECT_PATH } from './introspect.js'
import { REVOKE_PATH } from './revoke.js'
import type { SigningKeys } from './keys.js'

export const JWKS_PATH = '/.well-known/jwks.json'
export const METADATA_PATH = '/.well-known/oauth-authorization-server'

export function authorizationServerMetadata(config: GatehouseConfig) {
  const base = config.issuer.replace(/\/+$/, '')
  const clients = [...config.clients.values()]
  const scopes = new Set(clients.flatMap((c) => c.scopes))
  const implicit = clients.some((c) => c.grants.has('implicit'))
  const authMethods = ['client_secret_basic', 'client_secret_post', ...(clients.some((c) => c.type === 'public') ? ['none'] : [])]
  return {
    issuer: config.issuer,
    authorization_endpoint: base + AUTHORIZE_PATH,
    token_endpoint: base + config.tokenEndpoint.paths[0]!.path,
    jwks_uri: base + JWKS_PATH,
    revocation_endpoint: base + REVOKE_PATH,
    introspection_endpoint: base + INTROSPECT_PATH,
    grant_types_supported: [...Object.keys(GRANTS), ...(implicit ? ['implicit'] : [])],
    response_types_supported: ['code', ...(implicit ? ['token'] : [])],
    response_modes_supported: ['query', ...(implicit ? ['fragment'] : [])],
    code_challenge_methods_supported: ['S256', ...(config.authorize.allowPlainPkce ? ['plain'] : [])],
    token_endpoint_auth_methods_supported: authMethods,
    revocation_endpoint_auth_methods_supported: authMethods,
    introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    scopes_supported: [...scopes].sort(),
    authorization_response_iss_parameter_supported: true,
  }
}

export function registerDiscovery(app: FastifyInstance, config: GatehouseConfig, keys: SigningKeys): void {
  const jwks = JSON.stringify(keys.jwks)
  const metadata = JSON.stringify(authorizationServerMetadata(config))
  const cacheControl = 'public, max-age=300'
  app.get(JWKS_PATH, async (_request, reply) => reply.type('application/json').header('cache-control', cacheControl).send(jwks))
  app.get(METADATA_PATH, async (_request, reply) => reply.type('application/json').header('cache-control', cacheControl).send(metadata))
}
