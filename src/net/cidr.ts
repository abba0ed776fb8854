// IP addresses and CIDR ranges, compiled once into Node's BlockList (no hand-rolled CIDR maths).
import { BlockList, isIP } from 'node:net'
import ipaddr from 'ipaddr.js'

/**
 * Folds an IPv4-mapped IPv6 address to its IPv4 form, so one rule and one counter cover both; in
 * any spelling (`::ffff:10.0.0.1`, `::ffff:a00:1`, `0:0:0:0:0:ffff:a00:1`), through ipaddr.js.
 */
export function canonicalIp(address: string): string {
  // Every spelling of a mapped address names ffff; the parse is paid only by those that do.
  if (!/ffff/i.test(address) || isIP(address) !== 6) return address
  const parsed = ipaddr.IPv6.parse(address)
  return parsed.isIPv4MappedAddress() ? parsed.toIPv4Address().toString() : address
}

/** Returns why `entry` is not an address or CIDR, or undefined when it is one. */
export function cidrProblem(entry: string): string | undefined {
  const [address = '', prefix, extra] = entry.split('/')
  const family = isIP(address)
  if (family === 0 || extra !== undefined) return `"${entry}" is not an IP address or CIDR range`
  if (prefix === undefined) return undefined
  const max = family === 4 ? 32 : 128
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > max) return `"${entry}": prefix length must be 0..${max}`
  if (canonicalIp(address) !== address && Number(prefix) < 96) return `"${entry}": an IPv4-mapped range needs a prefix of 96 or more`
  return undefined
}

export interface IpMatcher {
  readonly entries: readonly string[]
  matches(address: string): boolean
}

/** Compiles validated entries (see cidrProblem) into a matcher. */
export function compileIpMatcher(entries: readonly string[]): IpMatcher {
  const list = new BlockList()
  for (const entry of entries) {
    const [address = '', prefix] = entry.split('/')
    const ip = canonicalIp(address)
    const type = isIP(ip) === 4 ? 'ipv4' : 'ipv6'
    if (prefix === undefined) list.addAddress(ip, type)
    else list.addSubnet(ip, ip === address ? Number(prefix) : Number(prefix) - 96, type)
  }
  return {
    entries,
    matches(address: string): boolean {
      const ip = canonicalIp(address)
      const family = isIP(ip)
      return family !== 0 && list.check(ip, family === 4 ? 'ipv4' : 'ipv6')
    },
  }
}

/**
 * An address as a proxy wrote it in X-Forwarded-For, without a port: `1.2.3.4`, `1.2.3.4:5678`
 * (Azure Application Gateway writes that), `[2001:db8::1]:5678`, `[2001:db8::1]` or `2001:db8::1`.
 * Undefined when it is no IP address at all.
 */
export function addressWithoutPort(text: string): string | undefined {
  let ip = text.trim()
  if (ip.startsWith('[')) {
    const end = ip.indexOf(']')
    if (end === -1 || !/^(?::\d{1,5})?$/.test(ip.slice(end + 1))) return undefined
    ip = ip.slice(1, end)
    return isIP(ip) === 6 ? canonicalIp(ip) : undefined
  }
  const colon = ip.indexOf(':')
  if (colon !== -1 && colon === ip.lastIndexOf(':') && /^\d{1,5}$/.test(ip.slice(colon + 1))) ip = ip.slice(0, colon) // IPv4:port
  return isIP(ip) === 0 ? undefined : canonicalIp(ip)
}

/**
 * What limits count an address by: an IPv4 address itself; an IPv6 address by its network of
 * `ipv6Subnet` bits, because one host is given a whole /64 (or more) and picks interface ids freely
 * (express-rate-limit v8 keys IPv6 the same way).
 */
export function addressKey(ip: string, ipv6Subnet: number): string {
  if (ipv6Subnet >= 128 || isIP(ip) !== 6) return ip
  return `${ipaddr.IPv6.networkAddressFromCIDR(`${ip.replace(/%.*$/, '')}/${ipv6Subnet}`).toString()}/${ipv6Subnet}`
}
