// IP addresses and CIDR ranges, compiled once into Node's BlockList (no hand-rolled CIDR maths).
import { BlockList, isIP } from 'node:net'

/** Folds an IPv4-mapped IPv6 address (::ffff:10.0.0.1) to its IPv4 form, so one rule covers both. */
export function canonicalIp(address: string): string {
  if (address.length > 7 && address.charCodeAt(0) === 58 /* : */ && /^::ffff:/i.test(address)) {
    const v4 = address.slice(7)
    if (isIP(v4) === 4) return v4
  }
  return address
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
