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
 * How the protocol classes reach a registrar: one request, one response, both encoded `Message`s. The libp2p binding
 * opens a stream on /logos/service-discovery/1.0.0; the simulator hands the bytes to another node in memory.
 */
export interface DiscoveryTransport {
  request: (peer: PeerRef, request: Uint8Array, options: { signal?: AbortSignal }) => Promise<Uint8Array>
}
