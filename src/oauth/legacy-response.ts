// How a legacy token path's clients expect their answers, where its config says so: Atlas's
// `?pretty=true` (indented JSON) and `?envelope=true` (`{"status", "content"}` with 200, for clients
// that cannot read statuses). Applied to every answer of the path, tokens and errors alike.
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { TokenPathRule } from '../config/compile.js'

/** The value of a query parameter, read leniently: these are presentation only. */
const queryFlag = (rawUrl: string | undefined, name: string): boolean => {
  const q = rawUrl?.indexOf('?') ?? -1
  return q !== -1 && new URLSearchParams(rawUrl!.slice(q + 1)).get(name) === 'true'
}

export function presentAsAsked(rule: TokenPathRule) {
  return async function onSend(request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
    const pretty = rule.pretty && queryFlag(request.raw.url, 'pretty')
    const envelope = rule.envelope && queryFlag(request.raw.url, 'envelope')
    if ((!pretty && !envelope) || typeof payload !== 'string') return payload
    let body: unknown
    try {
      body = JSON.parse(payload)
    } catch {
      return payload
    }
    if (envelope) {
      body = { status: reply.statusCode, content: body }
      reply.code(200)
    }
    return JSON.stringify(body, null, pretty ? 2 : undefined)
  }
}
