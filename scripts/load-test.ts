// Load and fault test (not part of `npm test`): a bounded mix of valid, invalid and over-limit
// requests from several concurrent clients, for LOAD_SECONDS (default 60), against the built
// gateway (node dist/bin.js) on a real Redis that is stopped and restarted half-way through.
// Loopback only. It fails (exit 1) on any 5xx, and reports RSS and open sockets before and after.
//
//   npm run load-test            # LOAD_SECONDS=20 npm run load-test for a shorter run
import { spawn } from 'node:child_process'
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import autocannon from 'autocannon'
import { hashSecret } from '../src/config/secret-hash.js'
import { freePort, startRedis, stop } from './processes.js'

const SECONDS = Number(process.env.LOAD_SECONDS || 60)
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Resident memory (KiB) and open sockets of a process, from /proc. */
async function footprint(pid: number): Promise<{ rssKiB: number; sockets: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0)
  let sockets = 0
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const { readlink } = await import('node:fs/promises')
    if ((await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')).startsWith('socket:')) sockets++
  }
  return { rssKiB, sockets }
}

async function main() {
  const [redisPort, gatewayPort] = [await freePort(), await freePort()]
  let redis = await startRedis(redisPort)
  const origin = createServer((_req, res) => res.end('{"ok":true}'))
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve))
  const originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`

  // ln=10 secrets: the load is on the gateway's hot path, not on scrypt at the token endpoint.
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-load-'))
  const configFile = join(dir, 'gatehouse.yaml')
  await writeFile(
    configFile,
    `
server: { host: 127.0.0.1, port: ${gatewayPort}, logLevel: warn }
store: { redis: "redis://127.0.0.1:${redisPort}" }
tokenEndpoint: { rateLimit: { points: 100000, duration: 60 }, failureLimit: { points: 100000, duration: 60 } }
clients:
  - { id: app, secretHash: "${await hashSecret('app-secret', { logN: 10 })}", scopes: [read] }
  - { id: capped, secretHash: "${await hashSecret('capped-secret', { logN: 10 })}", scopes: [read], rateLimit: { points: 50, duration: 10 } }
routes:
  - { id: api, path: /api, upstream: "${originUrl}", scopes: [read], rateLimit: { points: 1000000, duration: 60 } }
  - { id: basic, path: /basic, upstream: "${originUrl}", auth: [basic] }
  - { id: open, path: /open, upstream: "${originUrl}", auth: [], rateLimit: { points: 200, duration: 1, by: route } }
`,
  )
  const gateway = spawn(process.execPath, ['dist/bin.js', '--config', configFile], { stdio: ['ignore', 'inherit', 'inherit'] })
  const base = `http://127.0.0.1:${gatewayPort}`
  for (let i = 0; i < 100; i++) {
    if (
      await fetch(`${base}/.well-known/jwks.json`).then(
        (r) => r.ok,
        () => false,
      )
    )
      break
    await sleep(100)
  }
  const token = async (id: string, secret: string) => {
    const res = await fetch(`${base}/oauth/token`, {
      method: 'POST',
      headers: { authorization: 'Basic ' + Buffer.from(`${id}:${secret}`).toString('base64'), 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    })
    return ((await res.json()) as { access_token: string }).access_token
  }
  const [appToken, cappedToken] = [await token('app', 'app-secret'), await token('capped', 'capped-secret')]
  await sleep(500)
  const before = await footprint(gateway.pid!)

  const run = (title: string, requests: autocannon.Request[], connections: number) => autocannon({ title, url: base, connections, duration: SECONDS, requests })
  const basicApp = 'Basic ' + Buffer.from('app:app-secret').toString('base64')
  const runs = Promise.all([
    run('valid bearer', [{ method: 'GET', path: '/api/items', headers: { authorization: `Bearer ${appToken}` } }], 8),
    run('valid basic', [{ method: 'GET', path: '/basic/items', headers: { authorization: basicApp } }], 4),
    run(
      'invalid',
      [
        { method: 'GET', path: '/api/items', headers: { authorization: 'Bearer not-a-token' } },
        { method: 'GET', path: '/api/items' },
        { method: 'GET', path: '/api/%2e%2e/admin' },
        {
          method: 'POST',
          path: '/oauth/token',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: 'grant_type=client_credentials&client_id=app&client_secret=wrong',
        },
      ],
      2,
    ),
    run(
      'over limit',
      [
        { method: 'GET', path: '/api/items', headers: { authorization: `Bearer ${cappedToken}` } },
        { method: 'GET', path: '/open/x' },
      ],
      2,
    ),
  ])
  // Half-way through: Redis goes away for three seconds, then comes back empty.
  await sleep((SECONDS * 1000) / 2)
  await stop(redis)
  console.error('redis stopped')
  await sleep(3000)
  redis = await startRedis(redisPort)
  console.error('redis restarted')
  const results = await runs
  // Past the upstream pool's 10 s keep-alive, so that idle kept-alive sockets have closed.
  await sleep(12_000)
  const after = await footprint(gateway.pid!)

  let failures = 0
  console.log(`\n${SECONDS} s, Redis stopped for 3 s half-way through\n`)
  console.log('| mix | connections | requests | req/s | p99 ms | status codes | errors |')
  console.log('| --- | --- | --- | --- | --- | --- | --- |')
  for (const r of results) {
    const codes = Object.entries(r.statusCodeStats ?? {})
      .map(([code, { count }]) => `${code}: ${count}`)
      .join(', ')
    const fivexx = Object.entries(r.statusCodeStats ?? {})
      .filter(([code]) => code.startsWith('5'))
      .reduce((n, [, { count }]) => n + (count ?? 0), 0)
    failures += fivexx + r.errors + r.timeouts
    console.log(
      `| ${r.title} | ${r.connections} | ${r.requests.total} | ${Math.round(r.requests.average)} | ${r.latency.p99} | ${codes} | ${r.errors + r.timeouts} |`,
    )
  }
  console.log(
    `\ngateway RSS: ${Math.round(before.rssKiB / 1024)} MiB before, ${Math.round(after.rssKiB / 1024)} MiB after; open sockets: ${before.sockets} before, ${after.sockets} 12 s after`,
  )
  if (after.sockets > before.sockets + 2) {
    console.error(`FAILED: ${after.sockets - before.sockets} more sockets open than before the run`)
    failures++
  }

  await stop(gateway)
  await stop(redis)
  origin.close()
  if (failures > 0) {
    console.error(`FAILED: ${failures} 5xx answers, errors or timeouts`)
    process.exit(1)
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
