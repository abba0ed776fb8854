// What the client gets of the upstream's answer, now that forwarding writes it to the socket itself
// (issue 10): every byte of a large answer to a slow reader, headers passed on but hop-by-hop ones,
// informational answers skipped, and our own headers beside the upstream's.
import { createHash } from 'node:crypto'
import { request as httpRequest } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { rawRequest, sleep, startGateway, startOrigin, type Gateway, type Origin } from '../helpers/index.js'

const BIG = Buffer.alloc(8 * 1024 * 1024, 'abcdefghijklmnopqrstuvwxyz')
let gw: Gateway
let api: Origin

beforeAll(async () => {
  api = await startOrigin((req, res) => {
    if (req.url === '/big') {
      res.setHeader('content-type', 'application/octet-stream')
      // Chunked: no Content-Length, in pieces, as a generated answer comes.
      for (let i = 0; i < BIG.length; i += 64 * 1024) res.write(BIG.subarray(i, i + 64 * 1024))
      return void res.end()
    }
    if (req.url === '/hints') {
      res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' })
      return void setTimeout(() => res.end('after hints'), 20)
    }
    if (req.url === '/named') {
      res.setHeader('connection', 'x-upstream-private, keep-alive')
      res.setHeader('x-upstream-private', 'for the next hop only')
      res.setHeader('set-cookie', ['a=1', 'b=2'])
      return void res.end('named')
    }
    res.setHeader('content-length', '5')
    res.end('hello')
  })
  gw = await startGateway(`
routes:
  - { id: api, path: /, upstream: "${api.url}", auth: [], rateLimit: { points: 1000, duration: 60 } }
`)
})
afterAll(async () => {
  await gw?.close()
  await api?.close()
})

describe('answers from the upstream', () => {
  it('passes every byte of a large chunked answer to a slow reader, in order', async () => {
    const { hostname, port } = new URL(gw.url)
    const digest = await new Promise<string>((resolve, reject) => {
      const req = httpRequest({ host: hostname, port, path: '/big', agent: false }, (res) => {
        const hash = createHash('sha256')
        let paused = false
        res.on('data', (chunk: Buffer) => {
          hash.update(chunk)
          if (!paused) {
            // Read slowly at first, so that the gateway's socket fills and it must wait for us.
            paused = true
            res.pause()
            setTimeout(() => res.resume(), 300)
          }
        })
        res.on('end', () => resolve(hash.digest('hex')))
        res.on('error', reject)
      })
      req.on('error', reject)
      req.end()
    })
    expect(digest).toBe(createHash('sha256').update(BIG).digest('hex'))
  })

  it('skips an informational answer (103 Early Hints) and passes the final one', async () => {
    const res = await rawRequest(gw.url, '/hints')
    expect(res.status).toBe(200)
    expect(res.text).toBe('after hints')
  })

  it('drops the headers the upstream names in Connection, and keeps repeated Set-Cookie', async () => {
    const res = await rawRequest(gw.url, '/named')
    expect(res.status).toBe(200)
    expect(res.headers['x-upstream-private']).toBeUndefined()
    expect(res.headers['set-cookie']).toEqual(['a=1', 'b=2'])
  })

  it("sends our rate-limit headers beside the upstream's", async () => {
    const res = await rawRequest(gw.url, '/plain')
    expect(res.text).toBe('hello')
    expect(res.headers['content-length']).toBe('5')
    expect(res.headers['ratelimit-limit']).toBe('1000')
  })

  it("answers HEAD with the upstream's headers and no body, and the connection serves the next request", async () => {
    const { hostname, port } = new URL(gw.url)
    const { Agent } = await import('node:http')
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    try {
      const head = await new Promise<{ status: number; length: string | undefined; body: string }>((resolve, reject) => {
        httpRequest({ host: hostname, port, path: '/plain', method: 'HEAD', agent }, (res) => {
          let body = ''
          res.on('data', (c: Buffer) => (body += c.toString()))
          res.on('end', () => resolve({ status: res.statusCode!, length: res.headers['content-length'], body }))
        })
          .on('error', reject)
          .end()
      })
      expect(head).toEqual({ status: 200, length: '5', body: '' })
      await sleep(10)
      const next = await new Promise<string>((resolve, reject) => {
        httpRequest({ host: hostname, port, path: '/plain', agent }, (res) => {
          let body = ''
          res.on('data', (c: Buffer) => (body += c.toString()))
          res.on('end', () => resolve(body))
        })
          .on('error', reject)
          .end()
      })
      expect(next).toBe('hello')
    } finally {
      agent.destroy()
    }
  })
})
