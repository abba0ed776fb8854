// Attack family 6: HTTP itself. Smuggling, slow and oversized requests, aborted bodies and
// responses, and methods or upgrades that might slip past authentication.
import { request as httpRequest } from 'node:http'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { fastHash, fetchToken, rawExchange, rawRequest, sleep, startGateway, startOrigin, type Gateway, type Origin } from '../helpers/index.js'

let gw: Gateway
let origin: Origin
let resetting: Origin
let token: string

beforeAll(async () => {
  origin = await startOrigin()
  // Promises 1000 bytes, sends 10, then resets the connection.
  resetting = await startOrigin((_req, res) => {
    res.writeHead(200, { 'content-length': '1000', 'content-type': 'text/plain' })
    res.write('0123456789')
    setTimeout(() => res.socket?.destroy(), 50)
  })
  gw = await startGateway(`
server: { headersTimeout: 1, requestTimeout: 2 }
clients: [{ id: reporting, secretHash: "${await fastHash('s3cret')}" }]
routes:
  - { id: protected, path: /api, upstream: "${origin.url}" }
  - { id: small, path: /small, upstream: "${origin.url}", auth: [], maxBodyBytes: 100 }
  - { id: reset, path: /reset, upstream: "${resetting.url}", auth: [] }
  - { id: public, path: /public, upstream: "${origin.url}", auth: [] }
`)
  token = await fetchToken(gw.url, 'reporting', 's3cret')
})
afterAll(async () => {
  await gw?.close()
  await origin?.close()
  await resetting?.close()
})
beforeEach(() => {
  origin.received.length = 0
})

const statusLine = (text: string) => text.split('\r\n')[0]

