// MongoDB Atlas service-account tokens: the document's requests, as written, against
// config/examples/mongodb-atlas.yaml (../shared/seeds/003_6433e450b7b85020.recovered.txt).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { rawRequest, type Gateway, untilStoresReady } from '../helpers/index.js'
import { redisAvailable, startRedis, type RedisServer } from '../helpers/redis.js'
import { basicAsDocumented, startExample } from './helpers.js'

let gw: Gateway
beforeAll(async () => {
  gw = await startExample('mongodb-atlas.yaml')
})
afterAll(() => gw?.close())

// curl --request POST --url .../api/oauth/token --header 'accept: application/json'
//   --header 'cache-control: no-cache' --header 'authorization: Basic {BASE64-AUTH}'
//   --header 'content-type: application/x-www-form-urlencoded' --data 'grant_type=client_credentials'
const request = (g: Gateway, id: string, secret: string, query = '') =>
  rawRequest(g.url, `/api/oauth/token${query}`, {
    method: 'POST',
    headers: {
      accept: 'application/json',
      'cache-control': 'no-cache',
      authorization: basicAsDocumented(id, secret),
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials',
  })

describe('MongoDB Atlas (seed 003)', () => {
  it('answers the documented curl with access_token, expires_in and token_type', async () => {
    const res = await request(gw, 'atlas-sa', 'atlas-sa-secret')
    expect(res.status).toBe(200)
    expect(res.headers['content-type']).toMatch(/^application\/json/)
    expect(res.json()).toMatchObject({ access_token: expect.any(String), expires_in: 3600, token_type: 'Bearer' })
  })

  it('honours ?pretty=true and ?envelope=true', async () => {
    expect((await request(gw, 'atlas-sa', 'atlas-sa-secret', '?pretty=true')).text).toMatch(/^\{\n {2}"/)
    const enveloped = await request(gw, 'atlas-sa', 'wrong', '?envelope=true')
    expect(enveloped.status).toBe(200)
    expect(enveloped.json()).toMatchObject({ status: 401, content: { error: 'invalid_client' } })
  })

  it('answers the documented errors: invalid_client, unsupported_grant_type, access_denied', async () => {
    expect((await request(gw, 'atlas-sa', 'wrong')).json()).toMatchObject({ error: 'invalid_client', error_description: expect.any(String) })
    const grant = await rawRequest(gw.url, '/api/oauth/token', {
      method: 'POST',
      headers: { authorization: basicAsDocumented('atlas-sa', 'atlas-sa-secret'), 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=magic',
    })
    expect(grant.json()).toMatchObject({ error: 'unsupported_grant_type' })
    const office = await request(gw, 'atlas-office', 'atlas-office-secret') // from 127.0.0.1, not 192.0.2.0/24
    expect(office.status).toBe(403)
    expect(office.json()).toMatchObject({ error: 'access_denied' })
  })

  it('allows 10 requests a minute per account, then 429 with Retry-After', async () => {
    const fresh = await startExample('mongodb-atlas.yaml')
    try {
      const statuses = []
      for (let i = 0; i < 11; i++) statuses.push(await request(fresh, 'atlas-sa', 'atlas-sa-secret'))
      expect(statuses.map((r) => r.status)).toEqual([...Array(10).fill(200), 429])
      expect(Number(statuses[10]!.headers['retry-after'])).toBeGreaterThan(0)
      expect(statuses[10]!.json()).toMatchObject({ error: 'rate_limited' })
    } finally {
      await fresh.close()
    }
  })

  it.skipIf(!redisAvailable(true))('answers 503 with Retry-After while its store is down (onRedisError: deny)', async () => {
    const redis: RedisServer = await startRedis()
    const onRedis = await startExample('mongodb-atlas.yaml', { env: { REDIS_URL: redis.url } })
    try {
      await untilStoresReady(onRedis) // deny: 503 until connected
      expect((await request(onRedis, 'atlas-sa', 'atlas-sa-secret')).status).toBe(200)
      await redis.stop()
      const res = await request(onRedis, 'atlas-sa', 'atlas-sa-secret')
      expect(res.status).toBe(503)
      expect(res.headers['retry-after']).toEqual(expect.any(String))
    } finally {
      await onRedis.close()
      await redis.close()
    }
  })
})
