// Who may hold what while a request is forwarded. Without bounds, one address that opens many slow
// requests holds every pooled upstream connection, and everyone else's requests queue inside
// undici, where no timeout counts (slow POST / R.U.D.Y.). Two bounds:
// - requests in flight per address (nginx's limit_conn), from the moment forwarding starts (body
//   buffering included) to the end of the response; past it, 429 at once;
// - requests in flight per upstream origin, at most the pool's size, so that waiting happens here,
//   under the route's timeoutMs, and ends in 504 rather than an unbounded wait.
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

/** Set while a request waits for an upstream connection: calling it stops the wait. */
export interface WaitTicket {
  cancel?: () => void
}

/** Frees what was taken; safe to call more than once. */
export type Release = () => void

const once = (fn: () => void): Release => {
  let done = false
  return () => {
    if (!done) fn()
    done = true
  }
}

export const clientAborted = () => new GatehouseError('invalid_request', 'the client went away', { reason: 'client_aborted' })

export function createAdmission({ perOrigin, perAddress }: AdmissionLimits) {
  // Entries exist only while requests are in flight or waiting: bounded by open requests.
  const byAddress = new Map<string, number>()
  const byOrigin = new Map<string, { inFlight: number; waiting: Waiter[] }>()

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

  return {
    /** Counts a request of `addressKey` in flight; throws 429 past the per-address bound. */
    enter(addressKey: string): Release {
      const inFlight = byAddress.get(addressKey) ?? 0
      if (inFlight >= perAddress) {
        throw new GatehouseError('rate_limited', 'too many requests in flight from this address', {
          reason: 'address_concurrency',
          headers: { 'retry-after': '1' },
        })
      }
      byAddress.set(addressKey, inFlight + 1)
      return once(() => {
        const n = byAddress.get(addressKey)! - 1
        if (n === 0) byAddress.delete(addressKey)
        else byAddress.set(addressKey, n)
      })
    },

    /**
     * Takes one of `origin`'s connections, waiting at most `waitMs` for one. Resolves with the time
     * waited; throws 504 when none came free in time. While it waits, `ticket.cancel` stops the wait
     * (the client went away).
     */
    async upstreamSlot(origin: string, waitMs: number, routeId: string, ticket: WaitTicket): Promise<{ waitedMs: number; release: Release }> {
      const release = once(() => leaveOrigin(origin))
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
          ticket.cancel = undefined
          slot.waiting.splice(slot.waiting.indexOf(waiter), 1)
          reject(err)
        }
        const waiter: Waiter = {
          admit: () => {
            ticket.cancel = undefined
            resolve({ waitedMs: performance.now() - started, release })
          },
          timer: setTimeout(
            () => giveUp(new GatehouseError('gateway_timeout', 'the upstream did not answer in time', { reason: `upstream_queue_timeout:${routeId}` })),
            waitMs,
          ),
        }
        slot.waiting.push(waiter)
        ticket.cancel = () => giveUp(clientAborted())
      })
    },
  }
}

export type Admission = ReturnType<typeof createAdmission>
