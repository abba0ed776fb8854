import { readFile } from 'node:fs/promises'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort, rawRequest, startGateway, startOrigin, type Gateway, type Origin } from '../helpers/index.js'

let gw: Gateway
let slow: Origin
let unavailable: Origin
let tls: import('node:https').Server
let tlsHits = 0

beforeAll(async () => {
  slow = await startOrigin((_req, res) => setTimeout(() => res.end('late'), 3_000))
  unavailable = await startOrigin((_req, res) => {
    res.statusCode = 503
    res.setHeader('retry-after', '1')
    res.end('{"down":true}')
  })
  const fixtures = new URL('../fixtures/', import.meta.url)
  tls = createHttpsServer(
    { key: await readFile(new URL('self-signed-key.pem', fixtures)), cert: await readFile(new URL('self-signed-cert.pem', fixtures)) },
    (_req, res) => {
      tlsHits++
      res.end('secret')
    },
  )
  await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', resolve))
  const closedPort = await freePort()
  gw = await startGateway(`
routes:
  - { id: down, path: /down, upstream: "http://127.0.0.1:${closedPort}", auth: [] }
  - { id: slow, path: /slow, upstream: "${slow.url}", auth: [], timeoutMs: 200 }
  - { id: unavailable, path: /unavailable, upstream: "${unavailable.url}", auth: [] }
  - { id: selfsigned, path: /tls, upstream: "https://127.0.0.1:${(tls.address() as AddressInfo).port}", auth: [] }
`)
})
afterAll(async () => {
  await gw?.close()
  await slow?.close()
  await unavailable?.close()
  tls?.close()
})

describe('upstream failures', () => {
  it('answers 502 bad_gateway when the upstream refuses the connection, without naming it', async () => {
    const res = await rawRequest(gw.url, '/down/x')
    expect(res.status).toBe(502)
    expect(res.json()).toEqual({ error: 'bad_gateway', error_description: 'the upstream could not be reached' })
    expect(res.text).not.toContain('127.0.0.1')
  })

  it('answers 504 gateway_timeout when the upstream is slower than timeoutMs', async () => {
    const started = Date.now()
    const res = await rawRequest(gw.url, '/slow/x')
    expect(res.status).toBe(504)
    expect(res.json()).toEqual({ error: 'gateway_timeout', error_description: 'the upstream did not answer in time' })
    // undici enforces it with its coarse timers (about one second of resolution).
    expect(Date.now() - started).toBeLessThan(2_000)
  })

  it('passes an upstream 503 on as it is, after one upstream request (no retries)', async () => {
    const res = await rawRequest(gw.url, '/unavailable/x')
    expect(res.status).toBe(503)
    expect(res.text).toBe('{"down":true}')
    expect(res.headers['retry-after']).toBe('1')
    expect(unavailable.received).toHaveLength(1)
  })

  it('verifies the certificate of an https upstream', async () => {
    const res = await rawRequest(gw.url, '/tls/x')
    expect(res.status).toBe(502)
    expect(res.text).not.toContain('secret')
    expect(tlsHits).toBe(0)
  })
})
