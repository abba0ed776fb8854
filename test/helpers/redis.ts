// A real redis-server for tests, on a free port, started and stopped by its PID. Without the
// binary, REDIS_URL is used when set (outage tests then skip: they cannot stop that server);
// with neither, Redis tests are skipped with a printed reason, except under CI=true, where that
// is a failure.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'
import { freePort, sleep, tempDir } from './index.js'

export const hasRedisBinary = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0
const externalUrl = process.env.REDIS_URL || undefined

/** Whether Redis tests can run here; prints why not, and fails under CI. */
export function redisAvailable(needsOwnServer = false): boolean {
  if (hasRedisBinary) return true
  if (!needsOwnServer && externalUrl) return true
  const why = needsOwnServer ? 'redis-server is not on PATH (this test stops and restarts it)' : 'redis-server is not on PATH and REDIS_URL is not set'
  if (process.env.CI === 'true') throw new Error(`Redis tests cannot run: ${why}. .ci/run installs redis-server.`)
  console.warn(`skipping Redis tests: ${why}`)
  return false
}

export interface RedisServer {
  readonly url: string
  /** Empties the database, so that tests in one file do not share counters. */
  flush(): Promise<void>
  /** Makes Redis answer nothing for `seconds` (DEBUG SLEEP), as an overloaded Redis would. */
  stall(seconds: number): Promise<void>
  /** Stops the server (SIGTERM to its PID) and waits until it has exited. */
  stop(): Promise<void>
  /** Starts it again on the same port (nothing to do when it is running). */
  start(): Promise<void>
  close(): Promise<void>
}

