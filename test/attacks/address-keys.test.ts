// Attack family 10: sidestepping per-address limits and allow-lists by changing how one's address
// reads. An IPv6 host owns a whole /64 and picks interface ids freely, so counting per address gave
// it 2^64 budgets (express-rate-limit v8 keys IPv6 by subnet for this reason, and warns with
// ERR_ERL_KEY_GEN_IPV6 when a custom key generator does not). A trusted proxy that writes `ip:port` in
// X-Forwarded-For (Azure Application Gateway) gave each source port a budget of its own, and made
// allow-lists read the port as part of the address.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { fastHash, fetchToken, rawRequest, startGateway, startOrigin, type Gateway, type Origin } from '../helpers/index.js'

let gw: Gateway
let perAddress: Gateway
let origin: Origin

const config = (origin: Origin, extra = '') => `
server: { trustedProxies: [127.0.0.1]${extra} }
clients: [{ id: partner, secretHash: "${PARTNER_HASH}", allowIps: [203.0.113.0/24, "2001:db8:aa::/48"] }]
routes:
  - { id: public, path: /public, upstream: "${origin.url}", auth: [], rateLimit: { points: 2, duration: 60 } }
  - { id: partner, path: /partner, upstream: "${origin.url}" }
`
let PARTNER_HASH = ''

beforeAll(async () => {
  origin = await startOrigin()
  PARTNER_HASH = await fastHash('s3cret')
  gw = await startGateway(config(origin))
  perAddress = await startGateway(config(origin, ', ipv6Subnet: 128'))
})
afterAll(async () => {
  await gw?.close()
  await perAddress?.close()
  await origin?.close()
})
beforeEach(() => {
  origin.received.length = 0
})

const via = (g: Gateway, xff: string, path = '/public/x', headers: Record<string, string> = {}) =>
  rawRequest(g.url, path, { headers: { 'x-forwarded-for': xff, ...headers } })

describe('per-address limits and allow-lists', () => {
  it('counts every address of one IPv6 /64 against one budget', async () => {
    const statuses = []
    for (const host of ['2001:db8:1:2::1', '2001:db8:1:2::2', '2001:db8:1:2:ffff:1:2:3', '2001:db8:1:2::dead']) statuses.push((await via(gw, host)).status)
    expect(statuses).toEqual([200, 200, 429, 429])
    expect((await via(gw, '2001:db8:1:3::1')).status).toBe(200) // the next /64 is someone else
  })

  it('counts per IPv6 address when server.ipv6Subnet is 128', async () => {
    const statuses = []
    for (const host of ['2001:db8:9::1', '2001:db8:9::2', '2001:db8:9::3']) statuses.push((await via(perAddress, host)).status)
    expect(statuses).toEqual([200, 200, 200])
  })

  it('reads ip:port from a trusted proxy as the ip, for limits, allow-lists and the upstream', async () => {
    const statuses = []
    for (const port of [1111, 2222, 3333]) statuses.push((await via(gw, `198.51.100.7:${port}`)).status)
    expect(statuses).toEqual([200, 200, 429])
    expect(origin.received.map((r) => r.headers['x-forwarded-for'])).toEqual(['198.51.100.7, 127.0.0.1', '198.51.100.7, 127.0.0.1'])
    const brackets = []
    for (const port of [1, 2, 3]) brackets.push((await via(gw, `[2001:db8:5::1]:${port}`)).status)
    expect(brackets).toEqual([200, 200, 429])
  })

  it('applies a client allow-list to the address without its port', async () => {
    const token = await fetchToken(gw.url, 'partner', 's3cret').catch(() => undefined)
    expect(token).toBeUndefined() // 127.0.0.1 itself is not in the partner's ranges
    const res = await rawRequest(gw.url, '/oauth/token', {
      method: 'POST',
      headers: {
        'x-forwarded-for': '203.0.113.9:40000',
        'content-type': 'application/x-www-form-urlencoded',
        authorization: 'Basic ' + Buffer.from('partner:s3cret').toString('base64'),
      },
      body: 'grant_type=client_credentials',
    })
    expect(res.status).toBe(200)
    const { access_token } = res.json<{ access_token: string }>()
    expect((await via(gw, '[2001:db8:aa::5]:443', '/partner/x', { authorization: `Bearer ${access_token}` })).status).toBe(200)
    expect((await via(gw, '198.51.100.1:443', '/partner/x', { authorization: `Bearer ${access_token}` })).status).toBe(403)
  })

  // Found by an outside review: the hex spelling of an IPv4-mapped address was not folded to IPv4,
  // so it had a budget of its own, and every such address was keyed as the one network ::/64.
  it('counts an IPv4-mapped address in any spelling as the IPv4 address', async () => {
    const statuses = []
    for (const spelling of ['::ffff:cb00:7108', '203.0.113.8', '0:0:0:0:0:ffff:cb00:7108']) statuses.push((await via(gw, spelling)).status)
    expect(statuses).toEqual([200, 200, 429])
    for (const spelling of ['0::ffff:203.0.113.8', '0000:0000:0000:0000:0000:FFFF:CB00:7108', '::FFFF:203.0.113.8'])
      expect((await via(gw, spelling)).status).toBe(429)
    expect((await via(gw, '::ffff:cb00:7109')).status).toBe(200) // 203.0.113.9: another address, not one shared ::/64
  })

  it('takes the trusted proxy as the client when it forwards something that is no address', async () => {
    for (const junk of ['not-an-ip', 'unknown', '_hidden', '1.2.3.4:99999', `${'9'.repeat(2000)}`]) {
      const res = await via(gw, junk, '/partner/x')
      expect(res.status, junk).toBe(401) // reached authentication: the address did not break anything
    }
    await via(gw, 'not-an-ip', '/public/y')
    expect(origin.received.at(-1)?.headers['x-forwarded-for']).toBe('127.0.0.1')
  })
})
