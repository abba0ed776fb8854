import { GatehouseError } from '../errors.js'
import type { IpMatcher } from '../net/cidr.js'

/** A route's or a client's allowIps: an address outside every range is refused with 403. */
export function checkIpAllowed(allowIps: IpMatcher | undefined, ip: string, whose: 'route' | 'client'): void {
  if (allowIps !== undefined && !allowIps.matches(ip)) {
    throw new GatehouseError('access_denied', 'requests from this address are not allowed', { reason: `ip_not_allowed_${whose}` })
  }
}
