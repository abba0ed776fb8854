// GET /.well-known/jwks.json and GET /.well-known/oauth-authorization-server (RFC 8414), both
// computed once at start.
import type { FastifyInstance } from 'fastify'
import type { GatehouseConfig } from '../config/compile.js'
import { GRANTS } from './grants/index.js'
import type { SigningKeys } from './keys.js'

export const JWKS_PATH = '/.well-known/jwks.json'
export const METADATA_PATH = '/.well-known/oauth-authorization-server'

export function authorizationServerMetadata(config: GatehouseConfig) {
  const base = config.issuer.replace(/\/+$/, '')
  const scopes = new Set([...config.clients.values()].flatMap((c) => c.scopes))
  return {
    issuer: config.issuer,
    token_endpoint: base + config.tokenEndpoint.paths[0],
    jwks_uri: base + JWKS_PATH,
    grant_types_supported: Object.keys(GRANTS),
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    scopes_supported: [...scopes].sort(),
    response_types_supported: [],
  }
}

export function registerDiscovery(app: FastifyInstance, config: GatehouseConfig, keys: SigningKeys): void {
  const jwks = JSON.stringify(keys.jwks)
  const metadata = JSON.stringify(authorizationServerMetadata(config))
  const cacheControl = 'public, max-age=300'
  app.get(JWKS_PATH, async (_request, reply) => reply.type('application/json').header('cache-control', cacheControl).send(jwks))
  app.get(METADATA_PATH, async (_request, reply) => reply.type('application/json').header('cache-control', cacheControl).send(metadata))
}
