// Prometheus metrics (issue 11): what a scrape shows after real traffic, labels that only the
// config can make, and who may scrape.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { basic, fastHash, freePort, rawRequest, startGateway, startOrigin, type Gateway, type Origin } from '../helpers/index.js'

let gw: Gateway
let api: Origin

beforeAll(async () => {
  api = await startOrigin()
  gw = await startGateway(`
clients: [{ id: app, secretHash: "${await fastHash('s3cret')}", scopes: [read] }]
routes:
  - { id: open, path: /open, upstream: "${api.url}", auth: [] }
  - { id: closed, path: /, upstream: "${api.url}" }
`)
})
afterAll(async () => {
  await gw?.close()
  await api?.close()
})

const scrape = async () => {
  const res = await rawRequest(gw.url, '/metrics')
  expect(res.status).toBe(200)
  expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/)
  return res.text
}
const value = (text: string, series: string) => Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN)

describe('GET /metrics', () => {
  it('counts requests by route, method and status class, refusals by error, tokens by grant and client, upstream time', async () => {
    for (let i = 0; i < 3; i++) await rawRequest(gw.url, '/open/x')
    await rawRequest(gw.url, '/anything', { headers: { authorization: 'Bearer not.a.token' } }) // 401 invalid_token
    const token = await rawRequest(gw.url, '/oauth/token', {
      method: 'POST',
      headers: { authorization: basic('app', 's3cret'), 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    })
    expect(token.status).toBe(200)
    const text = await scrape()
    expect(value(text, 'gatehouse_requests_total{route="open",method="GET",status="2xx"}')).toBe(3)
    expect(value(text, 'gatehouse_requests_total{route="closed",method="GET",status="4xx"}')).toBe(1)
    expect(value(text, 'gatehouse_refusals_total{error="invalid_token"}')).toBe(1)
    expect(value(text, 'gatehouse_tokens_issued_total{grant="client_credentials",client="app"}')).toBe(1)
    expect(value(text, 'gatehouse_requests_total{route="/oauth/token",method="POST",status="2xx"}')).toBe(1)
    expect(value(text, 'gatehouse_upstream_duration_seconds_count{route="open"}')).toBe(3)
    expect(value(text, 'gatehouse_request_duration_seconds_count{route="open"}')).toBe(3)
    expect(value(text, 'gatehouse_store_up')).toBe(1)
    // The keep-alive pool to the upstream: connections open, and none waiting for one.
    expect(value(text, `gatehouse_upstream_connections{origin="${api.url}",state="connected"}`)).toBeGreaterThanOrEqual(1)
    expect(value(text, `gatehouse_upstream_connections{origin="${api.url}",state="pending"}`)).toBe(0)
    expect(value(text, 'gatehouse_config_reloads_total{result="failure"}')).toBe(0)
    expect(text).toMatch(new RegExp(`^gatehouse_config_info\\{version="${gw.config.version}"\\} 1$`, 'm'))
    expect(text).toContain('gatehouse_process_cpu_seconds_total')
    expect(api.received.some((r) => r.url.includes('metrics'))).toBe(false) // answered here, never proxied
  })

  it('makes no series from what requests say: paths, methods, ids', async () => {
    const before = (await scrape()).split('\n').filter((l) => l.startsWith('gatehouse_requests_total{')).length
    for (let i = 0; i < 40; i++) {
      await rawRequest(gw.url, `/made-up-${i}/x?q=${i}`, { method: i % 2 ? 'PROPFIND' : 'GET', headers: { 'x-request-id': `id-${i}` } })
    }
    const after = (await scrape()).split('\n').filter((l) => l.startsWith('gatehouse_requests_total{'))
    expect(after.length - before).toBeLessThanOrEqual(2) // closed × (GET, other) × 4xx at most
    expect(after.join('\n')).not.toMatch(/made-up|PROPFIND|id-\d/)
  })

  it('is served only to metrics.allowIps (loopback by default)', async () => {
    const remote = await startGateway(`
metrics: { allowIps: [10.0.0.0/8] }
routes: [{ id: all, path: /, upstream: "${api.url}", auth: [] }]
`)
    try {
      const res = await rawRequest(remote.url, '/metrics')
      expect([res.status, res.json().error]).toEqual([403, 'access_denied'])
    } finally {
      await remote.close()
    }
  })

  it('is served on the admin listener to every address that reaches it, and the main listener leaves its path to the routes', async () => {
    const adminPort = await freePort()
    const edge = await startGateway(`
admin: { port: ${adminPort} }
metrics: { allowIps: [10.0.0.0/8] }
routes: [{ id: all, path: /, upstream: "${api.url}", auth: [] }]
`)
    const admin = `http://127.0.0.1:${adminPort}`
    try {
      await rawRequest(edge.url, '/some/thing')
      const res = await rawRequest(admin, '/metrics')
      expect(res.status).toBe(200) // allowIps is the main listener's: the admin port is its own access control
      expect(value(res.text, 'gatehouse_requests_total{route="all",method="GET",status="2xx"}')).toBe(1)
      expect((await rawRequest(admin, '/readyz')).json()).toMatchObject({ status: 'ready', config: { version: edge.config.version } })
      expect((await rawRequest(admin, '/healthz')).status).toBe(200)
      expect([(await rawRequest(admin, '/some/thing')).status, api.received.filter((r) => r.url === '/some/thing').length]).toEqual([404, 1])
      // On the main listener, /metrics is a path like any other: this config's route takes it upstream.
      const proxied = await rawRequest(edge.url, '/metrics')
      expect([proxied.status, api.received.at(-1)?.url]).toEqual([200, '/metrics'])
      expect((await rawRequest(edge.url, '/readyz')).status).toBe(200) // probes work on both
    } finally {
      await edge.close()
    }
    expect(await rawRequest(admin, '/healthz').catch((err: Error) => err.message)).toMatch(/ECONNREFUSED/) // closed with the gateway
  })
})
