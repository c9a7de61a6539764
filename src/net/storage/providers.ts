import type { PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { combineSignals } from '../../common/index.ts'
import type { AbortOptions } from '../../common/index.ts'
import { cidToString } from './cid.ts'
import type { CID } from './cid.ts'
import { ADVERTISE_CONCURRENCY, DHT_TIMEOUT_MS, MANIFEST_PROTOCOL, MAX_ADVERTISE_QUEUE, READVERTISE_INTERVAL_MS } from './constants.ts'

/** A node that says it stores a dataset. */
export interface Provider {
  peerId: PeerId
  multiaddrs: Multiaddr[]
}

/**
 * Where providers of datasets are announced and looked up. Only manifest CIDs are announced (the Logos Storage
 * digest: "Providers: manifest CIDs only"); once a provider is connected, block availability comes from presence
 * messages on the block exchange.
 */
export interface ProviderRouting {
  provide: (cid: CID, options?: AbortOptions) => Promise<void>
  unprovide: (cid: CID) => void
  findProviders: (cid: CID, options?: AbortOptions & { limit?: number }) => Promise<Provider[]>
}

/** The part of capability discovery used here (src/net/discovery `CapabilityDiscovery`). */
export interface DiscoveryLike {
  advertise: (protocol: string, options?: { data?: Uint8Array, signal?: AbortSignal }) => Promise<void>
  stopAdvertising: (protocol: string) => void
  findProviders: (protocol: string, options?: { limit?: number, signal?: AbortSignal }) => Promise<Array<{ peerId: PeerId, multiaddrs: Multiaddr[] }>>
}

/** The part of libp2p's content routing used here (the Kad-DHT's provider records). */
export interface ContentRoutingLike {
  provide: (cid: CID, options?: AbortOptions) => Promise<void>
  findProviders: (cid: CID, options?: AbortOptions) => AsyncIterable<{ id: PeerId, multiaddrs: Multiaddr[] }>
}

/**
 * The capability a storage node advertises for a dataset through capability discovery: the manifest protocol
 * followed by the manifest CID. Discovery hashes it into its keyspace (service id = SHA-256 of the string), so each
 * dataset gets its own registrars, the way the DHT keys a provider record by the CID.
 */
export function datasetCapability (cid: CID): string {
  return `${MANIFEST_PROTOCOL}/${cidToString(cid)}`
}

export function discoveryRouting (discovery: DiscoveryLike): ProviderRouting {
  return {
    provide: async (cid, options = {}) => { await discovery.advertise(datasetCapability(cid), { signal: options.signal }) },
    unprovide: (cid) => { discovery.stopAdvertising(datasetCapability(cid)) },
    findProviders: async (cid, options = {}) => await discovery.findProviders(datasetCapability(cid), { limit: options.limit, signal: options.signal })
  }
}

export function dhtRouting (routing: ContentRoutingLike): ProviderRouting {
  return {
    provide: async (cid, options = {}) => { await routing.provide(cid, { signal: combineSignals([options.signal], DHT_TIMEOUT_MS) }) },
    unprovide: () => {},
    findProviders: async (cid, options = {}) => {
      const out: Provider[] = []
      const signal = combineSignals([options.signal], DHT_TIMEOUT_MS)
      try {
        for await (const p of routing.findProviders(cid, { signal })) {
          out.push({ peerId: p.id, multiaddrs: p.multiaddrs })
          if (options.limit !== undefined && out.length >= options.limit) break
        }
      } catch (err) {
        if (out.length === 0 && options.signal?.aborted === true) throw err
      }
      return out
    }
  }
}

/** Several routings at once: provide to all, look up in all and merge (by peer id). Failures of one are ignored. */
export function combinedRouting (routings: ProviderRouting[]): ProviderRouting {
  return {
    provide: async (cid, options) => { await Promise.allSettled(routings.map(async r => { await r.provide(cid, options) })) },
    unprovide: (cid) => { for (const r of routings) r.unprovide(cid) },
    findProviders: async (cid, options) => {
      const found = await Promise.allSettled(routings.map(async r => await r.findProviders(cid, options)))
      const byPeer = new Map<string, Provider>()
      for (const f of found) {
        if (f.status !== 'fulfilled') continue
        for (const p of f.value) {
          const known = byPeer.get(p.peerId.toString())
          if (known === undefined) byPeer.set(p.peerId.toString(), p)
          else if (known.multiaddrs.length === 0) known.multiaddrs = p.multiaddrs
        }
      }
      return [...byPeer.values()]
    }
  }
}

/**
 * Announces manifests: a bounded queue worked ADVERTISE_CONCURRENCY at a time, and every announced manifest again
 * each READVERTISE_INTERVAL_MS (the digest: "every 30 min, 10 at a time").
 */
export class Advertiser {
  private readonly routing: ProviderRouting
  private readonly queue: CID[] = []
  private readonly queued = new Set<string>()
  private readonly announced = new Map<string, CID>()
  private running = 0
  private timer?: ReturnType<typeof setInterval>
  private controller = new AbortController()
  private readonly onError: (cid: CID, err: unknown) => void

  constructor (routing: ProviderRouting, onError: (cid: CID, err: unknown) => void = () => {}) {
    this.routing = routing
    this.onError = onError
  }

  start (): void {
    this.controller = new AbortController()
    this.timer = setInterval(() => { for (const cid of this.announced.values()) this.enqueue(cid) }, READVERTISE_INTERVAL_MS)
    this.timer.unref?.()
  }

  stop (): void {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.controller.abort()
    this.queue.length = 0
    this.queued.clear()
  }

  add (cid: CID): void {
    this.announced.set(cidToString(cid), cid)
    this.enqueue(cid)
  }

  remove (cid: CID): void {
    const key = cidToString(cid)
    this.announced.delete(key)
    this.queued.delete(key)
    this.routing.unprovide(cid)
  }

  get size (): number {
    return this.announced.size
  }

  private enqueue (cid: CID): void {
    const key = cidToString(cid)
    if (this.queued.has(key) || this.queue.length >= MAX_ADVERTISE_QUEUE) return
    this.queued.add(key)
    this.queue.push(cid)
    this.pump()
  }

  private pump (): void {
    while (this.running < ADVERTISE_CONCURRENCY && this.queue.length > 0) {
      const cid = this.queue.shift() as CID
      const key = cidToString(cid)
      if (!this.queued.has(key)) continue
      this.queued.delete(key)
      this.running++
      this.routing.provide(cid, { signal: this.controller.signal })
        .catch((err: unknown) => { this.onError(cid, err) })
        .finally(() => {
          this.running--
          this.pump()
        })
    }
  }
}
