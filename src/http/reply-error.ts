// The one place where errors become responses: the JSON body and headers of the README's Errors table.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { GatehouseError, isGatehouseError } from '../errors.js'

const FRAMEWORK_DESCRIPTIONS: Record<number, string> = {
  400: 'the request is malformed',
  404: 'no route matches this request',
  405: 'method not allowed',
  413: 'the request body is too large',
  415: 'unsupported content type',
  431: 'request headers are too large',
}

/**
 * Any error as a GatehouseError. Fastify's own 4xx errors (bad URL, body too large, wrong content
 * type) become invalid_request; `statusFor4xx` lets the token endpoint answer all of them with 400
 * as RFC 6749 §5.2 asks. Anything else is a 500 whose details stay in the log.
 */
export function toGatehouseError(err: unknown, statusFor4xx?: number): GatehouseError {
  if (isGatehouseError(err)) return err
  const status = (err as FastifyError).statusCode
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const code = (err as FastifyError).code ?? 'FST_ERR'
    if (status === 404) return new GatehouseError('not_found', FRAMEWORK_DESCRIPTIONS[404]!, { reason: code })
    return new GatehouseError('invalid_request', FRAMEWORK_DESCRIPTIONS[status] ?? FRAMEWORK_DESCRIPTIONS[400]!, {
      status: statusFor4xx ?? status,
      reason: code,
    })
  }
  return new GatehouseError('server_error', 'an unexpected error occurred', { reason: 'unexpected', cause: err })
}

/** How a legacy token path's clients expect errors: their own codes (MAXST: T001) and field name. */
export interface ErrorStyle {
  readonly codes: Readonly<Partial<Record<string, string>>>
  readonly descriptionField: string
}

export function sendError(request: FastifyRequest, reply: FastifyReply, err: GatehouseError, style?: ErrorStyle): FastifyReply {
  // ??=: fastify's own routing errors (frameworkErrors) come before any onRequest hook.
  request.audit ??= {}
  request.audit.reason = err.reason ?? err.code
  request.audit.error = err.code
  if (err.status >= 500) request.log.error({ err: err.cause ?? err, reason: request.audit.reason }, err.message)
  for (const [name, value] of Object.entries(err.headers)) reply.header(name, value)
  const body = style ? { error: style.codes[err.code] ?? err.code, [style.descriptionField]: err.message } : err.toJSON()
  return reply.code(err.status).type('application/json; charset=utf-8').send(body)
}

/**
 * The error handler of a context. The OAuth endpoints' (`oauth: true`) answers every 4xx with 400
 * and never lets an error be cached (RFC 6749 §5.1, §5.2), whichever hook or step refused.
 */
export const errorHandler = ({ oauth = false, style }: { oauth?: boolean; style?: ErrorStyle } = {}) =>
  function handleError(this: unknown, err: unknown, request: FastifyRequest, reply: FastifyReply) {
    if (oauth) reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
    return sendError(request, reply, toGatehouseError(err, oauth ? 400 : undefined), style)
  }
