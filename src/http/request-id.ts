// The request id: the client's X-Request-Id when it is well-formed (what a proxy or a tracing
// client in front of us made), else a new UUID. It is the access line's `id`, goes upstream as
// X-Request-Id, and comes back on the response, so that one id follows a request through every
// log (Envoy, Kong's correlation-id and oauth2-proxy do the same). Anything else a client sends
// there (spaces, control characters, 200 characters of padding) is not taken: it would end up in
// logs and upstream headers.
import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'

const WELL_FORMED = /^[A-Za-z0-9._:@/+=-]{1,128}$/

export function requestId(req: IncomingMessage): string {
  const given = req.headers['x-request-id']
  return typeof given === 'string' && WELL_FORMED.test(given) ? given : randomUUID()
}
