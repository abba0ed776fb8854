// Attack family 4: malformed and hostile requests to the token endpoint. Every one gets the
// documented JSON error, never a 500, never a token, never a hang.
import { generateSecret, hashGeneratedSecret, hashSecret } from '../../src/config/secret-hash.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { basic, fastHash, rawRequest, startGateway, type Gateway, type RawResponse } from '../helpers/index.js'

let gw: Gateway

beforeAll(async () => {
  gw = await startGateway(`
tokenEndpoint: { rateLimit: { points: 10000, duration: 60 }, failureLimit: { points: 10000, duration: 60 } }
clients: [{ id: reporting, secretHash: "${await fastHash('s3cret')}", scopes: [orders:read] }]
`)
})
afterAll(() => gw?.close())

const FORM = 'application/x-www-form-urlencoded'
const post = (body: string | undefined, headers: Record<string, string | string[]> = {}, path = '/oauth/token') =>
  rawRequest(gw.url, path, { method: 'POST', headers: { 'content-type': FORM, ...headers }, body })
const auth = { authorization: basic('reporting', 's3cret') }

function documentedError(res: RawResponse, status: number, error: string) {
  expect(res.status).toBe(status)
  expect(res.json()).toEqual({ error, error_description: expect.any(String) })
  expect(res.text).not.toContain('access_token')
  expect(res.headers['cache-control']).toBe('no-store')
}

