// Requests that never become requests: Node's parser refused them (bad framing, smuggling
// attempts, headers over the limit) or they arrived too slowly. They get our JSON, then the
// connection is closed.
import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'

export function answerClientError(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400
  const description = status === 431 ? 'request headers are too large' : status === 408 ? 'the request took too long to arrive' : 'the request is malformed'
  const body = JSON.stringify({ error: 'invalid_request', error_description: description })
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  )
}

/** How many times a header appears in the request as sent (Node folds or drops repeats). */
export function countHeader(rawHeaders: readonly string[], lowerName: string): number {
  let n = 0
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.length === lowerName.length && rawHeaders[i]!.toLowerCase() === lowerName) n++
  return n
}
