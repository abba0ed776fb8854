// ioredis clients for the Redis that store.* names: one server (a URL), the master that sentinels
// point to, or a cluster. Every kind fails in milliseconds rather than waiting: no offline queue,
// short connect and command timeouts, no retries of a failed command (onRedisError decides).
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'
import type { RedisConnection } from '../config/compile.js'

/** Either kind answers the same commands; on a cluster each goes to the master of its key's slot. */
export type RedisClient = Redis | Cluster

const retryStrategy = (attempt: number) => Math.min(100 * attempt, 1_000)

const failFast = {
  enableOfflineQueue: false,
  connectTimeout: 1_000,
  commandTimeout: 500,
  maxRetriesPerRequest: 0,
} satisfies RedisOptions

type Mode<M extends RedisConnection['mode']> = Extract<RedisConnection, { mode: M }>

/** What ioredis is given. */
function redisOptions(connection: Mode<'server'> | Mode<'sentinels'>): RedisOptions
function redisOptions(connection: Mode<'cluster'>): ClusterOptions
function redisOptions(connection: RedisConnection): RedisOptions | ClusterOptions {
  switch (connection.mode) {
    case 'server':
      // Commands issued in the same tick go in one write.
      return { ...failFast, enableAutoPipelining: true, retryStrategy }
    case 'sentinels':
      return {
        ...failFast,
        enableAutoPipelining: true,
        retryStrategy,
        sentinels: connection.nodes.map(({ host, port }) => ({ host, port })),
        name: connection.masterName,
        username: connection.username,
        password: connection.password,
        sentinelPassword: connection.sentinelPassword,
        sentinelCommandTimeout: failFast.commandTimeout,
        // Told of a failover by the sentinels at once, rather than when the old master stops answering.
        failoverDetector: true,
        ...(connection.tls ? { tls: {}, enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
      }
    case 'cluster':
      return {
        enableOfflineQueue: false,
        // Not on a cluster: ioredis sends a node's commands of many slots as one pipeline, which
        // is not redirected when its commands get different MOVED or ASK answers, and which
        // waits past the command timeout while its master is gone: in the failover test,
        // requests were held for 2 s and more (about 0.5 s without it).
        enableAutoPipelining: false,
        clusterRetryStrategy: retryStrategy,
        redisOptions: {
          ...failFast,
          username: connection.username,
          password: connection.password,
          ...(connection.tls ? { tls: {} } : {}),
        },
        // With TLS, nodes are connected to by the names given, so that certificates for names match.
        ...(connection.tls ? { dnsLookup: (address: string, done: (err: null, address: string) => void) => done(null, address) } : {}),
      }
  }
}

export function createRedisClient(connection: RedisConnection): RedisClient {
  switch (connection.mode) {
    case 'server':
      return new Redis(connection.url, redisOptions(connection))
    case 'sentinels':
      return new Redis(redisOptions(connection))
    case 'cluster':
      return new Cluster(
        connection.nodes.map(({ host, port }) => ({ host, port })),
        redisOptions(connection),
      )
  }
}

/**
 * Makes the connection that revocations are received on. On one server or behind sentinels, a
 * copy of the client, which reconnects by itself. On a cluster, a connection to one node (a
 * message published on any node reaches every node), which ends when that node goes: the caller
 * then asks for another, and knows that messages may have been missed in between. (ioredis' own
 * cluster subscriber moves to another node silently, so a caller could not tell.)
 */
export function subscriberFactory(connection: RedisConnection, client: RedisClient): () => Redis {
  // autoResubscribe off: revocations.ts subscribes on every 'ready' itself, with its promise
  // handled; ioredis' own resubscription leaves its promise unhandled, and a connection killed
  // just after it is ready rejected it (MaxRetriesPerRequestError) as an unhandled rejection.
  if (connection.mode !== 'cluster') return () => (client as Redis).duplicate({ autoResubscribe: false })
  const cluster = client as Cluster
  return () => {
    const known = cluster.nodes('all').map((node) => ({ host: node.options.host, port: node.options.port }))
    const candidates = known.length > 0 ? known : connection.nodes
    const { host, port } = candidates[Math.floor(Math.random() * candidates.length)]!
    const options = redisOptions(connection).redisOptions!
    return new Redis({ ...options, host, port, retryStrategy: () => null, autoResubscribe: false })
  }
}
