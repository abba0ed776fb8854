// A request body streamed upstream, cut off once it passes the route's maxBodyBytes: a declared
// Content-Length is checked before anything is read (pipeline), a chunked body as it flows (here).
import { pipeline, Transform, type Readable } from 'node:stream'

export class BodyTooLargeError extends Error {
  readonly code = 'GATEHOUSE_BODY_TOO_LARGE'
}

export function limitBody(body: Readable, maxBytes: number): Readable {
  let seen = 0
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length
      if (seen > maxBytes) callback(new BodyTooLargeError('the request body is too large'))
      else callback(null, chunk)
    },
  })
  // pipeline: an error on either side (a client that aborts mid-body, or the limit) ends both.
  return pipeline(body, counter, () => undefined)
}

/** Whether an upstream failure was our own cut-off of the request body. */
export function isBodyTooLarge(error: unknown): boolean {
  for (let e = error as { cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (e instanceof BodyTooLargeError) return true
  }
  return false
}
