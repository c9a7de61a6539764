import { delay } from '../../common/index.ts'
import type { PeerRef } from './routing-table.ts'

/** Time as the protocol classes see it: the system clock on libp2p, a simulated one in the simulator. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now: () => number
  /** Resolves after `ms`, or rejects with the signal's reason. */
  sleep: (ms: number, options?: { signal?: AbortSignal }) => Promise<void>
}

export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  sleep: async (ms: number, options?: { signal?: AbortSignal }) => { await delay(ms, options) }
})

/**
 * A request's deadline on the protocol's own clock (simulated time in the simulator, so whether a request times out
 * never depends on how fast the machine runs the simulation). The signal aborts at `ms` or with `parent`; call
 * `done()` once the request is over to drop the timer.
 */
export function clockDeadline (clock: Clock, ms: number, parent?: AbortSignal): { signal: AbortSignal, done: () => void } {
  const controller = new AbortController()
  const timer = new AbortController()
  const onParent = (): void => { controller.abort(parent?.reason) }
  if (parent?.aborted === true) controller.abort(parent.reason)
  else parent?.addEventListener('abort', onParent, { once: true })
  clock.sleep(ms, { signal: timer.signal }).then(
    () => { controller.abort(new DOMException(`request timed out after ${ms} ms`, 'TimeoutError')) },
    () => {}
  )
  return {
    signal: controller.signal,
    done: () => {
      timer.abort()
      parent?.removeEventListener('abort', onParent)
    }
  }
}

/**
 * How the protocol classes reach a registrar: one request, one response, both encoded `Message`s. The libp2p binding
 * opens a stream on /logos/service-discovery/1.0.0; the simulator hands the bytes to another node in memory.
 */
export interface DiscoveryTransport {
  request: (peer: PeerRef, request: Uint8Array, options: { signal?: AbortSignal }) => Promise<Uint8Array>
}
