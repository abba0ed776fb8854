// Attack family 5, continued: reuse races. A refresh token presented twice at the same moment
// (RFC 9700 §4.14.2: a reused refresh token revokes its whole family), or a code redeemed twice at
// the same moment (RFC 6749 §4.1.2: the server SHOULD revoke all tokens issued from it). One
// presentation wins, the other is detected as a reuse; the attack is to be the winner whose new
// tokens outlive the loser's revocation, because the winner wrote them after it, or because the
// loser looked between the winner's take and its used-marker and found neither (the class of
// ory/hydra#3604, concurrent refreshes of one token). Every trial must end with nothing issued
// from that code or family still working, on one instance and on two sharing one Redis.
import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  basic,
  browserLogin,
  fastHash,
  rawRequest,
  startGateway,
  startOrigin,
  writeKeyFile,
  type Gateway,
  type KeyFile,
  type Origin,
  type RawResponse,
  untilStoresReady,
} from '../helpers/index.js'
import { redisAvailable, startRedis, type RedisServer } from '../helpers/redis.js'

const TRIALS = 30
const CB = 'http://app.example/cb'
const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
const withRedis = redisAvailable()

let origin: Origin
let key: KeyFile
let redis: RedisServer | undefined
beforeAll(async () => {
  origin = await startOrigin()
  key = await writeKeyFile() // shared, so that either instance verifies the other's tokens
  if (withRedis) redis = await startRedis()
})
afterAll(async () => {
  await origin?.close()
  await redis?.close()
})

const yaml = async (redisUrl: string | undefined) => `
signing: { keyFile: "${key.path}" }
${redisUrl ? `store: { redis: "${redisUrl}" }` : ''}
tokenEndpoint: { rateLimit: { points: 100000, duration: 60 }, failureLimit: { points: 100000, duration: 60 } }
authorize: { loginFailureLimit: { points: 100000, duration: 60 }, loginFailureLimitPerIp: { points: 100000, duration: 60 } }
clients:
  - { id: web, secretHash: "${await fastHash('s3cret')}", grants: [authorization_code, refresh_token, password], scopes: [orders:read], redirectUris: ["${CB}"] }
  - { id: coder, secretHash: "${await fastHash('s3cret')}", grants: [authorization_code], scopes: [orders:read], redirectUris: ["${CB}"] }
users: [{ username: alice, passwordHash: "${await fastHash('alice-pw')}", scopes: [orders:read] }]
routes: [{ id: orders, path: /api/orders, upstream: "${origin.url}" }]
`

const setups = [
  { name: 'memory store, one instance', redis: false, instances: 1 },
  ...(withRedis
    ? [
        { name: 'Redis, one instance', redis: true, instances: 1 },
        { name: 'Redis, two instances', redis: true, instances: 2 },
      ]
    : []),
]

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString()
const verifier = 'v'.repeat(43)
const challenge = createHash('sha256').update(verifier).digest('base64url')

