// `npm run bench`: the gateway beside nginx on the same machine, in the same run (issue 10). Starts
// on loopback a keep-alive upstream, a private redis-server, the built gateway on a bench config (and
// a second one with 1,000 routes and 10,000 clients), and nginx with proxy_pass and upstream
// keep-alive as the reference; then runs each scenario with wrk (-t1 -c50), rounds interleaved, and
// writes the medians to bench/results/latest.md. CPU per request is the process's utime + stime over
// the run (from /proc) divided by the requests: far steadier than req/s on a shared machine.
// nginx, wrk and redis-server come from Debian's packages when missing (as root with apt-get);
// without nginx or wrk it says so (wrk: autocannon instead, which shares the gateway's cores).
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateSecret, hashGeneratedSecret } from '../src/config/secret-hash.js'
import { freePort, startRedis, stop } from '../scripts/processes.js'

const ROUNDS = Number(process.env.BENCH_ROUNDS || 5)
const SECONDS = Number(process.env.BENCH_SECONDS || 5)
const CONNECTIONS = 50
/** BENCH_ONLY=regex: only the scenarios whose name matches (the reference rows always run). */
const ONLY = process.env.BENCH_ONLY ? new RegExp(process.env.BENCH_ONLY, 'i') : undefined
/** BENCH_PROFILE=dir: the gateways run under `node --cpu-prof` and write their profiles there. */
const PROFILE = process.env.BENCH_PROFILE
/** The soak after the rounds: Bearer at half the measured rate, RSS sampled; 0 skips it. */
const SOAK_SECONDS = Number(process.env.BENCH_SOAK_SECONDS ?? 60)
const TICKS = 100 // clock ticks per second (getconf CLK_TCK on Linux)
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const has = (cmd: string, arg = '-v') => spawnSync(cmd, [arg], { stdio: 'ignore' }).error === undefined

async function waitFor(url: string, init: RequestInit = {}): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (
      await fetch(url, init).then(
        () => true,
        () => false,
      )
    )
      return
    await sleep(50)
  }
  throw new Error(`${url} did not come up`)
}

/** utime + stime, in seconds, of these processes. */
async function cpuSeconds(pids: readonly number[]): Promise<number> {
  let ticks = 0
  for (const pid of pids) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    ticks += Number(fields[11]) + Number(fields[12])
  }
  return ticks / TICKS
}

const rssMiB = async (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))![1]) / 1024

interface Run {
  /** Answers other than 2xx, and socket errors: a benchmark of refusals would flatter. */
  readonly failed: number
  readonly rps: number
  readonly p50: number
  readonly p99: number
  readonly requests: number
}

/** One load run with wrk, or autocannon when wrk is missing. Latencies in ms. */
async function load(url: string, headers: Record<string, string>, method = 'GET', body?: string, seconds = SECONDS): Promise<Run> {
  if (has('wrk', '--version')) {
    const dir = await mkdtemp(join(tmpdir(), 'bench-'))
    const script = join(dir, 'req.lua')
    await writeFile(
      script,
      `wrk.method = ${JSON.stringify(method)}\n${body ? `wrk.body = ${JSON.stringify(body)}\n` : ''}${Object.entries(headers)
        .map(([k, v]) => `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`)
        .join('\n')}\n`,
    )
    // Not execFileSync: the upstream runs in this process and must keep answering meanwhile.
    const out = await new Promise<string>((resolve, reject) => {
      const proc = spawn('wrk', ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', '-s', script, url], { stdio: ['ignore', 'pipe', 'inherit'] })
      let text = ''
      proc.stdout.on('data', (d: Buffer) => (text += d.toString()))
      proc.once('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`wrk exited with ${code}`))))
    })
    const ms = (text: string | undefined) => {
      const m = /([\d.]+)(us|ms|s)/.exec(text ?? '')
      if (!m) return NaN
      return Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1)
    }
    return {
      rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)![1]),
      p50: ms(/\s50%\s+(\S+)/.exec(out)?.[1]),
      p99: ms(/\s99%\s+(\S+)/.exec(out)?.[1]),
      requests: Number(/(\d+) requests in/.exec(out)![1]),
      failed:
        Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0) +
        Number(
          /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/
            .exec(out)
            ?.slice(1)
            .reduce((a, b) => a + Number(b), 0) ?? 0,
        ),
    }
  }
  const { default: autocannon } = await import('autocannon')
  const result = await autocannon({ url, connections: CONNECTIONS, duration: seconds, method: method as 'GET', headers, ...(body ? { body } : {}) })
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result.requests.total,
    failed: result.non2xx + result.errors + result.timeouts,
  }
}

