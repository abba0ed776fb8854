// An authorization request (RFC 6749 §4.1.1, §4.2.1, RFC 7636 §4.3), validated in the order of
// RFC 6749 §4.1.2.1: while the client or its redirect URI is in doubt, errors are shown to the
// user and never redirected (an open redirector otherwise); after that, they go back to the client.
import type { Client } from '../config/compile.js'
import type { FormParams } from './form-params.js'
import { PKCE_VALUE } from './pkce.js'
import { grantScopes } from './scope.js'

export interface AuthorizationRequest {
  readonly client: Client
  readonly responseType: 'code' | 'token'
  readonly redirectUri: string
  readonly redirectUriGiven: boolean
  readonly scopes: readonly string[]
  readonly scopeGiven: boolean
  readonly state: string | undefined
  readonly codeChallenge: string | undefined
  readonly codeChallengeMethod: 'S256' | 'plain' | undefined
}

export interface RedirectTarget {
  readonly uri: string
  /** Codes answer in the query; implicit tokens in the fragment (RFC 6749 §4.2.2). */
  readonly mode: 'query' | 'fragment'
  readonly state: string | undefined
}

/** An error for the user (no redirect), or for the client (redirect) when `redirect` is set. */
export class AuthorizationError extends Error {
  constructor(
    readonly error: string,
    description: string,
    readonly redirect?: RedirectTarget,
  ) {
    super(description)
  }
}

export function validateAuthorizationRequest(
  params: FormParams,
  clients: ReadonlyMap<string, Client>,
  options: { allowPlainPkce: boolean },
): AuthorizationRequest {
  const clientId = params.get('client_id')
  const client = clientId === undefined ? undefined : clients.get(clientId)
  if (client === undefined) throw new AuthorizationError('invalid_request', 'The application is unknown (client_id).')

  // Exact string match against the registered URIs (RFC 9700 §4.1.3): no prefixes, no case folding.
  const given = params.get('redirect_uri')
  let redirectUri: string
  if (given !== undefined) {
    if (!client.redirectUris.includes(given)) {
      throw new AuthorizationError('invalid_request', 'The redirect URI is not registered for this application.')
    }
    redirectUri = given
  } else if (client.redirectUris.length === 1) {
    redirectUri = client.redirectUris[0]!
  } else {
    throw new AuthorizationError('invalid_request', 'The request must name a redirect URI (redirect_uri).')
  }

  const state = params.get('state')
  const responseType = params.get('response_type')
  const mode = responseType === 'token' ? 'fragment' : 'query'
  const fail = (error: string, description: string): never => {
    throw new AuthorizationError(error, description, { uri: redirectUri, mode, state })
  }

  if (responseType !== 'code' && responseType !== 'token') {
    return fail(responseType === undefined ? 'invalid_request' : 'unsupported_response_type', 'response_type must be code (or token for implicit clients)')
  }
  // The implicit grant is off for every client that does not list it.
  if (responseType === 'code' && !client.grants.has('authorization_code')) fail('unauthorized_client', 'this client may not use the authorization code grant')
  if (responseType === 'token' && !client.grants.has('implicit')) fail('unauthorized_client', 'this client may not use the implicit grant')

  const requestedScope = params.get('scope')
  let scopes: readonly string[] = []
  try {
    scopes = grantScopes(requestedScope, client.scopes)
  } catch (err) {
    fail('invalid_scope', (err as Error).message)
  }

  let codeChallenge = params.get('code_challenge')
  let codeChallengeMethod: 'S256' | 'plain' | undefined
  if (responseType === 'code') {
    const method = params.get('code_challenge_method')
    if (codeChallenge === undefined) {
      if (method !== undefined) fail('invalid_request', 'code_challenge_method without code_challenge')
      if (client.type === 'public') fail('invalid_request', 'PKCE is required for public clients: send code_challenge with code_challenge_method=S256')
    } else {
      // RFC 7636 §4.3: an absent method means plain.
      codeChallengeMethod =
        method === undefined ? 'plain' : method === 'S256' || method === 'plain' ? method : fail('invalid_request', 'code_challenge_method must be S256')
      if (codeChallengeMethod === 'plain' && !options.allowPlainPkce) fail('invalid_request', 'code_challenge_method must be S256 (plain is not allowed)')
      const wellFormed = codeChallengeMethod === 'S256' ? /^[A-Za-z0-9_-]{43}$/.test(codeChallenge) : PKCE_VALUE.test(codeChallenge)
      if (!wellFormed) fail('invalid_request', 'code_challenge is malformed')
    }
  } else {
    codeChallenge = undefined
  }

  return {
    client,
    responseType,
    redirectUri,
    redirectUriGiven: given !== undefined,
    scopes,
    scopeGiven: requestedScope !== undefined,
    state,
    codeChallenge,
    codeChallengeMethod,
  }
}

/** The client's redirect URI with the response parameters added in the query or the fragment. */
export function redirectWith(target: RedirectTarget, params: Record<string, string | number | undefined>): string {
  const url = new URL(target.uri)
  const entries: [string, string][] = []
  for (const [k, v] of Object.entries({ ...params, state: target.state })) if (v !== undefined) entries.push([k, String(v)])
  if (target.mode === 'query') for (const [k, v] of entries) url.searchParams.set(k, v)
  else url.hash = new URLSearchParams(entries).toString()
  return url.href
}
