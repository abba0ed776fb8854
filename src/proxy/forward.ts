// Forwarding over undici's own dispatcher: keep-alive pools per upstream origin, and the upstream's
// answer written straight to the client's socket as it arrives. Until issue 10 this was
// @fastify/reply-from, which cost twice the CPU per request (its undici.request turns every answer
// into a Readable that fastify then pipes; the README's Benchmark has the numbers). Identity is
// injected after the headers the client named in `Connection:` are removed, so a client cannot use
// that to remove ours (oauth2-proxy CVE-2025-64484).
import type { IncomingHttpHeaders } from 'node:http'
import type { Readable } from 'node:stream'
import type { FastifyReply } from 'fastify'
import { Agent, type Dispatcher } from 'undici'
import { GatehouseError } from '../errors.js'
import { connectionNamed, injectIdentityHeaders } from '../pipeline/identity-headers.js'
import type { Decision } from '../pipeline/index.js'
import { upstreamPath } from '../pipeline/match-route.js'
import { clientAborted, type Admission, type Release, type WaitTicket } from './admission.js'
import { bodyIncomplete, type createBodyBuffering } from './buffer-body.js'
import { isBodyTooLarge, limitBody } from './limit-body.js'

type BodyBuffering = ReturnType<typeof createBodyBuffering>

// Hop-by-hop headers of the upstream's response (RFC 9110 §7.6.1) are not passed on, nor the ones
// its own `Connection:` names.
const REQUEST_ID = 'x-request-id'
const RESPONSE_HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'trailer', 'te'])

export interface ForwardDeps {
  readonly prepareBody: BodyBuffering
  readonly admission: Admission
  readonly upstreams: Dispatcher
}

/** The keep-alive pools, `connections` per upstream origin, with certificates verified. */
export function createUpstreams(connections: number): Agent {
  return new Agent({ connections, pipelining: 1, keepAliveTimeout: 10_000, connect: { timeout: 5_000, rejectUnauthorized: true } })
}

/**
 * Sends the request upstream and its answer back. Resolves once the answer has started (the reply
 * is then hijacked: the raw response is ours); rejects with the documented error when no answer
 * came, for the error handler to send.
 */
