// Token endpoint parameters: an application/x-www-form-urlencoded body (RFC 6749 §3.2), parsed by
// the platform's URLSearchParams. A parameter sent twice is refused (§3.2: "MUST NOT be included
// more than once"); one sent empty counts as omitted (§3.1).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { GatehouseError } from '../errors.js'

const FORM = 'application/x-www-form-urlencoded'
// OAuth requests are a few hundred bytes; 16 KiB also bounds the parameter count.
export const FORM_BODY_LIMIT = 16 * 1024

/** Parses form bodies (only form bodies) in the OAuth endpoints' context. */
export function registerFormParser(app: FastifyInstance): void {
  app.addContentTypeParser(FORM, { parseAs: 'string', bodyLimit: FORM_BODY_LIMIT }, (_req, body, done) => {
    try {
      done(null, parseFormParams(body as string))
    } catch (err) {
      done(err as Error, undefined)
    }
  })
}

/** RFC 6749 §3.2: the parameters come as a form body, nowhere else. */
export function formBody(request: FastifyRequest): FormParams {
  if (!(request.body instanceof Map)) {
    throw new GatehouseError('invalid_request', `the request body must be ${FORM}`, { reason: 'no_form_body' })
  }
  return request.body as FormParams
}

/** RFC 6749 §5.1: token responses, and their errors, must not be cached. */
export async function noStore(_request: FastifyRequest, reply: FastifyReply): Promise<void> {
  reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
}

export type FormParams = ReadonlyMap<string, string>

export function parseFormParams(body: string): FormParams {
  const params = new Map<string, string>()
  const seen = new Set<string>()
  for (const [name, value] of new URLSearchParams(body)) {
    if (seen.has(name)) {
      throw new GatehouseError('invalid_request', `parameter "${name.slice(0, 64)}" is repeated`, { reason: 'param_repeated' })
    }
    seen.add(name)
    if (value !== '') params.set(name, value)
  }
  return params
}

/** The parameters of a request's query string, with the same rules as a form body. */
export function queryParams(rawUrl: string | undefined): FormParams {
  const url = rawUrl ?? ''
  const q = url.indexOf('?')
  return parseFormParams(q === -1 ? '' : url.slice(q + 1))
}

export function requireParam(params: FormParams, name: string): string {
  const value = params.get(name)
  if (value === undefined) throw new GatehouseError('invalid_request', `parameter "${name}" is missing`, { reason: 'param_missing' })
  return value
}
