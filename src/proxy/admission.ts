// Who may hold an upstream connection, and for how long they may wait for one. Without this, one
// address that opens many slow requests holds every pooled connection, and everyone else's
// requests queue inside undici, where no timeout counts (slow POST / R.U.D.Y.). Two bounds:
// in-flight requests per address (nginx's limit_conn), refused with 429 past it; and in-flight
// requests per upstream origin, at most the pool's size, so that waiting happens here, under the
// route's timeoutMs, and ends in 504 rather than an unbounded wait.
import { GatehouseError } from '../errors.js'

export interface AdmissionLimits {
  /** Connections undici keeps per upstream origin: more requests than this never start at once. */
  readonly perOrigin: number
  /** Proxied requests one address (its limiter key) may have in flight at once. */
  readonly perAddress: number
}

interface Waiter {
  readonly admit: () => void
  readonly timer: NodeJS.Timeout
}

/** Frees the slot taken by admit(); safe to call more than once. */
export type Release = () => void

export function createAdmission({ perOrigin, perAddress }: AdmissionLimits) {
  // Entries exist only while requests are in flight or waiting: bounded by open requests.
  const byAddress = new Map<string, number>()
  const byOrigin = new Map<string, { inFlight: number; waiting: Waiter[] }>()

  const leaveAddress = (key: string) => {
    const n = byAddress.get(key)! - 1
    if (n === 0) byAddress.delete(key)
    else byAddress.set(key, n)
  }
  const leaveOrigin = (origin: string) => {
    const slot = byOrigin.get(origin)!
    const next = slot.waiting.shift()
    if (next) {
      clearTimeout(next.timer)
      next.admit() // the slot passes straight to the next waiter
      return
    }
    slot.inFlight--
    if (slot.inFlight === 0) byOrigin.delete(origin)
  }

  /**
   * Takes a slot for a request from `addressKey` to `origin`, waiting at most `waitMs` for one.
   * Resolves with the time waited and the release; throws 429 past the per-address bound, 504 when
   * no connection came free in time.
   */
  return async function admit(
    origin: string,
    addressKey: string,
    waitMs: number,
    routeId: string,
    /** Aborted when the client goes away: it stops waiting, and gives its place up. */
    signal?: AbortSignal,
  ): Promise<{ waitedMs: number; release: Release }> {
    const inFlight = byAddress.get(addressKey) ?? 0
    if (inFlight >= perAddress) {
      throw new GatehouseError('rate_limited', 'too many requests in flight from this address', {
        reason: 'address_concurrency',
        headers: { 'retry-after': '1' },
      })
    }
    byAddress.set(addressKey, inFlight + 1)
    let released = false
    const release: Release = () => {
      if (released) return
      released = true
      leaveAddress(addressKey)
      leaveOrigin(origin)
    }
    const slot = byOrigin.get(origin) ?? { inFlight: 0, waiting: [] }
    byOrigin.set(origin, slot)
    if (slot.inFlight < perOrigin) {
      slot.inFlight++
      return { waitedMs: 0, release }
    }
    const started = performance.now()
    return new Promise((resolve, reject) => {
      const giveUp = (err: GatehouseError) => {
        clearTimeout(waiter.timer)
        signal?.removeEventListener('abort', onAbort)
        slot.waiting.splice(slot.waiting.indexOf(waiter), 1)
        leaveAddress(addressKey)
        reject(err)
      }
      const onAbort = () => giveUp(new GatehouseError('invalid_request', 'the client went away', { reason: 'client_aborted' }))
      const waiter: Waiter = {
        admit: () => {
          signal?.removeEventListener('abort', onAbort)
          resolve({ waitedMs: performance.now() - started, release })
        },
        timer: setTimeout(
          () => giveUp(new GatehouseError('gateway_timeout', 'the upstream did not answer in time', { reason: `upstream_queue_timeout:${routeId}` })),
          waitMs,
        ),
      }
      slot.waiting.push(waiter)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }
}

export type Admission = ReturnType<typeof createAdmission>
