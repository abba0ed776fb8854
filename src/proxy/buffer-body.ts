// Request bodies up to a size are read in full before an upstream connection is taken, as nginx's
// proxy_request_buffering does, so that a client sending its body one byte a second holds its own
// socket and a little memory, never a pooled upstream connection. Larger bodies stream. The memory
// this takes is bounded twice: per body (maxBytes) and for all bodies at once (totalBytes); past
// the total, or past an address's share of it, bodies stream too, and the per-address bound on
// requests in flight applies to them.
import { finished, Readable } from 'node:stream'
import { GatehouseError } from '../errors.js'

export interface BufferLimits {
  /** Bodies up to this size are buffered; 0 turns buffering off. */
  readonly maxBytes: number
  /** All buffered bodies together. */
  readonly totalBytes: number
  /** What one address may have buffered at once, so that a few cannot take all of it. */
  readonly perAddressBytes: number
}

export interface PreparedBody {
  /** The whole body when it was buffered; else a stream of it. */
  readonly body: Buffer | Readable
  /** Gives the body's share of the buffer budget back (when the response is done). */
  readonly release: () => void
}

const bodyTooLarge = () =>
  new GatehouseError('invalid_request', 'the request body is too large', { status: 413, reason: 'body_too_large', headers: { connection: 'close' } })

export function createBodyBuffering({ maxBytes, totalBytes, perAddressBytes }: BufferLimits) {
  let reserved = 0
  // Entries only while an address has bodies buffered: bounded by requests in flight.
  const byAddress = new Map<string, number>()

  /** Reads `body` in full when it is small enough and the budgets allow; otherwise streams it. */
  return async function prepareBody(body: Readable, declaredLength: number | undefined, routeMaxBytes: number, addressKey: string): Promise<PreparedBody> {
    const streamed = { body, release: () => undefined }
    if (maxBytes === 0 || (declaredLength !== undefined && declaredLength > maxBytes)) return streamed
    // A chunked body may be up to maxBytes before we know it is larger.
    const share = Math.min(declaredLength ?? maxBytes, maxBytes)
    const addressUses = byAddress.get(addressKey) ?? 0
    if (reserved + share > totalBytes || addressUses + share > perAddressBytes) return streamed
    reserved += share
    byAddress.set(addressKey, addressUses + share)
    let released = false
    const release = () => {
      if (released) return
      released = true
      reserved -= share
      const left = byAddress.get(addressKey)! - share
      if (left === 0) byAddress.delete(addressKey)
      else byAddress.set(addressKey, left)
    }
    try {
      const { chunks, size, ended } = await readUpTo(body, Math.min(maxBytes, routeMaxBytes))
      if (ended) return { body: Buffer.concat(chunks, size), release }
      if (size > routeMaxBytes) throw bodyTooLarge()
      // Larger than the buffer after all (a chunked body): what was read goes first, the rest streams.
      release()
      return { body: Readable.from(concat(chunks, body)), release }
    } catch (err) {
      release()
      throw err
    }
  }
}

/** The client went away (or was cut off by requestTimeout) before its body was complete. */
export const bodyIncomplete = (cause?: unknown) =>
  new GatehouseError('invalid_request', 'the request body was not received in full', { reason: 'body_incomplete', cause })

/**
 * Reads until the body ends or more than `limit` bytes have come, then pauses it. stream.finished
 * settles for a body whose client has already gone (destroyed before we listened) as for one that
 * goes later, so this never waits for events that will not come.
 */
function readUpTo(body: Readable, limit: number): Promise<{ chunks: Buffer[]; size: number; ended: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const onData = (chunk: Buffer) => {
      chunks.push(chunk)
      size += chunk.length
      if (size > limit) {
        body.pause()
        stopWatching()
        body.off('data', onData)
        resolve({ chunks, size, ended: false })
      }
    }
    const stopWatching = finished(body, { writable: false }, (err) => {
      stopWatching()
      body.off('data', onData)
      if (err) reject(bodyIncomplete(err))
      else resolve({ chunks, size, ended: true })
    })
    body.on('data', onData)
  })
}

async function* concat(head: Buffer[], rest: Readable): AsyncGenerator<Buffer> {
  yield* head
  for await (const chunk of rest) yield chunk as Buffer
}
