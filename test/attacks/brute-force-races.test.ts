// Attack family 12: guessing in parallel. The failure limits used to be read before the slow
// secret check and counted only after a wrong guess, so guesses sent together all passed the read
// before the first failure was counted: 30 parallel passwords for one user were all checked
// (limit 5), 40 parallel client secrets from one address (limit 10), and the right one among them
// won (Keycloak CVE-2024-4629, the same check-then-act race). Now every guess is counted before it
// is checked; these tests send the guesses at once, on memory, on Redis, and split between two
// gateway instances on one Redis, and count how many were checked (answered other than 429).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hashSecret } from '../../src/config/secret-hash.js'
import {
  basic,
  freePort,
  hiddenFields,
  rawRequest,
  startGateway,
  startOrigin,
  writeKeyFile,
  type Gateway,
  type Origin,
  type RawResponse,
  untilStoresReady,
} from '../helpers/index.js'
import { redisAvailable, startRedis, type RedisServer } from '../helpers/redis.js'

const setups = ['memory', ...(redisAvailable() ? ['redis', 'two instances on one redis'] : [])] as const
let redis: RedisServer | undefined
let origin: Origin
let hashes: { client: string; alice: string; bob: string }

beforeAll(async () => {
  origin = await startOrigin()
  if (setups.length > 1) redis = await startRedis()
  // A real cost (ln=13), so that each check takes long enough for parallel guesses to overlap.
  const [client, alice, bob] = await Promise.all(['s3cret', 'alice-pw', 'bob-pw'].map((secret) => hashSecret(secret, { logN: 13 })))
  hashes = { client: client!, alice: alice!, bob: bob! }
})
afterAll(async () => {
  await redis?.close()
  await origin?.close()
})

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
const CB = 'http://app.example/cb'

async function gateways(setup: (typeof setups)[number]): Promise<Gateway[]> {
  await redis?.flush()
  const port = await freePort()
  const yaml = `
issuer: http://127.0.0.1:${port}
server: { trustedProxies: [127.0.0.1] }
${setup === 'memory' ? '' : `store: { redis: "${redis!.url}" }`}
tokenEndpoint: { rateLimit: { points: 1000, duration: 60 }, failureLimit: { points: 10, duration: 60 } }
authorize: { loginFailureLimit: { points: 5, duration: 60 }, loginFailureLimitPerIp: { points: 1000, duration: 60 } }
clients:
  - { id: app, secretHash: "${hashes.client}", grants: [password, authorization_code], redirectUris: ["${CB}"] }
users: [{ username: alice, passwordHash: "${hashes.alice}" }, { username: bob, passwordHash: "${hashes.bob}" }]
routes: [{ id: api, path: /api, upstream: "${origin.url}", auth: [basic] }]
`
  // The two instances share a signing key file, so that their login forms are interchangeable.
  const key = await writeKeyFile()
  const withKey = yaml + `signing: { keyFile: "${key.path}" }\n`
  const started = [await startGateway(withKey, { port })]
  if (setup === 'two instances on one redis') started.push(await startGateway(withKey))
  // Until Redis is ready, limits count in memory (store.onRedisError: insurance): wait for it.
  await untilStoresReady(...started)
  return started
}

/**
 * Sends `count` requests at once, spread over the gateways; the right guess is one of them.
 * `checked` counts the wrong guesses that were checked (answered neither 429 nor success): a right
 * guess gives its reservation back, so one more wrong guess may be checked after it.
 */
async function inParallel(gws: Gateway[], count: number, send: (gw: Gateway, i: number) => Promise<RawResponse>) {
  const responses = await Promise.all(Array.from({ length: count }, (_, i) => send(gws[i % gws.length]!, i)))
  const succeeded = (r: RawResponse) => r.status === 200 || r.status === 302
  return { checked: responses.filter((r) => r.status !== 429 && !succeeded(r)).length, responses }
}
const RIGHT = 17

describe.each(setups)('guesses sent at once (%s)', (setup) => {
  let gws: Gateway[]
  beforeAll(async () => {
    gws = await gateways(setup)
  })
  afterAll(async () => {
    for (const gw of gws ?? []) await gw.close()
  })

  it('check at most 10 client secrets from one address at the token endpoint', async () => {
    const { checked } = await inParallel(gws, 40, (gw, i) =>
      rawRequest(gw.url, '/oauth/token', {
        method: 'POST',
        headers: { ...FORM, 'x-forwarded-for': '198.51.100.1', authorization: basic('app', i === RIGHT ? 's3cret' : `guess-${i}`) },
        body: 'grant_type=client_credentials',
      }),
    )
    expect(checked).toBeLessThanOrEqual(10)
  })

  it('check at most 10 client secrets from one address on a Basic route', async () => {
    const { checked } = await inParallel(gws, 40, (gw, i) =>
      rawRequest(gw.url, '/api/x', {
        headers: { 'x-forwarded-for': '198.51.100.2', authorization: basic('app', i === RIGHT ? 's3cret' : `route-guess-${i}`) },
      }),
    )
    expect(checked).toBeLessThanOrEqual(10)
  })

  it('check at most 5 passwords for one username with the password grant', async () => {
    // Client authentication is cheap to pass here (the right secret), so only passwords are guessed;
    // its own reservation is given back on success.
    const { checked, responses } = await inParallel(gws, 30, (gw, i) =>
      rawRequest(gw.url, '/oauth/token', {
        method: 'POST',
        headers: { ...FORM, authorization: basic('app', 's3cret') },
        body: new URLSearchParams({ grant_type: 'password', username: 'alice', password: i === RIGHT ? 'alice-pw' : `guess-${i}` }).toString(),
      }),
    )
    expect(checked).toBeLessThanOrEqual(5)
    expect(responses.filter((r) => r.status === 429).every((r) => r.json().error === 'rate_limited')).toBe(true)
  })

  it('check at most 5 passwords for one username on the login page', async () => {
    const query = new URLSearchParams({
      response_type: 'code',
      client_id: 'app',
      redirect_uri: CB,
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
    })
    const page = await rawRequest(gws[0]!.url, `/oauth/authorize?${query}`)
    const cookie = ([] as string[])
      .concat(page.headers['set-cookie'] ?? [])
      .map((c) => c.split(';')[0])
      .join('; ')
    const fields = hiddenFields(page.text)
    const { checked } = await inParallel(gws, 30, (gw, i) =>
      rawRequest(gw.url, '/oauth/authorize', {
        method: 'POST',
        headers: { ...FORM, cookie },
        body: new URLSearchParams({ ...fields, username: 'bob', password: i === RIGHT ? 'bob-pw' : `guess-${i}`, decision: 'approve' }).toString(),
      }),
    )
    expect(checked).toBeLessThanOrEqual(5)
  })
})