export async function forward(
  reply: FastifyReply,
  { route, target, client, principal }: Decision,
  { prepareBody, admission, upstreams }: ForwardDeps,
): Promise<void> {
  const request = reply.request
  const res = reply.raw
  if (res.closed || request.raw.socket.destroyed) throw clientAborted() // its 'close' has come and gone
  // What this request holds: its place among its address's requests, its buffer share, its
  // upstream connection. All of it is given back when the upstream exchange is over; a client that
  // leaves ends the exchange (the upstream request is aborted), so nothing outlives the client.
  const held: Release[] = []
  const releaseAll = () => {
    for (const release of held.splice(0)) release()
  }
  let left = false
  let exchange: 'none' | 'waiting' | 'over' = 'none'
  let abortUpstream: ((reason: Error) => void) | undefined
  const ticket: WaitTicket = {}
  const upstreamDone = () => {
    exchange = 'over'
    if (left) releaseAll()
  }
  res.once('close', () => {
    left = true
    ticket.cancel?.()
    if (exchange !== 'waiting') releaseAll()
    else abortUpstream?.(clientAborted()) // its error ends the exchange, and releases
  })
  const hold = (release: Release) => {
    held.push(release)
    if (left) {
      releaseAll()
      throw clientAborted()
    }
  }
  let timeout: number
  let body: Buffer | Readable | null = null
  try {
    hold(admission.enter(client.key))
    if (request.body) {
      const declared = request.headers['content-length']
      const prepared = await prepareBody(request.body as Readable, declared === undefined ? undefined : Number(declared), route.maxBodyBytes, client.key)
      hold(prepared.release)
      body = Buffer.isBuffer(prepared.body) ? prepared.body : limitBody(prepared.body, route.maxBodyBytes)
    }
    const slot = await admission.upstreamSlot(route.upstreamOrigin, route.timeoutMs, route.id, ticket)
    hold(slot.release)
    // timeoutMs covers the wait for a connection too: what is left of it goes to undici.
    timeout = Math.max(1, Math.round(route.timeoutMs - slot.waitedMs))
  } catch (err) {
    releaseAll()
    throw err
  }
  exchange = 'waiting'
  const url = request.raw.url ?? ''
  const query = url.indexOf('?')
  const sentAt = performance.now()
  return new Promise((resolve, reject) => {
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(controller) {
        if (left) controller.abort(clientAborted())
        else abortUpstream = (reason) => controller.abort(reason)
      },
      onResponseStart(controller, statusCode, headers) {
        if (statusCode < 200) return // informational: the final answer follows
        request.audit.upstreamMs = Math.round((performance.now() - sentAt) * 10) / 10 // the log line's, and the metrics'
        try {
          res.writeHead(statusCode, responseHeaders(reply, headers, request.raw.complete))
        } catch (err) {
          // An answer Node cannot pass on (a status or header it refuses): as if there were none.
          controller.abort(err as Error)
          return
        }
        reply.hijack() // fastify sends nothing more; its onResponse hooks still run on 'finish'
        resolve()
      },
      onResponseData(controller, chunk) {
        if (!res.write(chunk)) {
          controller.pause()
          res.once('drain', () => controller.resume())
        }
      },
      onResponseEnd() {
        upstreamDone()
        res.end()
      },
      onResponseError(_controller, error) {
        upstreamDone()
        // Mid-answer, the client's connection is cut, as nginx does: it must not take a short
        // body for a whole one. An answer queued behind another pipelined one has no socket of
        // its own yet, and destroying it leaves the connection open and stuck (found by review):
        // the connection goes, and the earlier answer with it.
        if (res.headersSent) return void (res.socket ? res.destroy() : request.raw.socket.destroy())
        // A client that left mid-body made the upstream request fail: that is no upstream error.
        reject(left || request.raw.socket.destroyed ? bodyIncomplete(error) : upstreamError(route.id, error))
      },
    }
    upstreams.dispatch(
      {
        origin: route.upstreamOrigin,
        // The path is the normalised one; the query string goes as the client sent it.
        path: upstreamPath(route, target.path, target.encodedPath) + (query === -1 ? '' : url.slice(query)),
        method: request.method,
        headers: injectIdentityHeaders(request.headers, route, principal, client, request.id) as Record<string, string | string[]>,
        body,
        headersTimeout: timeout,
        bodyTimeout: timeout,
      },
      handler,
    )
  })
}

/**
 * The upstream's headers for the client, as a flat [name, value, ...] list: ours (rate-limit
 * headers) unless the upstream sent the same name, then the upstream's, without hop-by-hop ones.
 * X-Request-Id is always ours (the onRequest hook sets it).
 */
function responseHeaders(reply: FastifyReply, upstream: IncomingHttpHeaders, requestComplete: boolean): string[] {
  const connection = upstream.connection
  const named = connection === undefined ? undefined : connectionNamed(String(connection))
  const out: string[] = []
  const ours = reply.getHeaders()
  for (const name in ours) {
    if (upstream[name] === undefined || name === REQUEST_ID) out.push(name, String(ours[name]))
  }
  for (const name in upstream) {
    if (RESPONSE_HOP_BY_HOP.has(name) || named?.has(name) || name === REQUEST_ID) continue
    const value = upstream[name]!
    if (typeof value === 'string') out.push(name, value)
    else for (const one of value) out.push(name, one)
  }
  // The upstream answered before the request body was read in full: this connection cannot carry
  // another request.
  if (!requestComplete) out.push('connection', 'close')
  return out
}

/** Maps undici's errors to the documented 413/502/504, without the upstream's address or details. */
function upstreamError(routeId: string, error: Error & { code?: string }): GatehouseError {
  if (isBodyTooLarge(error)) {
    return new GatehouseError('invalid_request', 'the request body is too large', { status: 413, reason: 'body_too_large', headers: { connection: 'close' } })
  }
  if (error.code === 'UND_ERR_HEADERS_TIMEOUT' || error.code === 'UND_ERR_CONNECT_TIMEOUT') {
    return new GatehouseError('gateway_timeout', 'the upstream did not answer in time', { reason: `upstream_timeout:${routeId}`, cause: error })
  }
  return new GatehouseError('bad_gateway', 'the upstream could not be reached', { reason: `upstream_error:${routeId}`, cause: error })
}
