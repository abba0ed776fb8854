// Who is at the other end: the socket address, unless that address is a trusted proxy; then
// X-Forwarded-For is walked from the right, skipping trusted hops (proxy-addr, as Express and
// fastify do). What an untrusted peer claims in X-Forwarded-* changes nothing.
import type { IncomingMessage } from 'node:http'
import proxyAddr from 'proxy-addr'
import { addressKey, addressWithoutPort, canonicalIp, type IpMatcher } from './cidr.js'

/** Client address chain and original protocol and host, as a reverse proxy reports them. */
export interface ForwardedFor {
  /** Client first, then each trusted proxy, ending with our peer (the X-Forwarded-For order). */
  readonly chain: readonly string[]
  readonly proto: string
  readonly host: string | undefined
}

export interface ClientAddress extends ForwardedFor {
  /** The client's IP, IPv4-mapped IPv6 folded to IPv4: what allow-lists check. */
  readonly ip: string
  /** What per-address limits count by: the IP, or for IPv6 its network (server.ipv6Subnet). */
  readonly key: string
}

const lastEntry = (value: string | string[] | undefined): string | undefined => {
  const text = Array.isArray(value) ? value[value.length - 1] : value
  if (text === undefined) return undefined
  const i = text.lastIndexOf(',')
  return (i === -1 ? text : text.slice(i + 1)).trim() || undefined
}

export function createClientAddressResolver(trustedProxies: IpMatcher, ipv6Subnet: number) {
  // A proxy may write `ip:port`; the port is no part of who the hop is.
  const trust = (address: string) => {
    const ip = addressWithoutPort(address)
    return ip !== undefined && trustedProxies.matches(ip)
  }
  const none = trustedProxies.entries.length === 0

  return function resolveClientAddress(req: IncomingMessage): ClientAddress {
    const peer = req.socket.remoteAddress ?? ''
    const defaultProto = (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http'
    if (none || !trust(peer)) {
      const ip = canonicalIp(peer)
      return { ip, key: addressKey(ip, ipv6Subnet), chain: [ip], proto: defaultProto, host: req.headers.host }
    }
    // proxy-addr: [peer, ...hops right to left, up to and including the first untrusted one]. A
    // hop that is no address at all ends the walk at the trusted proxy that wrote it, so that no
    // string a client made up becomes an address, a limiter key or an allow-list reading.
    const hops: string[] = []
    for (const hop of proxyAddr.all(req, trust)) {
      const ip = addressWithoutPort(hop)
      if (ip === undefined) break
      hops.push(ip)
    }
    const ip = hops[hops.length - 1]!
    const proto = lastEntry(req.headers['x-forwarded-proto'])?.toLowerCase()
    return {
      ip,
      key: addressKey(ip, ipv6Subnet),
      chain: hops.reverse(),
      proto: proto === 'http' || proto === 'https' ? proto : defaultProto,
      host: lastEntry(req.headers['x-forwarded-host']) ?? req.headers.host,
    }
  }
}
