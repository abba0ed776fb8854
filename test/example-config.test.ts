// The README's walkthrough runs on config/gatehouse.yaml: keep it working as documented.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config/load.js'
import { basic, fetchToken, rawRequest } from './helpers/index.js'

let app: Awaited<ReturnType<typeof buildApp>>
let url: string

beforeAll(async () => {
  app = await buildApp(await loadConfig('config/gatehouse.yaml', {}), { logger: false })
  url = await app.listen({ host: '127.0.0.1', port: 0 })
})
afterAll(() => app?.close())

describe('the bundled example config', () => {
  it('gives the demo client a token for the documented secret', async () => {
    const token = await fetchToken(url, 'demo', 'demo-secret')
    expect(token.split('.')).toHaveLength(3)
  })

  it('takes the demo client\'s id and secret as Basic on /basic/echo', async () => {
    const res = await rawRequest(url, '/basic/echo/hello', { headers: { authorization: basic('demo', 'demo-secret') } })
    // Authenticated, so forwarded: 502 without the demo's echo upstream on :9000, 200 with it.
    expect([200, 502]).toContain(res.status)
  })

  it('protects /api/echo with a Bearer challenge', async () => {
    const res = await rawRequest(url, '/api/echo/hello')
    expect(res.status).toBe(401)
    expect(res.headers['www-authenticate']).toBe('Bearer realm="gatehouse"')
  })
})
