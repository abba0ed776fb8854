import { request as httpRequest } from 'node:http'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { rawRequest, startGateway, startOrigin, type Gateway, type Origin } from '../helpers/index.js'

let gw: Gateway
let origin: Origin

beforeAll(async () => {
  origin = await startOrigin()
  gw = await startGateway(`
server: { requestBufferBytes: 65536 }
routes:
  - { id: up, path: /up, upstream: "${origin.url}", auth: [], maxBodyBytes: 200000 }
`)
})
afterAll(async () => {
  await gw?.close()
  await origin?.close()
})
beforeEach(() => {
  origin.received.length = 0
})

/** A chunked POST, written in pieces. */
function chunked(path: string, pieces: string[], headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port: gw.port, path, method: 'POST', headers: { 'content-type': 'text/plain; charset=utf-8', ...headers }, agent: false },
      (res) => {
        res.resume()
        res.on('end', () => resolve(res.statusCode!))
      },
    )
    req.on('error', reject)
    for (const p of pieces) req.write(p)
    req.end()
  })
}

describe('request body buffering', () => {
  it('forwards a small body whole, with its content type untouched', async () => {
    const body = JSON.stringify({ a: 'ü'.repeat(100) })
    expect((await rawRequest(gw.url, '/up/x', { method: 'POST', headers: { 'content-type': 'application/json; charset=utf-8' }, body })).status).toBe(200)
    expect(origin.received[0]).toMatchObject({
      body,
      headers: { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(body)) },
    })
  })

  it('forwards a chunked body under the buffer size whole', async () => {
    expect(await chunked('/up/x', ['one ', 'two ', 'three'])).toBe(200)
    expect(origin.received[0]!.body).toBe('one two three')
  })

  it('streams a chunked body larger than the buffer, beginning first', async () => {
    const pieces = Array.from({ length: 30 }, (_, i) => String(i % 10).repeat(5_000))
    expect(await chunked('/up/x', pieces)).toBe(200)
    expect(origin.received[0]!.body).toBe(pieces.join(''))
  })

  it('streams a declared body larger than the buffer', async () => {
    const body = 'x'.repeat(150_000)
    expect((await rawRequest(gw.url, '/up/x', { method: 'POST', body })).status).toBe(200)
    expect(origin.received[0]!.body).toBe(body)
  })

  it('refuses a chunked body over the route maxBodyBytes with 413', async () => {
    const pieces = Array.from({ length: 50 }, () => 'y'.repeat(5_000))
    expect(await chunked('/up/x', pieces)).toBe(413)
    expect(origin.received.every((r) => r.body.length <= 200_000)).toBe(true)
  })
})
