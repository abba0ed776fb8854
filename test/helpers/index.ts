// Shared test helpers: a recording origin, a gateway on a real port, keys and tokens, raw HTTP.
import { mkdtemp, writeFile } from 'node:fs/promises'
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SignJWT, type JWK } from 'jose'
import type { GatehouseConfig } from '../../src/config/compile.js'
import { parseConfig } from '../../src/config/load.js'
import { createGateway, type Gateway as RunningGateway, type GatewayOptions as CreateOptions } from '../../src/gateway.js'
import { generateSigningJwk } from '../../src/oauth/keys.js'
import { hashSecret } from '../../src/config/secret-hash.js'

export const tempDir = () => mkdtemp(join(tmpdir(), 'gatehouse-test-'))

/** A cheap scrypt hash (ln=10) so that tests stay fast; production hashes use ln=15. */
export const fastHash = (secret: string) => hashSecret(secret, { logN: 10 })

// ---------------------------------------------------------------------------------------------
// Origin: a real node:http upstream that records what it received.

export interface Received {
  readonly method: string
  readonly url: string
  readonly headers: IncomingHttpHeaders
  readonly rawHeaders: readonly string[]
  readonly body: string
  /** The gateway's side of the upstream connection: the same port twice means a reused connection. */
  readonly remotePort: number
}

export interface Origin {
  readonly url: string
  readonly received: Received[]
  close(): Promise<void>
}

export type OriginHandler = (req: IncomingMessage, res: ServerResponse, body: string) => void

const echoHandler: OriginHandler = (req, res) => {
  res.setHeader('content-type', 'application/json')
  res.end(JSON.stringify({ ok: true, url: req.url }))
}

export async function startOrigin(handler: OriginHandler = echoHandler, port = 0): Promise<Origin> {
  const received: Received[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString()
      received.push({ method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, body, remotePort: req.socket.remotePort! })
      handler(req, res, body)
    })
  })
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  const address = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${address.port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

// ---------------------------------------------------------------------------------------------
// Gateway: built from YAML through the real config loader, listening on 127.0.0.1:0.

export interface Gateway {
  readonly url: string
  readonly port: number
  readonly gateway: RunningGateway
  readonly config: GatehouseConfig
  close(): Promise<void>
}

export interface GatewayOptions extends Omit<CreateOptions, 'env'> {
  env?: Record<string, string | undefined>
  /** Where the YAML pretends to live (relative keyFile paths resolve against it). */
  file?: string
  /** Listen on this port (from freePort()) when the issuer URL must name it; default: any free port. */
  port?: number
  /** Listen address; '::' takes both 127.0.0.1 and ::1. Default 127.0.0.1. */
  host?: string
}

/** A port that was free a moment ago: for configs whose issuer must name the port before listening. */
export async function freePort(): Promise<number> {
  const { createServer: createNetServer } = await import('node:net')
  const server = createNetServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** Waits up to 5 s until every gateway's store is ready (connected, its revocation copy current). */
export async function untilStoresReady(...gateways: Gateway[]): Promise<void> {
  for (let i = 0; i < 250 && !gateways.every((gw) => gw.gateway.store.ready); i++) await sleep(20)
}

export async function startGateway(yaml: string, options: GatewayOptions = {}): Promise<Gateway> {
  const config = await parseConfig(yaml, options.file ?? join(tmpdir(), 'gatehouse-test.yaml'), options.env ?? {})
  const gateway = await createGateway(config, { logger: false, ...options })
  const { port } = await gateway.listen(options.host ?? '127.0.0.1', options.port ?? 0)
  return { url: `http://127.0.0.1:${port}`, port, gateway, config, close: () => gateway.close() }
}

// ---------------------------------------------------------------------------------------------
// Keys and tokens.

export interface KeyFile {
  readonly path: string
  readonly jwk: JWK
}

export async function writeKeyFile(alg: 'ES256' | 'RS256' | 'EdDSA' = 'ES256'): Promise<KeyFile> {
  const jwk = await generateSigningJwk(alg)
  const path = join(await tempDir(), 'signing.jwk')
  await writeFile(path, JSON.stringify(jwk))
  return { path, jwk }
}

/** Signs any header and claims with a private JWK: for tokens the gateway must refuse. */
export async function mintToken(jwk: JWK, claims: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
  const { createPrivateKey } = await import('node:crypto')
  const key = createPrivateKey({ key: jwk, format: 'jwk' })
  return new SignJWT(claims).setProtectedHeader({ alg: jwk.alg!, kid: jwk.kid, typ: 'at+jwt', ...header }).sign(key)
}

/** Asks the gateway for a client-credentials token over HTTP, as a client would. */
export async function fetchToken(gatewayUrl: string, clientId: string, secret: string, scope?: string): Promise<string> {
  const res = await fetch(`${gatewayUrl}/oauth/token`, {
    method: 'POST',
    headers: { authorization: basic(clientId, secret), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', ...(scope ? { scope } : {}) }),
  })
  const body = (await res.json()) as { access_token?: string }
  if (res.status !== 200 || !body.access_token) throw new Error(`token request failed: ${res.status} ${JSON.stringify(body)}`)
  return body.access_token
}

export const basic = (id: string, secret: string) => 'Basic ' + Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')

// ---------------------------------------------------------------------------------------------
// Raw HTTP: node:http sends the path exactly as given (fetch would normalise it first).

export interface RawResponse {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly text: string
  json<T = Record<string, unknown>>(): T
}

export function rawRequest(
  baseUrl: string,
  path: string,
  options: { method?: string; headers?: Record<string, string | string[]>; body?: string; timeoutMs?: number; localAddress?: string } = {},
): Promise<RawResponse> {
  const { hostname, port } = new URL(baseUrl)
  return new Promise((resolve, reject) => {
    const target = { host: hostname.replace(/^\[|\]$/g, ''), port, path, method: options.method ?? 'GET', headers: options.headers, agent: false }
    const req = httpRequest({ ...target, ...(options.localAddress ? { localAddress: options.localAddress } : {}) }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('error', reject)
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString()
        resolve({ status: res.statusCode!, headers: res.headers, text, json: () => JSON.parse(text) })
      })
    })
    req.setTimeout(options.timeoutMs ?? 10_000, () => req.destroy(new Error('client timeout')))
    req.on('error', reject)
    req.end(options.body)
  })
}