/** Median times, in ms, of two kinds of request sent in turns, seven of each, each timed alone. */
async function medianTimes(kinds: (i: number) => readonly [() => Promise<unknown>, () => Promise<unknown>]): Promise<[number, number]> {
  const times: [number[], number[]] = [[], []]
  for (let i = 0; i < 7; i++) {
    for (const kind of [0, 1] as const) {
      const started = performance.now()
      await kinds(i)[kind]()
      times[kind].push(performance.now() - started)
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  return [median(times[0]), median(times[1])]
}

describe('token endpoint attacks', () => {
  it('treats empty parameters as missing', async () => {
    documentedError(await post('grant_type=', auth), 400, 'invalid_request')
    documentedError(await post('grant_type=client_credentials&client_id=&client_secret='), 401, 'invalid_client')
  })

  it.each([
    ['grant_type=client_credentials&grant_type=password', 'a repeated grant_type: which one is meant?'],
    ['grant_type=client_credentials&client_id=reporting&client_id=admin&client_secret=s3cret', 'a repeated client_id'],
    ['grant_type=client_credentials&scope=orders%3Aread&scope=admin', 'a repeated scope'],
  ])('refuses %s (%s)', async (body) => {
    documentedError(await post(body, body.includes('client_secret') ? {} : auth), 400, 'invalid_request')
  })

  it.each([
    ['application/json', '{"grant_type":"client_credentials"}'],
    ['multipart/form-data; boundary=x', '--x\r\nContent-Disposition: form-data; name="grant_type"\r\n\r\nclient_credentials\r\n--x--\r\n'],
    ['text/plain', 'grant_type=client_credentials'],
    ['application/x-www-form-urlencoded-evil', 'grant_type=client_credentials'],
    ['application/xml', '<grant_type>client_credentials</grant_type>'],
  ])('refuses a %s body', async (type, body) => {
    documentedError(await post(body, { ...auth, 'content-type': type }), 400, 'invalid_request')
  })

  it('refuses a request with no body and no content type', async () => {
    documentedError(await rawRequest(gw.url, '/oauth/token', { method: 'POST', headers: auth }), 400, 'invalid_request')
  })

  it('answers GET and other methods with 405, not a token', async () => {
    for (const method of ['GET', 'PUT', 'DELETE', 'PATCH']) {
      const res = await rawRequest(gw.url, '/oauth/token?grant_type=client_credentials&client_id=reporting&client_secret=s3cret', { method, headers: auth })
      documentedError(res, 405, 'method_not_allowed')
    }
  })

  it('never authenticates with a secret in the query string (RFC 6749 §2.3.1)', async () => {
    const res = await post('grant_type=client_credentials', {}, '/oauth/token?client_id=reporting&client_secret=s3cret')
    documentedError(res, 401, 'invalid_client')
  })

  it.each([
    ['Basic', 'no credentials at all'],
    ['Basic !!!!', 'not base64'],
    ['Basic cmVwb3J0aW5n', 'no colon'],
    ['Basic cmVwb3J0aW5nOnMzY3JldA', 'missing padding'],
    ['Basic cmVwb3J0aW5nOnMzY3JldA===', 'too much padding'],
    ['Basic /w==', 'invalid UTF-8'],
    ['Basic ' + Buffer.from('reporting:%zz').toString('base64'), 'malformed form-encoding in the secret'],
    ['Basic ' + 'A'.repeat(12_000), 'enormous'],
    ['Bearer abc', 'another scheme'],
    ['Digest username="reporting"', 'another scheme'],
  ])('refuses Authorization: %s… (%s)', async (authorization) => {
    const res = await post('grant_type=client_credentials', { authorization })
    expect([400, 401]).toContain(res.status)
    expect(res.json()).toMatchObject({ error: expect.stringMatching(/^invalid_(request|client)$/) })
  })

  it('refuses two Authorization headers', async () => {
    documentedError(await post('grant_type=client_credentials', { authorization: [basic('reporting', 's3cret'), basic('admin', 'x')] }), 400, 'invalid_request')
  })

  it('refuses Basic and body credentials together', async () => {
    documentedError(await post('grant_type=client_credentials&client_id=reporting&client_secret=s3cret', auth), 400, 'invalid_request')
  })

  it('refuses 10,000 parameters and a 2 MiB body without reading them into memory', async () => {
    const many = Array.from({ length: 10_000 }, (_, i) => `p${i}=1`).join('&')
    documentedError(await post(`grant_type=client_credentials&${many}`, auth), 400, 'invalid_request')
    documentedError(await post('grant_type=client_credentials&pad=' + 'x'.repeat(2 * 1024 * 1024), auth), 400, 'invalid_request')
  })

  it('does not let parameter names reach object prototypes', async () => {
    const res = await post('grant_type=client_credentials&__proto__=x&constructor=y&toString=z', auth)
    expect(res.status).toBe(200)
  })

  it('answers an unknown client and a wrong secret with the same status and body', async () => {
    const wrong = await post('grant_type=client_credentials', { authorization: basic('reporting', 'guess') })
    const unknown = await post('grant_type=client_credentials', { authorization: basic('no-such-client', 'guess') })
    expect([wrong.status, wrong.text, wrong.headers['www-authenticate']]).toEqual([unknown.status, unknown.text, unknown.headers['www-authenticate']])
  })

  /** How much longer an unknown client takes than a wrong secret, with one client of this hash. */
  async function unknownOverWrong(secretHash: string): Promise<number> {
    const timed = await startGateway(`
tokenEndpoint: { rateLimit: { points: 1000, duration: 60 }, failureLimit: { points: 1000, duration: 60 } }
clients: [{ id: reporting, secretHash: "${secretHash}" }]
`)
    const attempt = (id: string) => () =>
      rawRequest(timed.url, '/oauth/token', {
        method: 'POST',
        headers: { 'content-type': FORM, authorization: basic(id, 'guess') },
        body: 'grant_type=client_credentials',
      })
    const [wrong, unknown] = await medianTimes((i) => [attempt('reporting'), attempt(`nobody-${i}`)])
    await timed.close()
    return unknown / wrong
  }

  it('takes as long for an unknown client as for a wrong secret (no client enumeration by timing)', async () => {
    // Real cost (ln=14) so that one scrypt dwarfs the noise; a gateway that skipped the hash for
    // unknown clients would answer them about 50 times faster.
    const ratio = await unknownOverWrong(await hashSecret('s3cret', { logN: 14 }))
    expect(ratio).toBeGreaterThan(0.4)
    expect(ratio).toBeLessThan(2.5)
  })

  // The other way round: clients from `new-client` have fast hashes, and an unknown client checked
  // against a scrypt decoy would answer a hundred times slower than a wrong secret.
  it('takes as long for an unknown client as for a wrong secret when secrets are generated (fast hashes)', async () => {
    const ratio = await unknownOverWrong(hashGeneratedSecret(generateSecret()))
    expect(ratio).toBeGreaterThan(0.4)
    expect(ratio).toBeLessThan(2.5)
  })

  // Django CVE-2024-39329 class: when hashes differ in cost, the time of a failed login tells which
  // accounts exist. A decoy shared by clients and users took the cost most of both used, so cheap
  // client hashes made "no such user" answer many times faster than a wrong password.
  it('takes as long for an unknown user as for a wrong password, whatever the clients cost', async () => {
    const cheap = await hashSecret('s3cret', { logN: 6 })
    const timed = await startGateway(`
tokenEndpoint: { rateLimit: { points: 1000, duration: 60 }, failureLimit: { points: 1000, duration: 60 } }
authorize: { loginFailureLimit: { points: 1000, duration: 60 }, loginFailureLimitPerIp: { points: 1000, duration: 60 } }
clients:
  - { id: app, secretHash: "${cheap}", grants: [password] }
  - { id: b, secretHash: "${cheap}" }
  - { id: c, secretHash: "${cheap}" }
users: [{ username: alice, passwordHash: "${await hashSecret('alice-pw', { logN: 14 })}" }]
`)
    const login = (username: string) => () =>
      rawRequest(timed.url, '/oauth/token', {
        method: 'POST',
        headers: { 'content-type': FORM, authorization: basic('app', 's3cret') },
        body: new URLSearchParams({ grant_type: 'password', username, password: 'guess' }).toString(),
      })
    const [wrong, unknown] = await medianTimes((i) => [login('alice'), login(`nobody-${i}`)])
    await timed.close()
    expect(unknown / wrong).toBeGreaterThan(0.4)
  })

  it('warns, with the fix, when hashes of one kind differ in cost', async () => {
    const mixed = await startGateway(`
users:
  - { username: alice, passwordHash: "${await hashSecret('a', { logN: 8 })}" }
  - { username: bob, passwordHash: "${await hashSecret('b', { logN: 9 })}" }
`)
    await mixed.close()
    expect(mixed.config.warnings).toContainEqual(
      expect.stringMatching(/^user passwords are hashed at different costs \(scrypt ln=8,r=8,p=1: alice; scrypt ln=9,r=8,p=1: bob\).*gatehouse hash-secret/),
    )
    expect(mixed.config.warnings.some((w) => w.startsWith('client secrets'))).toBe(false)
  })

  it("counts a generated secret's fast hash as a cost of its own: mixed with scrypt, it warns", async () => {
    const mixed = await startGateway(`
clients:
  - { id: made, secretHash: "${hashGeneratedSecret(generateSecret())}" }
  - { id: chosen, secretHash: "${await hashSecret('s3cret', { logN: 8 })}" }
`)
    await mixed.close()
    expect(mixed.config.warnings).toContainEqual(
      expect.stringMatching(/^client secrets are hashed at different costs \(sha256 \(generated\): made; scrypt ln=8,r=8,p=1: chosen\).*--generated/),
    )
  })
})