describe.each(setups)('reuse races ($name)', ({ redis: onRedis, instances }) => {
  let gateways: Gateway[] = []

  beforeAll(async () => {
    if (onRedis) await redis!.flush()
    const config = await yaml(onRedis ? redis!.url : undefined)
    gateways = await Promise.all(Array.from({ length: instances }, () => startGateway(config)))
    await untilStoresReady(...gateways)
  })
  afterAll(async () => {
    for (const gw of gateways) await gw.close()
  })

  /** The two instances a trial's presentations go to: split between both when there are two. */
  const pair = (trial: number): [Gateway, Gateway] => {
    const one = gateways[trial % gateways.length]!
    return [one, gateways[(trial + 1) % gateways.length]!]
  }
  const token = (gw: Gateway, fields: Record<string, string>, client = 'web') =>
    rawRequest(gw.url, '/oauth/token', { method: 'POST', headers: { ...FORM, authorization: basic(client, 's3cret') }, body: form(fields) })

  /** The outcome of two presentations: at most one success, the other told invalid_grant. */
  const checkAnswers = (answers: RawResponse[]) => {
    expect(answers.filter((a) => a.status === 200).length).toBeLessThanOrEqual(1)
    for (const a of answers.filter((a) => a.status !== 200)) {
      expect(a.status).toBe(400)
      expect(a.json()).toMatchObject({ error: 'invalid_grant' })
    }
  }

  /** What still works of the tokens in successful answers, named for the failure message. */
  async function survivors(trial: number, answers: RawResponse[], gw: Gateway, client: string): Promise<string[]> {
    const alive: string[] = []
    for (const answer of answers.filter((a) => a.status === 200)) {
      const { access_token, refresh_token } = answer.json<{ access_token: string; refresh_token?: string }>()
      const route = await rawRequest(gw.url, '/api/orders/1', { headers: { authorization: `Bearer ${access_token}` } })
      const refused = route.status === 401 && route.json().error === 'invalid_token' && route.json().error_description === 'the access token was revoked'
      if (!refused) alive.push(`trial ${trial}: the winner's access token (${route.status})`)
      if (refresh_token) {
        const refreshed = await token(gw, { grant_type: 'refresh_token', refresh_token }, client)
        if (refreshed.json().error !== 'invalid_grant') alive.push(`trial ${trial}: the winner's refresh token (${refreshed.status})`)
      }
    }
    return alive
  }

  it(`revokes the winner's tokens too when one refresh token is presented twice at once (${TRIALS} trials)`, async () => {
    const alive: string[] = []
    for (let trial = 0; trial < TRIALS; trial++) {
      const [a, b] = pair(trial)
      const first = (await token(a, { grant_type: 'password', username: 'alice', password: 'alice-pw' })).json<{
        access_token: string
        refresh_token: string
      }>()
      const { refresh_token } = first
      const answers = await Promise.all([a, b].map((gw) => token(gw, { grant_type: 'refresh_token', refresh_token })))
      checkAnswers(answers)
      alive.push(...(await survivors(trial, answers, b, 'web')))
      expect((await token(a, { grant_type: 'refresh_token', refresh_token })).json()).toMatchObject({ error: 'invalid_grant' })
      // The family's earlier access token (from before the rotation) goes with it too.
      const earlier = await rawRequest(b.url, '/api/orders/1', { headers: { authorization: `Bearer ${first.access_token}` } })
      if (earlier.status !== 401) alive.push(`trial ${trial}: the family's first access token (${earlier.status})`)
    }
    expect(alive).toEqual([])
  })

  // Found by an outside review: revocation (RFC 7009) looked only at live refresh tokens, so a
  // thief who rotated a stolen one first kept the session after its owner logged out, and a
  // revocation racing a rotation was lost in about a quarter of trials.
  it(`revokes the family when its owner revokes a refresh token that was rotated, also mid-rotation (${TRIALS} trials)`, async () => {
    const alive: string[] = []
    const revoke = (gw: Gateway, refresh_token: string) =>
      rawRequest(gw.url, '/oauth/revoke', { method: 'POST', headers: { ...FORM, authorization: basic('web', 's3cret') }, body: form({ token: refresh_token }) })
    for (let trial = 0; trial < TRIALS; trial++) {
      const [a, b] = pair(trial)
      const { refresh_token } = (await token(a, { grant_type: 'password', username: 'alice', password: 'alice-pw' })).json<{ refresh_token: string }>()
      // Even trials: the thief's rotation is done before the owner revokes; odd: they race.
      const rotate = () => token(a, { grant_type: 'refresh_token', refresh_token })
      const answers = trial % 2 === 0 ? [await rotate(), await revoke(b, refresh_token)] : await Promise.all([rotate(), revoke(b, refresh_token)])
      expect(answers[1]!.status).toBe(200)
      alive.push(...(await survivors(trial, [answers[0]!], b, 'web')))
    }
    expect(alive).toEqual([])
  })

  it.each(['web', 'coder'])(`revokes what a code issued when it is redeemed twice at once, for %s (${TRIALS} trials)`, async (client) => {
    const alive: string[] = []
    for (let trial = 0; trial < TRIALS; trial++) {
      const [a, b] = pair(trial)
      const { location } = await browserLogin(
        `${a.url}/oauth/authorize?${form({ response_type: 'code', client_id: client, redirect_uri: CB, state: 's', code_challenge: challenge, code_challenge_method: 'S256' })}`,
      )
      const code = new URL(location!).searchParams.get('code')!
      const redeem = { grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: verifier }
      const answers = await Promise.all([a, b].map((gw) => token(gw, redeem, client)))
      checkAnswers(answers)
      alive.push(...(await survivors(trial, answers, b, client)))
    }
    expect(alive).toEqual([])
  })
})
