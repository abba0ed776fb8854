// GET and POST /oauth/authorize: the authorization code grant with PKCE (RFC 6749 §4.1, RFC 7636)
// and, for clients that list it, the implicit grant (§4.2). GET shows the login and consent page;
// POST checks the form's CSRF token, validates the request again (hidden fields are input like any
// other), logs the user in and sends the browser back to the client.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import type {} from '@fastify/cookie'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { DEFAULT_AUTHORIZE_PATH, type GatehouseConfig } from '../config/compile.js'
import { GatehouseError, isGatehouseError } from '../errors.js'
import type { ClientAddress } from '../net/client-address.js'
import type { Clock } from './access-token.js'
import { AuthorizationError, redirectWith, validateAuthorizationRequest, type AuthorizationRequest } from './authorize-request.js'
import { queryParams, type FormParams } from './form-params.js'
import type { TokenIssuer } from './grants/issue-tokens.js'
import { deriveKey, type SigningKeys } from './keys.js'
import { renderErrorPage, renderLoginPage } from './login-page.js'
import type { TokenState } from './token-state.js'
import type { UserVerifier } from './user-auth.js'

export const AUTHORIZE_PATH = DEFAULT_AUTHORIZE_PATH
const CSRF_COOKIE = 'gatehouse_csrf'

export interface AuthorizeDeps {
  readonly config: GatehouseConfig
  readonly keys: SigningKeys
  readonly resolveClientAddress: (req: FastifyRequest['raw']) => ClientAddress
  readonly verifyUser: UserVerifier
  readonly state: TokenState
  readonly issueTokens: TokenIssuer
  readonly clock: Clock
}

