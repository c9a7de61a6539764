import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { PrivateKey } from '@libp2p/interface'
import { RequestFailedError } from '../discovery/index.ts'
import {
  DiscoveryNode, MessageType, RegistrationStatus, decodeMessage, encodeMessage, messageKind, peerKeyOf, resolveParams,
  sealAdvertisement, serviceIdOf, toHex
} from '../discovery/index.ts'
import type { DiscoveryParams, DiscoveryTransport, PeerRef, WirePeer } from '../discovery/index.ts'
import { VirtualClock } from './virtual-clock.ts'

/** A small, fast, seedable PRNG (mulberry32): the same seed gives the same network and the same run. */
export function seededRandom (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export type SimRole = 'honest' | 'sybil'

export interface SimNode {
  index: number
  id: string
  ref: PeerRef
  ip: string
  role: SimRole
  clientMode: boolean
  privateKey: PrivateKey
  /** The protocol engine (honest nodes). */
  engine: DiscoveryNode | undefined
  /** Unreachable: requests to it fail after the request timeout. */
  down: boolean
}

export interface SimNetworkInit {
  params?: Partial<DiscoveryParams>
  /** One-way latency of a message, simulated ms. */
  latencyMs?: number
  seed?: number
  /** Processing-time samples kept per message kind: a uniform reservoir over the whole run. */
  maxSamples?: number
}

/**
 * Per-request processing time of the real Registrar, nanoseconds (a uniform sample of every request of the run,
 * reservoir-sampled, so early and late requests weigh alike), and message counts.
 */
export interface SimCounters {
  register: number
  getAds: number
  failed: number
  registerNs: number[]
  getAdsNs: number[]
}

/**
 * Many DiscoveryNodes (the very classes the libp2p service runs) in one process, over an in-memory transport and a
 * VirtualClock. Registrars answer in line, so the time each request takes to process is measured exactly; Sybil
 * nodes answer with their own ads and point only at one another.
 */
export class SimNetwork {
  readonly clock = new VirtualClock()
  readonly params: DiscoveryParams
  readonly nodes: SimNode[] = []
  readonly random: () => number
  readonly counters: SimCounters = { register: 0, getAds: 0, failed: 0, registerNs: [], getAdsNs: [] }
  private readonly latencyMs: number
  private readonly maxSamples: number
  /** Draws for reservoir sampling only: the network's own random stream stays what the seed makes it. */
  private readonly sampleRandom: () => number
  private readonly byId = new Map<string, SimNode>()
  private readonly byIdBytes = new Map<string, PeerRef>()
  private readonly sybils: SimNode[] = []
  /** Sybil ads per service id hex, signed by Sybil identities. */
  private readonly sybilAds = new Map<string, Uint8Array[]>()
  private seedCounter = 0

  constructor (init: SimNetworkInit = {}) {
    this.params = resolveParams(init.params)
    this.latencyMs = init.latencyMs ?? 20
    this.random = seededRandom(init.seed ?? 1)
    this.maxSamples = init.maxSamples ?? 200_000
    this.sampleRandom = seededRandom(((init.seed ?? 1) ^ 0x5a5a5a5a) >>> 0)
  }

  get honest (): SimNode[] {
    return this.nodes.filter(n => n.role === 'honest' && !n.clientMode)
  }

  node (id: string): SimNode | undefined {
    return this.byId.get(id)
  }

  /** Adds nodes with deterministic Ed25519 identities and one IPv4 address each. */
  async addNodes (count: number, options: { role?: SimRole, clientMode?: boolean, ip?: (i: number) => string } = {}): Promise<SimNode[]> {
    const role = options.role ?? 'honest'
    const out: SimNode[] = []
    for (let i = 0; i < count; i++) {
      const seed = new Uint8Array(32)
      new DataView(seed.buffer).setUint32(0, ++this.seedCounter)
      new DataView(seed.buffer).setUint32(4, Math.floor(this.random() * 2 ** 32))
      const privateKey = await generateKeyPairFromSeed('Ed25519', seed)
      const peerId = peerIdFromPrivateKey(privateKey)
      const idBytes = peerId.toMultihash().bytes
      const index = this.nodes.length
      const ip = options.ip?.(index) ?? randomIp(this.random)
      const ref: PeerRef = { id: peerId.toString(), idBytes, key: peerKeyOf(idBytes), addrs: [multiaddr(`/ip4/${ip}/tcp/4001`).bytes] }
      const node: SimNode = { index, id: ref.id, ref, ip, role, clientMode: options.clientMode === true, privateKey, engine: undefined, down: false }
      if (role === 'honest') {
        node.engine = new DiscoveryNode({
          privateKey,
          self: ref.id,
          selfBytes: idBytes,
          params: this.params,
          transport: this.transportFor(node),
          clock: this.clock,
          clientMode: node.clientMode,
          random: seededRandom(Math.floor(this.random() * 2 ** 32)),
          peerFromWire: (p) => this.peerFromWire(p),
          autoRefill: false
        })
      } else {
        this.sybils.push(node)
      }
      this.nodes.push(node)
      this.byId.set(node.id, node)
      this.byIdBytes.set(latin1(idBytes), ref)
      out.push(node)
    }
    return out
  }

  /**
   * Gives every node the KadDHT(peerID) table a converged Kademlia network would have: in each bucket up to `k`
   * random peers among those that fall in it. Client-mode nodes serve nothing, so no one lists them.
   */
  fillTables (k = this.params.bucketSize): void {
    const servers = this.nodes.filter(n => !n.clientMode)
    const sorted = servers.map(n => ({ n, v: prefix64(n.ref.key) })).sort((a, b) => (a.v < b.v ? -1 : a.v > b.v ? 1 : 0))
    const values = sorted.map(s => s.v)
    for (const node of this.nodes) {
      if (node.engine === undefined) continue
      const own = prefix64(node.ref.key)
      for (let i = 0; i < 63; i++) {
        const width = 63n - BigInt(i)
        const wanted = ((own >> width) ^ 1n)
        const lo = lowerBound(values, wanted << width)
        const hi = lowerBound(values, (wanted + 1n) << width)
        if (hi <= lo) {
          if ((1 << Math.min(i, 30)) > servers.length * 64) break
          continue
        }
        const picks = hi - lo <= k ? range(lo, hi) : sample(lo, hi, k, this.random)
        for (const j of picks) node.engine.addPeer((sorted[j] as { n: SimNode }).n.ref)
      }
    }
  }

  /** Signs `perService` Sybil ads for each service, so Sybil registrars can answer GET_ADS with valid records. */
  async armSybils (protocols: string[], perService: number): Promise<void> {
    for (const protocol of protocols) {
      const ads: Uint8Array[] = []
      for (const s of this.sybils.slice(0, perService)) {
        ads.push(await sealAdvertisement(s.privateKey, { seq: 1n, addrs: s.ref.addrs, services: [{ id: protocol }] }))
      }
      this.sybilAds.set(toHex(serviceIdOf(protocol)), ads)
    }
  }

  isSybil (id: string): boolean {
    return this.byId.get(id)?.role === 'sybil'
  }

  peerFromWire (p: WirePeer): PeerRef | undefined {
    return this.byIdBytes.get(latin1(p.id))
  }

  private transportFor (from: SimNode): DiscoveryTransport {
    return {
      request: async (peer, bytes, options) => {
        const target = this.byId.get(peer.id)
        if (target === undefined || target.down) {
          this.counters.failed++
          await this.clock.sleep(this.params.requestTimeoutMs, options)
          throw new RequestFailedError(`${peer.id} is unreachable`)
        }
        await this.clock.sleep(this.latencyMs, options)
        const response = target.role === 'sybil' ? this.sybilAnswer(bytes) : this.serve(target, from, bytes)
        if (response === undefined) throw new RequestFailedError(`${peer.id} closed the stream`)
        await this.clock.sleep(this.latencyMs, options)
        return response
      }
    }
  }

  private serve (target: SimNode, from: SimNode, bytes: Uint8Array): Uint8Array | undefined {
    const engine = target.engine
    if (engine === undefined) return undefined
    const t0 = process.hrtime.bigint()
    const response = engine.handle(bytes, { from: from.ref, fromServes: !from.clientMode, ip: from.ip })
    const ns = Number(process.hrtime.bigint() - t0)
    // Our encoder writes the type first: bytes[0] is its tag, bytes[1] the type.
    const kind = messageKind(bytes[1] ?? -1)
    if (kind === 'register') {
      this.counters.register++
      this.keepSample(this.counters.registerNs, this.counters.register, ns)
    } else if (kind === 'getAds') {
      this.counters.getAds++
      this.keepSample(this.counters.getAdsNs, this.counters.getAds, ns)
    }
    return response
  }

  /** Reservoir sampling (Vitter's algorithm R): after n values each is in `samples` with probability maxSamples / n. */
  private keepSample (samples: number[], n: number, value: number): void {
    if (samples.length < this.maxSamples) {
      samples.push(value)
      return
    }
    const j = Math.floor(this.sampleRandom() * n)
    if (j < this.maxSamples) samples[j] = value
  }

  /** A Sybil registrar: swallows every REGISTER (CONFIRMED), answers GET_ADS with Sybil ads, names only Sybils. */
  private sybilAnswer (bytes: Uint8Array): Uint8Array | undefined {
    const request = decodeMessage(bytes)
    const closerPeers: WirePeer[] = []
    for (let i = 0; i < this.params.serviceBuckets && this.sybils.length > 0; i++) {
      const s = this.sybils[Math.floor(this.random() * this.sybils.length)] as SimNode
      closerPeers.push({ id: s.ref.idBytes, addrs: s.ref.addrs })
    }
    const kind = messageKind(request.type)
    if (kind === 'register') return encodeMessage({ type: request.type, closerPeers, register: { status: RegistrationStatus.CONFIRMED } })
    if (kind !== 'getAds' || request.key === undefined) return undefined
    const all = this.sybilAds.get(toHex(request.key)) ?? []
    const ads: Uint8Array[] = []
    for (let i = 0; i < Math.min(this.params.fReturn, all.length); i++) ads.push(all[Math.floor(this.random() * all.length)] as Uint8Array)
    return encodeMessage({ type: MessageType.GET_ADS, closerPeers, getAds: { advertisements: ads } })
  }
}

function latin1 (b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1')
}

function prefix64 (key: Uint8Array): bigint {
  return Buffer.from(key.buffer, key.byteOffset, 8).readBigUInt64BE(0)
}

function lowerBound (values: bigint[], v: bigint): number {
  let lo = 0
  let hi = values.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if ((values[mid] as bigint) < v) lo = mid + 1
    else hi = mid
  }
  return lo
}

function range (lo: number, hi: number): number[] {
  const out: number[] = []
  for (let i = lo; i < hi; i++) out.push(i)
  return out
}

function sample (lo: number, hi: number, k: number, random: () => number): number[] {
  const picked = new Set<number>()
  while (picked.size < k) picked.add(lo + Math.floor(random() * (hi - lo)))
  return [...picked]
}

function randomIp (random: () => number): string {
  return [1 + Math.floor(random() * 222), Math.floor(random() * 256), Math.floor(random() * 256), 1 + Math.floor(random() * 254)].join('.')
}