// ---------------------------------------------------------------------------------------------
// Logs: the gateway's JSON log lines, captured for assertions.

export interface CapturedLogs {
  readonly logger: { level: string; stream: { write(line: string): void } }
  readonly lines: Record<string, unknown>[]
  /** The raw text of every line, for checking that no secret appears anywhere. */
  text(): string
}

export function captureLogs(level = 'info'): CapturedLogs {
  const raw: string[] = []
  return {
    logger: { level, stream: { write: (line: string) => void raw.push(line) } },
    get lines() {
      return raw.map((l) => JSON.parse(l) as Record<string, unknown>)
    },
    text: () => raw.join(''),
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

// ---------------------------------------------------------------------------------------------
// A browser at the login page: plain HTTP, a cookie jar of one, the form's hidden fields.

export interface LoginResult {
  /** The login page's response to the GET. */
  readonly page: RawResponse
  /** The response to the form's POST (absent when the GET did not show a form). */
  readonly submit?: RawResponse
  /** Where the POST redirected to, if it did. */
  readonly location?: string
}

const unescapeHtml = (s: string) =>
  s
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')

/** The hidden fields of the first form in a page. */
export function hiddenFields(html: string): Record<string, string> {
  const fields: Record<string, string> = {}
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) fields[m[1]!] = unescapeHtml(m[2]!)
  return fields
}

export async function browserLogin(
  authorizeUrl: string | URL,
  form: { username?: string; password?: string; decision?: 'approve' | 'deny'; csrf?: string; cookie?: string | null } = {},
): Promise<LoginResult> {
  const url = new URL(authorizeUrl)
  const page = await rawRequest(url.origin, url.pathname + url.search)
  if (page.status !== 200) return { page }
  const setCookie = ([] as string[]).concat(page.headers['set-cookie'] ?? [])
  const cookie = form.cookie === undefined ? setCookie.map((c) => c.split(';')[0]).join('; ') : form.cookie
  const fields = hiddenFields(page.text)
  const body = new URLSearchParams({
    ...fields,
    ...(form.csrf !== undefined ? { csrf: form.csrf } : {}),
    username: form.username ?? 'alice',
    password: form.password ?? 'alice-pw',
    decision: form.decision ?? 'approve',
  }).toString()
  const submit = await rawRequest(url.origin, url.pathname, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie ? { cookie } : {}) },
    body,
  })
  return { page, submit, ...(submit.headers.location ? { location: submit.headers.location } : {}) }
}

