// Who is at the other end: the socket address, unless that address is a trusted proxy; then
// X-Forwarded-For is walked from the right, skipping trusted hops (proxy-addr, as Express and
// fastify do). What an untrusted peer claims in X-Forwarded-* changes nothing.
import type { IncomingMessage } from 'node:http'
import proxyAddr from 'proxy-addr'
import { canonicalIp, type IpMatcher } from '../net/cidr.js'
import type { ForwardedFor } from './identity-headers.js'

export interface ClientAddress extends ForwardedFor {
  /** The client's IP, IPv4-mapped IPv6 folded to IPv4. */
  readonly ip: string
}

const lastEntry = (value: string | string[] | undefined): string | undefined => {
  const text = Array.isArray(value) ? value[value.length - 1] : value
  if (text === undefined) return undefined
  const i = text.lastIndexOf(',')
  return (i === -1 ? text : text.slice(i + 1)).trim() || undefined
}

export function createClientAddressResolver(trustedProxies: IpMatcher) {
  const trust = (address: string) => trustedProxies.matches(address)
  const none = trustedProxies.entries.length === 0

  return function resolveClientAddress(req: IncomingMessage): ClientAddress {
    const peer = req.socket.remoteAddress ?? ''
    const defaultProto = (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http'
    if (none || !trust(peer)) {
      const ip = canonicalIp(peer)
      return { ip, chain: [ip], proto: defaultProto, host: req.headers.host }
    }
    // proxy-addr: [peer, ...hops right to left, up to and including the first untrusted one]
    const hops = proxyAddr.all(req, trust).map(canonicalIp)
    const proto = lastEntry(req.headers['x-forwarded-proto'])?.toLowerCase()
    return {
      ip: hops[hops.length - 1]!,
      chain: hops.reverse(),
      proto: proto === 'http' || proto === 'https' ? proto : defaultProto,
      host: lastEntry(req.headers['x-forwarded-host']) ?? req.headers.host,
    }
  }
}