function nginxConfig(dir: string, port: number, upstreamPort: number): string {
  return `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  upstream origin { server 127.0.0.1:${upstreamPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
`
}

/** Installs the reference tools from Debian's packages when they are missing and we may (root, apt-get). */
function installMissing(): void {
  const missing = [has('nginx') ? [] : ['nginx-light'], has('wrk', '--version') ? [] : ['wrk'], has('redis-server') ? [] : ['redis-server']].flat()
  if (missing.length === 0 || process.getuid?.() !== 0 || !has('apt-get', '--version')) return
  console.log(`installing ${missing.join(', ')} from Debian's packages (apt-get)`)
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  if (spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...missing], { stdio: 'inherit', env }).status !== 0) {
    spawnSync('apt-get', ['update'], { stdio: 'inherit', env })
    spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...missing], { stdio: 'inherit', env })
  }
}

async function main() {
  installMissing()
  const tools = { nginx: has('nginx'), wrk: has('wrk', '--version'), redis: has('redis-server') }
  if (!tools.wrk) console.log('wrk is not installed (apt-get install wrk): using autocannon, which shares the cores it measures')
  if (!tools.nginx) console.log('nginx is not installed (apt-get install nginx-light): no reference row')
  if (!tools.redis) throw new Error('redis-server is needed for the rate-limit scenario (apt-get install redis-server)')

  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-bench-'))
  const [upstreamPort, redisPort, gatewayPort, bigPort, nginxPort, floorPort] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ])
  const upstream = createServer({ keepAliveTimeout: 60_000 }, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': '11' }).end('{"ok":true}')
  })
  await new Promise<void>((resolve) => upstream.listen(upstreamPort, '127.0.0.1', resolve))
  const redis = await startRedis(redisPort)

  // A secret as `gatehouse new-client` makes it: 256 random bits, stored as a $sha256$ hash.
  const secret = generateSecret()
  const hash = hashGeneratedSecret(secret)
  const origin = `http://127.0.0.1:${upstreamPort}`
  const small = `
server: { host: 127.0.0.1, port: ${gatewayPort}, logLevel: warn, maxInFlightPerAddress: 1000 }
store: { redis: "redis://127.0.0.1:${redisPort}" }
tokens: { accessTokenTtl: 1h }
tokenEndpoint: { rateLimit: { points: 100000000, duration: 60 }, failureLimit: { points: 100000000, duration: 60 } }
clients: [{ id: bench, secretHash: "${hash}", scopes: [read] }]
routes:
  - { id: public, path: /public, upstream: "${origin}", auth: [] }
  - { id: bearer, path: /bearer, upstream: "${origin}" }
  - { id: limited, path: /limited, upstream: "${origin}", rateLimit: { points: 100000000, duration: 60 } }
  - { id: synced, path: /synced, upstream: "${origin}", rateLimit: { points: 100000000, duration: 60, syncMs: 100 } }
  - { id: basic, path: /basic, upstream: "${origin}", auth: [basic] }
`
  const bigRoutes = Array.from({ length: 1000 }, (_, i) => `  - { id: r${i}, path: /svc${i}/api, upstream: "${origin}" }`).join('\n')
  const bigClients = Array.from({ length: 10_000 }, (_, i) => `  - { id: c${i}, secretHash: "${hash}", scopes: [read] }`).join('\n')
  const big = `
server: { host: 127.0.0.1, port: ${bigPort}, logLevel: warn, maxInFlightPerAddress: 1000 }
tokenEndpoint: { rateLimit: { points: 100000000, duration: 60 } }
clients:
  - { id: bench, secretHash: "${hash}", scopes: [read] }
${bigClients}
routes:
${bigRoutes}
  - { id: bearer, path: /bearer, upstream: "${origin}" }
`
  await writeFile(join(dir, 'small.yaml'), small)
  await writeFile(join(dir, 'big.yaml'), big)
  const keyFile = join(dir, 'signing.jwk')
  execFileSync(process.execPath, ['dist/bin.js', 'gen-key', '--out', keyFile], { stdio: 'ignore' })
  for (const f of ['small.yaml', 'big.yaml']) {
    const text = await readFile(join(dir, f), 'utf8')
    await writeFile(join(dir, f), text.replace('server:', `signing: { keyFile: "${keyFile}" }\nserver:`))
  }

  const startGateway = async (file: string, port: number) => {
    const started = performance.now()
    const profile = PROFILE ? ['--cpu-prof', '--cpu-prof-dir', PROFILE] : []
    const proc = spawn(process.execPath, [...profile, '--max-semi-space-size=16', 'dist/bin.js', '--config', file], { stdio: ['ignore', 'ignore', 'inherit'] })
    await waitFor(`http://127.0.0.1:${port}/.well-known/jwks.json`)
    return { proc, startMs: performance.now() - started }
  }
  const gateway = await startGateway(join(dir, 'small.yaml'), gatewayPort)
  const bigGateway = await startGateway(join(dir, 'big.yaml'), bigPort)

  // The floor: what a Node proxy that does nothing but forward costs (bench/floor.ts).
  const floor = spawn(process.execPath, ['--max-semi-space-size=16', 'dist-scripts/bench/floor.js', String(floorPort), `http://127.0.0.1:${upstreamPort}`], {
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  await waitFor(`http://127.0.0.1:${floorPort}/`)

  let nginx: ChildProcess | undefined
  if (tools.nginx) {
    await writeFile(join(dir, 'nginx.conf'), nginxConfig(dir, nginxPort, upstreamPort))
    nginx = spawn('nginx', ['-c', join(dir, 'nginx.conf'), '-p', dir], { stdio: 'ignore' })
    await waitFor(`http://127.0.0.1:${nginxPort}/`)
  }
  const nginxPids = async () => {
    const children = execFileSync('ps', ['-o', 'pid=', '--ppid', String(nginx!.pid)], { encoding: 'utf8' })
      .split('\n')
      .map(Number)
      .filter(Boolean)
    return [nginx!.pid!, ...children]
  }

  const tokenOf = async (port: number) => {
    const res = await fetch(`http://127.0.0.1:${port}/oauth/token`, {
      method: 'POST',
      headers: { authorization: 'Basic ' + Buffer.from(`bench:${secret}`).toString('base64'), 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    })
    return ((await res.json()) as { access_token: string }).access_token
  }
  const bearer = { authorization: `Bearer ${await tokenOf(gatewayPort)}` }
  const bigBearer = { authorization: `Bearer ${await tokenOf(bigPort)}` }
  const basic = { authorization: 'Basic ' + Buffer.from(`bench:${secret}`).toString('base64') }
  const g = `http://127.0.0.1:${gatewayPort}`

  interface Scenario {
    readonly name: string
    readonly url: string
    readonly headers?: Record<string, string>
    readonly method?: string
    readonly body?: string
    readonly pids: () => Promise<number[]>
    readonly gateway?: boolean
  }
  const gw = async () => [gateway.proc.pid!]
  const allScenarios: Scenario[] = [
    { name: 'bare upstream', url: `${origin}/x`, pids: async () => [process.pid] },
    ...(nginx ? [{ name: 'nginx proxy_pass (keep-alive, 1 worker)', url: `http://127.0.0.1:${nginxPort}/x`, pids: nginxPids }] : []),
    { name: 'Node floor: node:http + undici, nothing else', url: `http://127.0.0.1:${floorPort}/x`, pids: async () => [floor.pid!] },
    { name: 'gatehouse, public route', url: `${g}/public/x`, pids: gw, gateway: true },
    { name: 'gatehouse, Bearer', url: `${g}/bearer/x`, headers: bearer, pids: gw, gateway: true },
    { name: 'gatehouse, Bearer + Redis rate limit', url: `${g}/limited/x`, headers: bearer, pids: gw, gateway: true },
    { name: 'gatehouse, Bearer + Redis rate limit, syncMs: 100', url: `${g}/synced/x`, headers: bearer, pids: gw, gateway: true },
    { name: 'gatehouse, HTTP Basic', url: `${g}/basic/x`, headers: basic, pids: gw, gateway: true },
    {
      name: 'gatehouse, token endpoint (client_credentials, Basic)',
      url: `${g}/oauth/token`,
      method: 'POST',
      headers: { ...basic, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
      pids: gw,
      gateway: true,
    },
    {
      name: 'gatehouse, Bearer, 1,000 routes and 10,000 clients',
      url: `http://127.0.0.1:${bigPort}/bearer/x`,
      headers: bigBearer,
      pids: async () => [bigGateway.proc.pid!],
      gateway: true,
    },
  ]

  const scenarios = allScenarios.filter((s) => !s.gateway || !ONLY || ONLY.test(s.name))
  // Warm-up: JIT (V8 keeps optimising for a few seconds), pools, caches; not measured.
  for (const s of scenarios) await load(s.url, s.headers ?? {}, s.method, s.body, 3)
  const runs = new Map<string, (Run & { cpuUs: number })[]>()
  for (let round = 0; round < ROUNDS; round++) {
    for (const s of scenarios) {
      const pids = await s.pids()
      const before = await cpuSeconds(pids)
      const run = await load(s.url, s.headers ?? {}, s.method, s.body)
      const cpuUs = (((await cpuSeconds(pids)) - before) * 1e6) / Math.max(1, run.requests)
      runs.set(s.name, [...(runs.get(s.name) ?? []), { ...run, cpuUs }])
      console.log(
        `round ${round + 1}: ${s.name}: ${run.rps.toFixed(0)} req/s, p50 ${run.p50.toFixed(2)} ms, p99 ${run.p99.toFixed(2)} ms, ${cpuUs.toFixed(1)} µs CPU/req${run.failed ? `, ${run.failed} failed` : ''}`,
      )
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  const med = (name: string, key: keyof (Run & { cpuUs: number })) => median(runs.get(name)!.map((r) => r[key]))
  const reference = nginx ? 'nginx proxy_pass (keep-alive, 1 worker)' : undefined
  const rows = scenarios.map((s) => {
    const ratio = reference && s.name !== 'bare upstream' ? (med(s.name, 'rps') / med(reference, 'rps')).toFixed(2) + ' ×' : ''
    const cpu = s.name === 'bare upstream' ? '' : `${med(s.name, 'cpuUs').toFixed(1)} µs`
    const failed = runs.get(s.name)!.reduce((sum, r) => sum + r.failed, 0)
    return `| ${s.name} | ${med(s.name, 'rps').toFixed(0)} | ${med(s.name, 'p50').toFixed(2)} | ${med(s.name, 'p99').toFixed(2)} | ${ratio} | ${cpu} | ${failed} |`
  })
  // Soak: Bearer requests at half the rate measured above, for SOAK_SECONDS; RSS every 5 s. A
  // gateway that leaks grows through it; one that does not stays within a few percent.
  let soak = ''
  const bearerName = 'gatehouse, Bearer'
  if (SOAK_SECONDS > 0 && runs.has(bearerName)) {
    const rate = Math.round(med(bearerName, 'rps') / 2)
    const { default: autocannon } = await import('autocannon')
    const samples: number[] = []
    const sampler = setInterval(() => void rssMiB(gateway.proc.pid!).then((r) => samples.push(r)), 5_000)
    const result = await autocannon({ url: `${g}/bearer/x`, headers: bearer, connections: 20, duration: SOAK_SECONDS, overallRate: rate })
    clearInterval(sampler)
    const settled = samples.slice(2) // after the first 10 s
    const low = Math.min(...settled)
    const high = Math.max(...settled)
    soak = `Soak: Bearer at ${rate} req/s (half the rate above) for ${SOAK_SECONDS} s, ${result.requests.total} requests, ${result.non2xx + result.errors} not 2xx; RSS sampled every 5 s after the first 10: ${settled.map((r) => r.toFixed(0)).join(', ')} MiB (spread ${((100 * (high - low)) / low).toFixed(1)} %).\n`
    console.log(soak)
  }
  const rss = await rssMiB(gateway.proc.pid!)
  const bigRss = await rssMiB(bigGateway.proc.pid!)
  const versions = {
    node: process.version,
    nginx: nginx ? spawnSync('nginx', ['-v'], { encoding: 'utf8' }).stderr.trim().replace('nginx version: ', '') : 'not installed',
    wrk: tools.wrk ? spawnSync('wrk', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0]!.trim() : 'not installed (autocannon)',
  }
  const report = `# Benchmark: gatehouse beside nginx

${new Date().toISOString().slice(0, 10)}, ${cpus().length} × ${cpus()[0]?.model.trim()}, Node ${versions.node}, ${versions.nginx}, ${versions.wrk}.
${tools.wrk ? `wrk -t1 -c${CONNECTIONS} -d${SECONDS}s` : `autocannon -c${CONNECTIONS} -d${SECONDS}`}, ${ROUNDS} interleaved rounds, medians; one gateway process, one nginx worker,
the same keep-alive upstream, all on one machine. CPU per request: the process's utime + stime over
the run divided by its requests (for nginx, master and worker). Reproduce with \`npm run bench\`.

| scenario | req/s | p50 ms | p99 ms | × nginx req/s | CPU per request | not 2xx |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
${rows.join('\n')}

Gateway RSS after the run: ${rss.toFixed(0)} MiB (small config), ${bigRss.toFixed(0)} MiB (1,000 routes, 10,000 clients).
Start until the first answer: ${gateway.startMs.toFixed(0)} ms (small config), ${bigGateway.startMs.toFixed(0)} ms (1,000 routes, 10,000 clients).
${soak}`
  await mkdir('bench/results', { recursive: true })
  await writeFile('bench/results/latest.md', report)
  console.log('\n' + report)

  for (const proc of [gateway.proc, bigGateway.proc, floor, ...(nginx ? [nginx] : []), redis]) await stop(proc)
  upstream.closeAllConnections()
  upstream.close()
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