describe('HTTP attacks', () => {
  it.each([
    [
      'CL.TE: Content-Length and Transfer-Encoding together',
      'POST /public/a HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /api/admin HTTP/1.1\r\nHost: x\r\n\r\n',
    ],
    [
      'two different Content-Lengths',
      'POST /public/a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 40\r\n\r\nabcGET /api/admin HTTP/1.1\r\nHost: x\r\n\r\n',
    ],
    ['two Transfer-Encodings', 'POST /public/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n'],
    ['an obfuscated Transfer-Encoding', 'POST /public/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n'],
    ['obs-fold: a header continued on the next line', 'GET /public/a HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n X-Auth-Subject: admin\r\n\r\n'],
    ['bare LF line endings', 'GET /public/a HTTP/1.1\nHost: x\n\n'],
    ['a space before the colon', 'GET /public/a HTTP/1.1\r\nHost: x\r\nX-Auth-Subject : admin\r\n\r\n'],
    ['a malformed chunk size', 'POST /public/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nGET /api/admin HTTP/1.1\r\n\r\n'],
  ])('refuses request smuggling with 400 and closes: %s', async (_, bytes) => {
    const res = await rawExchange(gw.port, [bytes])
    expect(statusLine(res.text)).toBe('HTTP/1.1 400 Bad Request')
    expect(res.text).toContain('"error":"invalid_request"')
    expect(res.closed).toBe(true)
    expect(res.text.match(/HTTP\/1\.1/g)).toHaveLength(1) // no second, smuggled response
    expect(origin.received).toEqual([])
  })

  it('closes slow headers with 408 once server.headersTimeout has passed (slow loris)', async () => {
    const res = await rawExchange(gw.port, ['GET /public/a HTTP/1.1\r\nHost: x\r\n', { pauseMs: 4_000 }, 'X: y\r\n\r\n'], 6_000)
    expect(statusLine(res.text)).toBe('HTTP/1.1 408 Request Timeout')
    expect(res.closed).toBe(true)
    expect(res.ms).toBeLessThan(3_500)
  })

  it('closes a stalled body with 408 once server.requestTimeout has passed', async () => {
    const res = await rawExchange(gw.port, ['POST /public/a HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc', { pauseMs: 6_000 }], 7_000)
    expect(res.text).toContain('408')
    expect(res.closed).toBe(true)
    expect(res.ms).toBeLessThan(4_500)
  })

  it('answers headers over 16 KiB with 431', async () => {
    const res = await rawExchange(gw.port, [`GET /public/a HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(17_000)}\r\n\r\n`])
    expect(statusLine(res.text)).toBe('HTTP/1.1 431 Request Header Fields Too Large')
    expect(origin.received).toEqual([])
  })

  it("refuses a declared body over the route's maxBodyBytes with 413, before reading it", async () => {
    const res = await rawRequest(gw.url, '/small/a', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x'.repeat(101) })
    expect(res.status).toBe(413)
    expect(res.json()).toEqual({ error: 'invalid_request', error_description: 'the request body is too large' })
    expect((await rawRequest(gw.url, '/small/a', { method: 'POST', body: 'x'.repeat(100) })).status).toBe(200)
    expect(origin.received.map((r) => r.body.length)).toEqual([100])
  })

  it('cuts a chunked body off at maxBodyBytes with 413; the upstream never gets all of it', async () => {
    const res = await rawExchange(gw.port, [
      'POST /small/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n',
      '40\r\n' + 'a'.repeat(64) + '\r\n',
      { pauseMs: 50 },
      '40\r\n' + 'b'.repeat(64) + '\r\n',
      '0\r\n\r\n',
    ])
    expect(statusLine(res.text)).toBe('HTTP/1.1 413 Payload Too Large')
    expect(origin.received.filter((r) => r.body.length > 100)).toEqual([])
  })

  it('survives a client that aborts mid-body, and serves the next request', async () => {
    await rawExchange(gw.port, ['POST /public/a HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nonly-a-little'], 300)
    await sleep(100)
    expect((await rawRequest(gw.url, '/public/after')).status).toBe(200)
    expect(origin.received.map((r) => r.url)).toContain('/public/after')
  })

  it("aborts the client's response when the upstream resets mid-response: never a clean, truncated 200", async () => {
    const outcome = await new Promise<string>((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port: gw.port, path: '/reset/a', agent: false }, (res) => {
        let bytes = 0
        res.on('data', (c: Buffer) => (bytes += c.length))
        res.on('end', () => resolve(`ended cleanly after ${bytes} bytes`))
        res.on('aborted', () => resolve('aborted'))
        res.on('error', () => resolve('aborted'))
      })
      req.on('error', () => resolve('aborted'))
      req.end()
    })
    expect(outcome).toBe('aborted')
  })

  // Found by review (issue 10's forwarder): an answer queued behind another pipelined one has no
  // socket yet; destroying it left the connection open, the client waiting forever for the rest.
  it('closes the connection when a pipelined answer queued behind another is cut mid-body', async () => {
    const slow = await startOrigin((_req, res) => setTimeout(() => res.end('slow answer'), 300))
    const pipelined = await startGateway(`
routes:
  - { id: slow, path: /slow, upstream: "${slow.url}", auth: [] }
  - { id: reset, path: /reset, upstream: "${resetting.url}", auth: [] }
`)
    try {
      const res = await rawExchange(pipelined.port, ['GET /slow/a HTTP/1.1\r\nHost: x\r\n\r\nGET /reset/b HTTP/1.1\r\nHost: x\r\n\r\n'], 5_000)
      expect(res.closed).toBe(true)
      expect(res.ms).toBeLessThan(3_000)
      expect(res.text).not.toMatch(/0123456789$/) // never the short body as if it were all
    } finally {
      await pipelined.close()
      await slow.close()
    }
  })

  it.each(['HEAD', 'OPTIONS', 'GET', 'DELETE', 'TRACE'])('needs credentials for %s on a protected route', async (method) => {
    const res = await rawRequest(gw.url, '/api/a', { method })
    expect(res.status).toBe(401)
    expect(origin.received).toEqual([])
  })

  it('answers a WebSocket upgrade without a token with 401, never 101', async () => {
    const res = await rawExchange(
      gw.port,
      [
        'GET /api/socket HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
      ],
      1_000,
    )
    expect(statusLine(res.text)).toBe('HTTP/1.1 401 Unauthorized')
    expect(origin.received).toEqual([])
  })

  it('does not pass an Upgrade on even with a token (WebSockets are not proxied)', async () => {
    const res = await rawRequest(gw.url, '/api/socket', { headers: { authorization: `Bearer ${token}`, connection: 'Upgrade', upgrade: 'websocket' } })
    expect(res.status).toBe(200)
    expect(origin.received[0]!.headers).not.toHaveProperty('upgrade')
  })
})