// ---------------------------------------------------------------------------------------------
// Raw sockets: bytes exactly as written, for requests no HTTP client would send.

export interface RawExchange {
  /** Everything the server sent before it closed the connection (or before `waitMs`). */
  readonly text: string
  /** Whether the server closed the connection. */
  readonly closed: boolean
  readonly ms: number
}

export async function rawExchange(port: number, chunks: (string | { pauseMs: number })[], waitMs = 3_000): Promise<RawExchange> {
  const { connect } = await import('node:net')
  const started = Date.now()
  return new Promise((resolve, reject) => {
    let text = ''
    let closed = false
    const socket = connect(port, '127.0.0.1')
    const finish = () => {
      clearTimeout(timer)
      socket.destroy()
      resolve({ text, closed, ms: Date.now() - started })
    }
    const timer = setTimeout(finish, waitMs)
    socket.on('data', (d) => (text += d.toString('latin1')))
    socket.on('close', () => {
      closed = true
      finish()
    })
    socket.on('error', () => undefined)
    const send = async () => {
      for (const chunk of chunks) {
        if (typeof chunk === 'string') socket.write(chunk, 'latin1')
        else await sleep(chunk.pauseMs)
        if (socket.destroyed) return
      }
    }
    // An event listener's promise is dropped: a failure to send fails the exchange instead.
    socket.on('connect', () => {
      send().catch(reject)
    })
  })
}

// ---------------------------------------------------------------------------------------------
// The gateway as its own process: the build from global-setup.ts, `node bin.js --config FILE`.

export interface GatewayProcess {
  readonly url: string
  readonly pid: number
  /** The config file it runs on (edit it to reload). */
  readonly file: string
  /** What the process printed on stdout and stderr so far. */
  output(): string
  readonly exited: Promise<number | null>
  /** SIGTERM to its PID, and waits for the exit. */
  stop(): Promise<void>
}

export async function spawnGateway(yaml: string, options: { nodeArgs?: string[]; env?: Record<string, string> } = {}): Promise<GatewayProcess> {
  const { spawn } = await import('node:child_process')
  const { inject } = await import('vitest')
  const port = await freePort()
  const file = join(await tempDir(), 'gatehouse.yaml')
  await writeFile(file, yaml)
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), inject('gatehouseBin'), '--config', file], {
    env: { ...process.env, ...options.env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  // A test that times out never reaches its finally: the child goes with this process, by its PID.
  const reap = () => child.exitCode === null && child.kill('SIGKILL')
  process.once('exit', reap)
  let output = ''
  child.stdout.on('data', (c: Buffer) => (output += c.toString()))
  child.stderr.on('data', (c: Buffer) => (output += c.toString()))
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      process.off('exit', reap)
      resolve(code)
    }),
  )
  const started = Date.now()
  const url = `http://127.0.0.1:${port}`
  while (
    !(await fetch(`${url}/.well-known/jwks.json`).then(
      (r) => r.ok,
      () => false,
    ))
  ) {
    if (child.exitCode !== null || Date.now() - started > 15_000) {
      if (child.exitCode === null) child.kill('SIGKILL') // never leave a half-started gateway behind
      throw new Error(`the gateway did not start:\n${output}`)
    }
    await sleep(25)
  }
  return {
    url,
    pid: child.pid!,
    file,
    output: () => output,
    exited,
    async stop() {
      if (child.exitCode === null) process.kill(child.pid!, 'SIGTERM')
      await exited
    },
  }
}