export function registerAuthorizeEndpoint(app: FastifyInstance, deps: AuthorizeDeps): void {
  const { config } = deps
  // Signed double-submit CSRF token (OWASP). The key comes from the signing key, so that every
  // instance sharing a key file accepts a form that another one served.
  const csrfKey = deriveKey(deps.keys, 'login form csrf')
  const csrfTokenFor = (cookie: string) => createHmac('sha256', csrfKey).update(cookie).digest('base64url')
  const secureCookie = config.issuer.startsWith('https:')

  const pageHeaders = (reply: FastifyReply, request?: AuthorizationRequest) => {
    // form-action must allow the redirect that follows the POST (browsers apply it to redirects).
    const target = request ? redirectSource(request.redirectUri) : ''
    reply
      .header('cache-control', 'no-store')
      .header('content-security-policy', `default-src 'none'; style-src 'unsafe-inline'; form-action 'self' ${target}; frame-ancestors 'none'; base-uri 'none'`)
      .header('x-frame-options', 'DENY')
      .header('referrer-policy', 'no-referrer')
      .type('text/html; charset=utf-8')
  }

  const showLogin = (reply: FastifyReply, request: AuthorizationRequest, status: number, form: { username?: string; error?: string } = {}) => {
    const action = reply.request.routeOptions.url ?? AUTHORIZE_PATH
    let cookie = reply.request.cookies[CSRF_COOKIE]
    if (!cookie || cookie.length !== 43) {
      cookie = randomBytes(32).toString('base64url')
      // Scoped to the path the page was served at, which its form posts back to.
      reply.setCookie(CSRF_COOKIE, cookie, { path: action, httpOnly: true, sameSite: 'strict', secure: secureCookie })
    }
    pageHeaders(reply, request)
    return reply.code(status).send(renderLoginPage({ action, request, csrfToken: csrfTokenFor(cookie), scopeDescriptions: config.scopeDescriptions, ...form }))
  }

  const showError = (reply: FastifyReply, status: number, message: string) => {
    pageHeaders(reply)
    return reply.code(status).send(renderErrorPage(message))
  }

  /** An error for the client goes back to it; one about the client itself stays on our page. */
  const refuse = (reply: FastifyReply, err: unknown) => {
    if (err instanceof AuthorizationError) {
      if (err.redirect) return reply.redirect(redirectWith(err.redirect, { error: err.error, error_description: err.message, iss: config.issuer }), 302)
      return showError(reply, 400, err.message)
    }
    if (isGatehouseError(err) && err.status < 500) return showError(reply, 400, err.message)
    throw err
  }

  const showAuthorizationPage = async (request: FastifyRequest, reply: FastifyReply) => {
    try {
      const authRequest = validateAuthorizationRequest(queryParams(request.raw.url), config.clients, config.authorize)
      return showLogin(reply, authRequest, 200)
    } catch (err) {
      return refuse(reply, err)
    }
  }

  const submitAuthorizationForm = async (request: FastifyRequest, reply: FastifyReply) => {
    if (!(request.body instanceof Map)) return showError(reply, 400, 'The form was not sent correctly.')
    const form = request.body as FormParams
    const cookie = request.cookies[CSRF_COOKIE]
    const sent = form.get('csrf')
    if (!cookie || !sent || !safeEqual(sent, csrfTokenFor(cookie))) {
      return showError(reply, 403, 'The sign-in form expired or did not come from this page. Go back and try again.')
    }
    let authRequest: AuthorizationRequest
    try {
      authRequest = validateAuthorizationRequest(form, config.clients, config.authorize)
    } catch (err) {
      return refuse(reply, err)
    }
    const target = { uri: authRequest.redirectUri, mode: authRequest.responseType === 'token' ? 'fragment' : 'query', state: authRequest.state } as const
    if (form.get('decision') !== 'approve') {
      return reply.redirect(redirectWith(target, { error: 'access_denied', error_description: 'the user declined', iss: config.issuer }), 302)
    }

    const username = form.get('username') ?? ''
    let user
    try {
      user = await deps.verifyUser(username, form.get('password') ?? '', deps.resolveClientAddress(request.raw).key)
    } catch (err) {
      if (err instanceof GatehouseError && err.code === 'invalid_grant')
        return showLogin(reply, authRequest, 401, { username, error: 'The username or password is wrong.' })
      if (err instanceof GatehouseError && err.code === 'rate_limited') {
        for (const [name, value] of Object.entries(err.headers)) reply.header(name, value)
        return showLogin(reply, authRequest, 429, { username, error: 'Too many failed sign-ins. Wait a few minutes and try again.' })
      }
      throw err
    }

    const scopes = authRequest.scopes.filter((s) => user.scopes.includes(s))
    const authTime = Math.floor(deps.clock() / 1000)
    if (authRequest.responseType === 'token') {
      // Implicit: the access token travels in the URL fragment; never a refresh token (§4.2.2).
      const { response } = await deps.issueTokens({ client: authRequest.client, subject: user.username, scopes, authTime, withRefresh: false })
      return reply.redirect(redirectWith(target, { ...response, iss: config.issuer }), 302)
    }
    const code = await deps.state.saveCode({
      clientId: authRequest.client.id,
      redirectUri: authRequest.redirectUri,
      redirectUriGiven: authRequest.redirectUriGiven,
      codeChallenge: authRequest.codeChallenge,
      codeChallengeMethod: authRequest.codeChallengeMethod,
      scopes,
      subject: user.username,
      authTime,
    })
    // RFC 9207: iss in the response lets the client tell authorization servers apart.
    return reply.redirect(redirectWith(target, { code, iss: config.issuer }), 302)
  }

  // /oauth/authorize, and authorize.paths for legacy clients (/o/authorize/), each exactly as written.
  for (const path of config.authorize.paths) {
    app.get(path, showAuthorizationPage)
    app.post(path, submitAuthorizationForm)
  }
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/** The CSP source for a redirect URI: its origin, or its scheme for a private-use URI scheme. */
function redirectSource(uri: string): string {
  const url = new URL(uri)
  return url.origin !== 'null' ? url.origin : url.protocol
}
