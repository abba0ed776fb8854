// One id follows a request through every log (issue 11): the client's X-Request-Id when it is
// well-formed, else a new UUID; it goes upstream, comes back on the response and is the access
// line's id, also on refusals.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { basic, captureLogs, fastHash, rawRequest, startGateway, startOrigin, type CapturedLogs, type Gateway, type Origin } from '../helpers/index.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
let gw: Gateway
let api: Origin
let logs: CapturedLogs

beforeAll(async () => {
  api = await startOrigin((_req, res) => {
    res.setHeader('x-request-id', 'made-up-by-upstream')
    res.end('ok')
  })
  logs = captureLogs()
  gw = await startGateway(
    `
server: { trustedProxies: [127.0.0.1] }
clients: [{ id: app, secretHash: "${await fastHash('s3cret')}" }]
routes:
  - { id: open, path: /open, upstream: "${api.url}", auth: [] }
  - { id: closed, path: /closed, upstream: "${api.url}" }
  - { id: legacy, path: /legacy, upstream: "${api.url}", auth: [basic] }
`,
    { logger: logs.logger },
  )
})
afterAll(async () => {
  await gw?.close()
  await api?.close()
})
beforeEach(() => {
  api.received.length = 0
})

const accessLine = (id: string) => logs.lines.find((l) => l.msg === 'request completed' && (l.req as { id?: string })?.id === id)

describe('X-Request-Id', () => {
  it('keeps a well-formed one: upstream, response and access line carry it, once', async () => {
    const res = await rawRequest(gw.url, '/open/a', { headers: { 'x-request-id': 'trace-4bf92f35.00f067aa' } })
    expect(res.headers['x-request-id']).toBe('trace-4bf92f35.00f067aa') // ours, not the upstream's
    expect(api.received[0]!.rawHeaders.filter((h) => h.toLowerCase() === 'x-request-id')).toHaveLength(1)
    expect(api.received[0]!.headers['x-request-id']).toBe('trace-4bf92f35.00f067aa')
    expect(accessLine('trace-4bf92f35.00f067aa')).toMatchObject({ status: 200, route: 'open' })
  })

  it.each([
    ['spaces', 'a b'],
    ['too long', 'x'.repeat(129)],
    ['log injection', 'id\\n{"msg":"forged"}'],
  ])('replaces one with %s by a new UUID, the same everywhere', async (_what, given) => {
    const res = await rawRequest(gw.url, '/open/b', { headers: { 'x-request-id': given } })
    const id = String(res.headers['x-request-id'])
    expect(id).toMatch(UUID)
    expect(api.received[0]!.headers['x-request-id']).toBe(id)
    expect(accessLine(id)).toBeDefined()
  })

  it('makes one when there is none, and sends it on refusals too', async () => {
    const res = await rawRequest(gw.url, '/closed/c')
    expect(res.status).toBe(401)
    const id = String(res.headers['x-request-id'])
    expect(id).toMatch(UUID)
    expect(accessLine(id)).toMatchObject({ status: 401, route: 'closed' })
  })

  it('is on an access line that says which route, who, how, from where, and how long the upstream took', async () => {
    const res = await rawRequest(gw.url, '/legacy/x', { headers: { authorization: basic('app', 's3cret'), 'x-forwarded-for': '198.51.100.7' } })
    expect(res.status).toBe(200)
    const line = accessLine(String(res.headers['x-request-id']))
    expect(line).toMatchObject({
      status: 200,
      route: 'legacy',
      client: 'app',
      subject: 'app',
      auth: 'basic',
      address: '198.51.100.7',
      req: { ip: '127.0.0.1', path: '/legacy/x' },
    })
    expect(line?.upstreamMs).toEqual(expect.any(Number))
    expect(line?.ms).toEqual(expect.any(Number))
    const refused = await rawRequest(gw.url, '/legacy/y', { headers: { authorization: basic('app', 'wrong') } })
    expect(accessLine(String(refused.headers['x-request-id']))).toMatchObject({ status: 401, route: 'legacy', error: 'invalid_client', address: '127.0.0.1' })
  })
})