export async function startRedis(): Promise<RedisServer> {
  if (!hasRedisBinary) {
    const url = externalUrl!
    return { url, flush: () => flushAt(url), stall: unsupported, stop: unsupported, start: unsupported, close: async () => undefined }
  }
  const port = await freePort()
  const url = `redis://127.0.0.1:${port}`
  let child: ChildProcess | undefined
  const start = async () => {
    if (child && child.exitCode === null) return
    child = await spawnRedisServer(['--port', String(port), ...EPHEMERAL])
  }
  const stop = async () => {
    const proc = child
    child = undefined
    if (proc) await stopProcess(proc)
  }
  await start()
  const stall = async (seconds: number) => {
    const client = new Redis(url, { lazyConnect: true })
    await client.connect()
    // Not awaited: the reply comes only when the sleep ends; the connection is dropped then.
    void client.call('DEBUG', 'SLEEP', String(seconds)).finally(() => client.disconnect())
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return { url, flush: () => flushAt(url), stall, stop, start, close: stop }
}

/** Loopback only, nothing on disk, DEBUG allowed (to stall or crash it on purpose). */
const EPHEMERAL = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--enable-debug-command', 'local']

/** A self-signed certificate for localhost and 127.0.0.1, which TLS servers here present. */
export const TEST_CERT = fileURLToPath(new URL('../fixtures/self-signed-cert.pem', import.meta.url))
const TEST_KEY = fileURLToPath(new URL('../fixtures/self-signed-key.pem', import.meta.url))
/** Ports that speak TLS only: redisCommand talks TLS to them, trusting TEST_CERT. */
const tlsPorts = new Set<number>()

/** Arguments for a server on `port`: plain, or TLS only (and TLS to its master and its cluster bus). */
function listenArgs(port: number, tls: boolean): string[] {
  if (!tls) return ['--port', String(port)]
  tlsPorts.add(port)
  return [
    '--port',
    '0',
    '--tls-port',
    String(port),
    '--tls-cert-file',
    TEST_CERT,
    '--tls-key-file',
    TEST_KEY,
    '--tls-ca-cert-file',
    TEST_CERT,
    '--tls-auth-clients',
    'no',
    '--tls-replication',
    'yes',
  ]
}

/** Starts redis-server with `args` and waits until it says it is ready (a sentinel: monitoring). */
async function spawnRedisServer(args: string[], ready = 'Ready to accept connections'): Promise<ChildProcess> {
  const proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('redis-server did not start within 5 s')), 5_000)
    let out = ''
    proc.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      if (out.includes(ready)) {
        clearTimeout(timer)
        resolve()
      }
    })
    proc.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${out.slice(-500)}`)))
  })
  proc.stdout.resume()
  return proc
}

/** SIGTERM to its PID, and waits until it has exited (at once when it already has). */
async function stopProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return
  const exited = new Promise((resolve) => proc.once('exit', resolve))
  process.kill(proc.pid!, 'SIGTERM')
  await exited
}

/** One command on one node, on a connection of its own that never retries. */
export async function redisCommand(port: number, ...args: (string | number)[]): Promise<unknown> {
  const tls = tlsPorts.has(port) ? { tls: { ca: readFileSync(TEST_CERT) } } : {}
  const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, connectTimeout: 1_000, ...tls })
  client.on('error', () => undefined)
  try {
    await client.connect()
    return await client.call(String(args[0]), ...args.slice(1))
  } finally {
    client.disconnect()
  }
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const started = Date.now()
  for (;;) {
    if (await check().catch(() => false)) return
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await sleep(50)
  }
}

/** Ports that were free a moment ago, all different. */
async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>()
  while (ports.size < count) ports.add(await freePort())
  return [...ports]
}

// ---------------------------------------------------------------------------------------------
// A Redis Cluster of three masters and three replicas on loopback, each node a redis-server with
// its own temp dir, created by `redis-cli --cluster create` and stopped by PID. A node that stops
// answering is marked failed after `cluster-node-timeout` (1 s here; 15 s by default), and its
// replica then takes over.

export interface RedisCluster {
  /** The nodes' ports, as started: the first three were made masters. */
  readonly ports: readonly number[]
  /** The master that holds `key`'s slot now, and its replicas (ports). */
  shardOf(key: string): Promise<{ master: number; replicas: number[] }>
  /** DEBUG SEGFAULT on a node: it dies at once, as a crash would; waits until its process is gone. */
  crash(port: number): Promise<void>
  /** Waits until `replica` is a master, and every running node says so and cluster_state:ok. */
  waitForTakeover(replica: number): Promise<void>
  /** Empties every master. */
  flush(): Promise<void>
  close(): Promise<void>
}

/** CLUSTER SLOTS: each range with its master, then its replicas, as [host, port, id]. */
type SlotRanges = [number, number, ...[string, number][]][]

/** `tls`: every node speaks TLS only, also on its cluster bus, with TEST_CERT. */
export async function startRedisCluster({ tls = false } = {}): Promise<RedisCluster> {
  const dir = await tempDir()
  const ports = await freePorts(12) // a client port and a cluster bus port for each of six nodes
  const nodes = new Map<number, ChildProcess>()
  const running = () => [...nodes].filter(([, proc]) => proc.exitCode === null && proc.signalCode === null).map(([port]) => port)
  const close = async () => {
    await Promise.all([...nodes.values()].map(stopProcess))
    await rm(dir, { recursive: true, force: true })
  }
  try {
    await Promise.all(
      ports.slice(0, 6).map(async (port, i) => {
        const args = [
          ...listenArgs(port, tls),
          '--cluster-port',
          String(ports[6 + i]),
          ...EPHEMERAL,
          ...(tls ? ['--tls-cluster', 'yes'] : []),
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(dir, `nodes-${port}.conf`),
          '--dir',
          dir,
          '--cluster-node-timeout',
          '1000',
          // A replica syncs at once, and may take over however long ago it last heard its master
          // (the test crashes a master a second or two after the cluster is made). CLUSTER SLOTS
          // lists a replica once its replication offset has moved, which a master's ping to its
          // replicas does: every second, not every 10.
          '--repl-diskless-sync-delay',
          '0',
          '--cluster-replica-validity-factor',
          '0',
          '--repl-ping-replica-period',
          '1',
        ]
        nodes.set(port, await spawnRedisServer(args))
      }),
    )
    const addresses = ports.slice(0, 6).map((port) => `127.0.0.1:${port}`)
    const cliTls = tls ? ['--tls', '--cacert', TEST_CERT] : []
    await promisify(execFile)('redis-cli', [...cliTls, '--cluster', 'create', ...addresses, '--cluster-replicas', '1', '--cluster-yes'])
    const paired = async (port: number) => ((await redisCommand(port, 'CLUSTER', 'SLOTS')) as SlotRanges).every((range) => range.length > 3)
    await until(
      'the cluster to be ok, every replica in sync, and known to every node',
      async () => (await healthy(ports.slice(0, 6))) && (await Promise.all(ports.slice(0, 6).map(paired))).every(Boolean),
      15_000,
    )
  } catch (err) {
    await close()
    throw err
  }

  /** Every node in `among` says cluster_state:ok, and every replica among them is in sync. */
  async function healthy(among: number[]): Promise<boolean> {
    for (const port of among) {
      if (!String(await redisCommand(port, 'CLUSTER', 'INFO')).includes('cluster_state:ok')) return false
      const replication = String(await redisCommand(port, 'INFO', 'replication'))
      if (!replication.includes('role:master') && !replication.includes('master_link_status:up')) return false
    }
    return true
  }
  const mastersSeenBy = async (port: number) => ((await redisCommand(port, 'CLUSTER', 'SLOTS')) as SlotRanges).map((range) => Number(range[2]![1]))
  async function shardOf(key: string) {
    const [port] = running()
    const slot = Number(await redisCommand(port!, 'CLUSTER', 'KEYSLOT', key))
    const ranges = (await redisCommand(port!, 'CLUSTER', 'SLOTS')) as SlotRanges
    const range = ranges.find(([from, to]) => from <= slot && slot <= to)
    if (!range) throw new Error(`no node serves slot ${slot}`)
    const [, , ...servers] = range // the master first, then its replicas: [host, port, id]
    return { master: Number(servers[0]![1]), replicas: servers.slice(1).map((r) => Number(r[1])) }
  }

  return {
    ports: ports.slice(0, 6),
    shardOf,
    async crash(port) {
      const proc = nodes.get(port)!
      const exited = new Promise((resolve) => proc.once('exit', resolve))
      await redisCommand(port, 'DEBUG', 'SEGFAULT').catch(() => undefined) // no answer: it is gone
      await exited
    },
    async waitForTakeover(replica) {
      await until(
        `${replica} to take over`,
        async () => {
          if (!String(await redisCommand(replica, 'ROLE')).startsWith('master') || !(await healthy(running()))) return false
          for (const port of running()) if (!(await mastersSeenBy(port)).includes(replica)) return false // news travels by gossip
          return true
        },
        15_000,
      )
    },
    async flush() {
      for (const port of running()) {
        if (String(await redisCommand(port, 'ROLE')).startsWith('master')) await redisCommand(port, 'FLUSHALL')
      }
    },
    close,
  }
}

// ---------------------------------------------------------------------------------------------
// Redis Sentinel: a master, its replica, and one sentinel that monitors them (quorum 1), each a
// redis-server stopped by PID.

export interface RedisSentinel {
  /** The sentinel's port. */
  readonly port: number
  readonly masterName: string
  /** The master and the replica, as started. */
  readonly master: number
  readonly replica: number
  /** The port of the master the sentinel names now. */
  currentMaster(): Promise<number>
  /** SENTINEL FAILOVER; waits until the sentinel names the replica and the replica is master. */
  failover(): Promise<void>
  close(): Promise<void>
}

/** `tls`: the master, the replica and the sentinel speak TLS only, with TEST_CERT. */
export async function startRedisSentinel({ tls = false } = {}): Promise<RedisSentinel> {
  const dir = await tempDir()
  const [master, replica, port] = (await freePorts(3)) as [number, number, number]
  const masterName = 'gatehouse'
  const procs: ChildProcess[] = []
  const close = async () => {
    await Promise.all(procs.map(stopProcess))
    await rm(dir, { recursive: true, force: true })
  }
  const currentMaster = async () => Number(((await redisCommand(port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', masterName)) as string[])[1])
  try {
    // In the temp dir: a replica writes what it receives from its master to disk.
    procs.push(await spawnRedisServer([...listenArgs(master, tls), ...EPHEMERAL, '--dir', dir, '--repl-diskless-sync-delay', '0']))
    procs.push(await spawnRedisServer([...listenArgs(replica, tls), ...EPHEMERAL, '--dir', dir, '--replicaof', '127.0.0.1', String(master)]))
    await until('the replica to be in sync', async () => String(await redisCommand(replica, 'INFO', 'replication')).includes('master_link_status:up'), 10_000)
    // Started once both answer, or it would count the master down before it was ever up.
    const conf = join(dir, 'sentinel.conf') // a sentinel rewrites its config file, so it needs one
    if (tls) tlsPorts.add(port)
    await writeFile(
      conf,
      [
        ...(tls
          ? [
              'port 0',
              `tls-port ${port}`,
              `tls-cert-file ${TEST_CERT}`,
              `tls-key-file ${TEST_KEY}`,
              `tls-ca-cert-file ${TEST_CERT}`,
              'tls-auth-clients no',
              'tls-replication yes',
            ]
          : [`port ${port}`]),
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${masterName} 127.0.0.1 ${master} 1`,
        `sentinel down-after-milliseconds ${masterName} 1000`,
        `sentinel failover-timeout ${masterName} 10000`,
      ].join('\n') + '\n',
    )
    procs.push(await spawnRedisServer([conf, '--sentinel'], '+monitor master'))
    await until(
      'the sentinel to know the replica',
      async () => String(await redisCommand(port, 'SENTINEL', 'REPLICAS', masterName)).includes(String(replica)),
      10_000,
    )
  } catch (err) {
    await close()
    throw err
  }
  return {
    port,
    masterName,
    master,
    replica,
    currentMaster,
    async failover() {
      await redisCommand(port, 'SENTINEL', 'FAILOVER', masterName)
      await until(
        'the replica to take over',
        async () => (await currentMaster()) === replica && String(await redisCommand(replica, 'ROLE')).startsWith('master'),
        10_000,
      )
    },
    close,
  }
}

async function flushAt(url: string) {
  const client = new Redis(url, { lazyConnect: true })
  await client.connect()
  await client.flushdb()
  client.disconnect()
}

async function unsupported(): Promise<void> {
  throw new Error('this test needs its own redis-server')
}
