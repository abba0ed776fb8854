// Forwarding with @fastify/reply-from (undici, keep-alive pools per upstream origin). Identity is
// injected in rewriteRequestHeaders, which runs after reply-from has removed the headers the client
// named in `Connection:`, so a client cannot use that to remove ours (oauth2-proxy CVE-2025-64484).
import type {} from '@fastify/reply-from'
import type { Readable } from 'node:stream'
import type { FastifyReply } from 'fastify'
import { GatehouseError } from '../errors.js'
import { injectIdentityHeaders } from '../pipeline/identity-headers.js'
import type { Decision } from '../pipeline/index.js'
import { upstreamPath } from '../pipeline/match-route.js'
import { clientAborted, type Admission, type Release } from './admission.js'
import { bodyIncomplete, type createBodyBuffering } from './buffer-body.js'
import { isBodyTooLarge, limitBody } from './limit-body.js'

type BodyBuffering = ReturnType<typeof createBodyBuffering>

// Hop-by-hop headers of the upstream's response (RFC 9110 §7.6.1) are not passed on.
const RESPONSE_HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'trailer', 'te']

export interface ForwardDeps {
  readonly prepareBody: BodyBuffering
  readonly admission: Admission
}

export async function forward(reply: FastifyReply, { route, target, client, principal }: Decision, { prepareBody, admission }: ForwardDeps): Promise<FastifyReply> {
  const request = reply.request
  if (reply.raw.closed || request.raw.socket.destroyed) throw clientAborted() // its 'close' has come and gone
  // What this request holds: its place among its address's requests, its buffer share, its
  // upstream connection. All of it is given back when the upstream exchange is over. A client that
  // leaves does not end that exchange: undici waits on for the upstream's answer (reply-from has no
  // way to abort it), so a request whose client left while the upstream had not answered yet keeps
  // holding until the answer or the error comes; else one address could hold the whole pool by
  // sending slow requests and leaving at once.
  const held: Release[] = []
  const left = new AbortController()
  const releaseAll = () => {
    for (const release of held.splice(0)) release()
  }
  let exchange: 'none' | 'waiting' | 'over' = 'none'
  let deadline: NodeJS.Timeout | undefined
  const upstreamDone = () => {
    clearTimeout(deadline)
    exchange = 'over'
    if (left.signal.aborted) releaseAll()
  }
  reply.raw.once('close', () => {
    left.abort()
    if (exchange !== 'waiting') releaseAll()
  })
  const hold = (release: Release) => {
    held.push(release)
    if (left.signal.aborted) {
      releaseAll()
      throw clientAborted()
    }
  }
  let timeout: number
  try {
    hold(admission.enter(client.key))
    if (request.body) {
      const declared = request.headers['content-length']
      const prepared = await prepareBody(request.body as Readable, declared === undefined ? undefined : Number(declared), route.maxBodyBytes, client.key)
      hold(prepared.release)
      request.body = limitBody(prepared.body, route.maxBodyBytes)
    }
    const slot = await admission.upstreamSlot(route.upstreamOrigin, route.timeoutMs, route.id, left.signal)
    hold(slot.release)
    // timeoutMs covers the wait for a connection too: what is left of it goes to undici.
    timeout = Math.max(1, Math.round(route.timeoutMs - slot.waitedMs))
  } catch (err) {
    releaseAll()
    throw err
  }
  exchange = 'waiting'
  // Should neither the answer nor the error ever come, undici's own timeout (about a second of
  // resolution) has ended the exchange by then.
  deadline = setTimeout(upstreamDone, timeout + 2_000).unref()
  // The query string is taken raw from the request by reply-from; the path is the normalised one.
  return reply.from(route.upstreamOrigin + upstreamPath(route, target.path, target.encodedPath), {
    timeout,
    // reply-from retries a GET answered 503 up to ten times by default; a gateway passes it on.
    retryDelay: () => null,
    rewriteRequestHeaders: (_req, headers) => injectIdentityHeaders(headers, route, principal, client),
    // Called when the upstream's answer arrives, also for a client that left (reply-from then
    // destroys the upstream body at once); for one still here, the answer ends with its response.
    rewriteHeaders: (headers) => {
      upstreamDone()
      for (const name of RESPONSE_HOP_BY_HOP) delete headers[name]
      return headers
    },
    onError: (reply, { error }) => {
      upstreamDone()
      // A client that left mid-body made the upstream request fail: that is no upstream error.
      reply.send(request.raw.socket.destroyed ? bodyIncomplete(error) : upstreamError(route.id, error))
    },
  })
}

/** Maps reply-from's errors to the documented 502/504, without the upstream's address or details. */
function upstreamError(routeId: string, error: Error & { statusCode?: number }): GatehouseError {
  if (isBodyTooLarge(error)) {
    return new GatehouseError('invalid_request', 'the request body is too large', { status: 413, reason: 'body_too_large', headers: { connection: 'close' } })
  }
  if (error.statusCode === 504) {
    return new GatehouseError('gateway_timeout', 'the upstream did not answer in time', { reason: `upstream_timeout:${routeId}`, cause: error })
  }
  return new GatehouseError('bad_gateway', 'the upstream could not be reached', { reason: `upstream_error:${routeId}`, cause: error })
}
