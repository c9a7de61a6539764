import { multiaddr } from '@multiformats/multiaddr'
import type { Logger, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { BLOCK_CODEC, cidToString, sha256 } from './cid.ts'
import type { CID } from './cid.ts'
import type { BlockStore, NewBlock } from './block-store.ts'
import type { BlockExchange } from './block-exchange.ts'
import {
  LOOKUP_RETRY_MS, MAX_PEER_FAILURES, MAX_SWARM_PEERS, PROVIDER_LOOKUP_LIMIT, TARGET_BATCH_BYTES
} from './constants.ts'
import {
  StorageBadBlockError, StorageCancelledError, StorageDownloadStalledError, StorageNoProvidersError
} from './errors.ts'
import { blockCount } from './manifest.ts'
import type { Manifest } from './manifest.ts'
import { encodeProof, verifyProof } from './merkle.ts'
import { PRESENCE_COMPLETE, PRESENCE_HAVE_RANGE, toRanges } from './messages.ts'
import type { BlockPresence, DeliveredBlock, IndexRange } from './messages.ts'
import type { Provider } from './providers.ts'

export interface DownloadProgress {
  blocksDone: number
  blocksTotal: number
  bytesDone: number
  datasetSize: number
}

export interface DownloadTuning {
  pipelineDepth: number
  batchTimeoutMs: number
  stallTimeoutMs: number
}

export interface DownloadDeps {
  store: BlockStore
  exchange: BlockExchange
  findProviders: (cid: CID, options: { signal?: AbortSignal, limit?: number }) => Promise<Provider[]>
  self: PeerId
  log: Logger
  tuning: DownloadTuning
}

/** What a download learned about one peer of its swarm. */
interface SwarmPeer {
  peerId: PeerId
  addrs: Multiaddr[]
  /** undefined: no presence yet; 'complete': every block. */
  ranges: IndexRange[] | 'complete' | undefined
  /** Indices the peer was asked for and did not deliver. */
  lacks: Set<number>
  inFlight: number
  failures: number
  askedAt: number
  connected: boolean
}

interface Batch {
  indices: number[]
}

export interface DownloadStats {
  requests: number
  blocksReceived: number
  blocksRejected: number
  peersBanned: string[]
  peersUsed: string[]
}

/** Re-ask a peer that has not answered a want-have after this long. */
const PRESENCE_RETRY_MS = 3_000
/** A peer that could not be dialled is left alone this long. */
const DIAL_COOLDOWN_MS = 5_000
/** The scheduling loop looks at timers at least this often. */
const TICK_MS = 200
/** Verified blocks written to the store in one transaction (a commit per 128 KiB batch costs more than the data). */
const WRITE_BATCH_BLOCKS = 64
/** The longest a verified block waits to be written. */
const WRITE_DELAY_MS = 20

let nextDownloadId = BigInt(Date.now()) << 16n

/**
 * One dataset being fetched into the local store (logos-storage-nim engine.nim `downloadWorker`, simplified): the
 * missing blocks are cut into batches of about TARGET_BATCH_BYTES, each sent as one WantBlocks request to a peer
 * whose presence says it has the batch, up to `pipelineDepth` requests per peer, so several providers serve one
 * download in parallel. Every block is checked (index asked for, size, SHA-256 against its CID, Merkle proof
 * against the treeCid for this index and leaf count) before it is stored; a peer that sends one bad block is
 * banned from the download and its batch goes to another. A peer that fails or disappears has its batches
 * requeued. Blocks are stored as they arrive, so a download that stops (stall, cancel, crash) resumes from them.
 */
export class Download {
  readonly id: bigint
  readonly cid: CID
  readonly manifest: Manifest
  readonly stats: DownloadStats = { requests: 0, blocksReceived: 0, blocksRejected: 0, peersBanned: [], peersUsed: [] }
  private readonly deps: DownloadDeps
  private readonly total: number
  private readonly tree: Uint8Array
  private readonly have: Uint8Array
  private readonly peers = new Map<string, SwarmPeer>()
  private readonly banned = new Set<string>()
  private readonly dialFailed = new Map<string, number>()
  private readonly queue: Batch[] = []
  private readonly signal: AbortSignal
  private readonly onProgress: (p: DownloadProgress) => void
  private readonly seed: Provider[]
  private done = 0
  private lastProgress = Date.now()
  private lastLookup = 0
  private lookingUp = false
  private fatal: Error | undefined
  private wake: () => void = () => {}
  /** Verified blocks not yet written: written together, one transaction per WRITE_BATCH_BLOCKS or WRITE_DELAY_MS. */
  private readonly writes: NewBlock[] = []
  private flushTimer: ReturnType<typeof setTimeout> | undefined

  constructor (deps: DownloadDeps, cid: CID, manifest: Manifest, options: { signal: AbortSignal, onProgress?: (p: DownloadProgress) => void, providers?: Provider[] }) {
    this.deps = deps
    this.id = nextDownloadId++
    this.cid = cid
    this.manifest = manifest
    this.total = blockCount(manifest)
    this.tree = manifest.treeCid.bytes
    this.have = new Uint8Array(this.total)
    this.signal = options.signal
    this.onProgress = options.onProgress ?? (() => {})
    this.seed = options.providers ?? []
  }

  progress (): DownloadProgress {
    return { blocksDone: this.done, blocksTotal: this.total, bytesDone: Math.min(this.done * this.manifest.blockSize, this.manifest.datasetSize), datasetSize: this.manifest.datasetSize }
  }

  async run (): Promise<void> {
    const { store } = this.deps
    for (const i of store.presentIndices(this.tree, 0, this.total)) {
      this.have[i] = 1
      this.done++
    }
    this.onProgress(this.progress())
    if (this.done === this.total) return
    store.checkSpace((this.total - this.done) * this.manifest.blockSize)
    const per = Math.max(1, Math.floor(TARGET_BATCH_BYTES / this.manifest.blockSize))
    for (let start = 0; start < this.total; start += per) {
      const indices: number[] = []
      for (let i = start; i < Math.min(this.total, start + per); i++) if (this.have[i] === 0) indices.push(i)
      if (indices.length > 0) this.queue.push({ indices })
    }
    for (const p of this.seed) this.addPeer(p)
    this.lastProgress = Date.now()
    const onAbort = (): void => { this.wake() }
    this.signal.addEventListener('abort', onAbort)
    try {
      for (;;) {
        if (this.signal.aborted) throw new StorageCancelledError(`download of ${cidToString(this.cid)}`)
        if (this.fatal !== undefined) throw this.fatal
        if (this.done === this.total) {
          this.flush()
          if (this.fatal !== undefined) throw this.fatal
          return
        }
        this.schedule()
        const now = Date.now()
        if (now - this.lastProgress > this.deps.tuning.stallTimeoutMs) {
          const usable = [...this.peers.values()].filter(p => p.connected).length
          if (usable === 0 && this.stats.peersUsed.length === 0) throw new StorageNoProvidersError(cidToString(this.cid))
          throw new StorageDownloadStalledError(cidToString(this.cid), this.done, this.total)
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, TICK_MS)
          this.wake = () => {
            clearTimeout(timer)
            resolve()
          }
        })
      }
    } finally {
      this.signal.removeEventListener('abort', onAbort)
      // What was verified is kept, so a later download resumes from it.
      this.flush()
    }
  }

  private flush (): void {
    if (this.flushTimer !== undefined) clearTimeout(this.flushTimer)
    this.flushTimer = undefined
    if (this.writes.length === 0) return
    const blocks = this.writes.splice(0)
    try {
      this.deps.store.putBlocks(this.tree, blocks)
    } catch (err) {
      for (const b of blocks) {
        if (this.have[b.index] === 1) {
          this.have[b.index] = 0
          this.done--
        }
      }
      this.fatal ??= err as Error
      this.wake()
    }
  }

  private scheduleFlush (): void {
    if (this.writes.length >= WRITE_BATCH_BLOCKS) this.flush()
    else this.flushTimer ??= setTimeout(() => { this.flush() }, WRITE_DELAY_MS)
  }

  /** A presence message for this download (or another download of the same tree). */
  onPresence (peer: PeerId, presence: BlockPresence): void {
    const p = this.peers.get(peer.toString())
    if (p === undefined) return
    if (presence.kind === PRESENCE_COMPLETE) p.ranges = 'complete'
    else if (presence.kind === PRESENCE_HAVE_RANGE) p.ranges = p.ranges === 'complete' ? 'complete' : [...(p.ranges ?? []), ...presence.ranges]
    this.wake()
  }

  onPeerGone (peer: PeerId): void {
    const p = this.peers.get(peer.toString())
    if (p === undefined) return
    p.connected = false
    p.ranges = undefined
    this.wake()
  }

  private addPeer (provider: Provider): void {
    const id = provider.peerId.toString()
    if (provider.peerId.equals(this.deps.self) || this.banned.has(id)) return
    const known = this.peers.get(id)
    if (known !== undefined) {
      if (known.connected) return
    } else {
      if (this.peers.size >= MAX_SWARM_PEERS) return
    }
    const failedAt = this.dialFailed.get(id)
    if (failedAt !== undefined && Date.now() - failedAt < DIAL_COOLDOWN_MS) return
    const addrs = provider.multiaddrs.map(a => a.getComponents().some(c => c.name === 'p2p') ? a : a.encapsulate(multiaddr(`/p2p/${id}`)))
    const peer: SwarmPeer = known ?? { peerId: provider.peerId, addrs, ranges: undefined, lacks: new Set(), inFlight: 0, failures: 0, askedAt: 0, connected: false }
    if (addrs.length > 0) peer.addrs = addrs
    peer.connected = true
    this.peers.set(id, peer)
    this.askPresence(peer)
  }

  private askPresence (peer: SwarmPeer): void {
    peer.askedAt = Date.now()
    const { exchange } = this.deps
    const id = peer.peerId.toString()
    exchange.connect(peer.peerId, peer.addrs, { signal: this.signal })
      .then(async () => { await exchange.wantHave(peer.peerId, this.manifest.treeCid, 0, this.total, this.id, { signal: this.signal }) })
      .catch((err: Error) => {
        this.deps.log('cannot ask %s for presence: %s', id, err.message)
        this.dialFailed.set(id, Date.now())
        peer.connected = false
        this.wake()
      })
  }

  private lookup (): void {
    if (this.lookingUp) return
    this.lookingUp = true
    this.lastLookup = Date.now()
    this.deps.findProviders(this.cid, { signal: this.signal, limit: PROVIDER_LOOKUP_LIMIT })
      .then((found) => { for (const p of found) this.addPeer(p) })
      .catch((err: Error) => { this.deps.log('provider lookup for %s failed: %s', cidToString(this.cid), err.message) })
      .finally(() => {
        this.lookingUp = false
        this.wake()
      })
  }

  private covers (p: SwarmPeer, batch: Batch): boolean {
    if (p.ranges === undefined) return false
    for (const i of batch.indices) {
      if (p.lacks.has(i)) return false
      if (p.ranges === 'complete') continue
      if (!p.ranges.some(r => i >= r.start && i < r.start + r.count)) return false
    }
    return true
  }

  private schedule (): void {
    const now = Date.now()
    const depth = this.deps.tuning.pipelineDepth
    let blocked = false
    for (let q = 0; q < this.queue.length;) {
      const batch = this.queue[q] as Batch
      batch.indices = batch.indices.filter(i => this.have[i] === 0)
      if (batch.indices.length === 0) {
        this.queue.splice(q, 1)
        continue
      }
      let best: SwarmPeer | undefined
      for (const p of this.peers.values()) {
        if (!p.connected || p.inFlight >= depth || !this.covers(p, batch)) continue
        if (best === undefined || p.inFlight < best.inFlight) best = p
      }
      if (best === undefined) {
        blocked = true
        q++
        continue
      }
      this.queue.splice(q, 1)
      this.dispatch(best, batch)
    }
    const inFlight = [...this.peers.values()].reduce((s, p) => s + p.inFlight, 0)
    if (blocked && inFlight === 0) {
      for (const p of this.peers.values()) {
        if (p.connected && p.ranges === undefined && now - p.askedAt > PRESENCE_RETRY_MS) this.askPresence(p)
      }
      if (now - this.lastLookup > LOOKUP_RETRY_MS) this.lookup()
    }
  }

  private dispatch (peer: SwarmPeer, batch: Batch): void {
    peer.inFlight++
    this.stats.requests++
    const id = peer.peerId.toString()
    if (!this.stats.peersUsed.includes(id)) this.stats.peersUsed.push(id)
    const { exchange } = this.deps
    exchange.wantBlocks(peer.peerId, this.manifest.treeCid, toRanges(batch.indices), { signal: this.signal, timeoutMs: this.deps.tuning.batchTimeoutMs })
      .then((res) => {
        if (this.banned.has(id)) {
          this.queue.unshift(batch)
          return
        }
        const asked = new Set(batch.indices)
        const good: NewBlock[] = []
        for (const b of res.blocks) {
          if (!asked.has(b.index)) continue
          try {
            good.push(this.verify(b))
          } catch (err) {
            this.stats.blocksRejected++
            this.ban(peer, err as Error)
            this.queue.unshift(batch)
            return
          }
        }
        for (const b of good) {
          if (this.have[b.index] === 0) {
            this.have[b.index] = 1
            this.done++
            this.writes.push(b)
          }
        }
        this.scheduleFlush()
        this.stats.blocksReceived += good.length
        const missing = batch.indices.filter(i => this.have[i] === 0)
        for (const i of missing) peer.lacks.add(i)
        if (missing.length > 0) this.queue.unshift({ indices: missing })
        if (good.length > 0) {
          this.lastProgress = Date.now()
          peer.failures = 0
          this.onProgress(this.progress())
        }
      })
      .catch((err: Error) => {
        this.queue.unshift(batch)
        if (this.signal.aborted) return
        peer.failures++
        this.deps.log('batch from %s failed (%d): %s', id, peer.failures, err.message)
        if (peer.failures >= MAX_PEER_FAILURES) {
          peer.connected = false
          peer.ranges = undefined
          this.dialFailed.set(id, Date.now())
        }
      })
      .finally(() => {
        peer.inFlight--
        this.wake()
      })
  }

  /** CODEX-BLOCK-EXCHANGE "Block Delivery": recipients MUST verify the proof before accepting the block. */
  private verify (b: DeliveredBlock): NewBlock {
    if (b.index >= this.total) throw new StorageBadBlockError(`block index ${b.index} beyond the dataset's ${this.total}`)
    if (b.cid.code !== BLOCK_CODEC) throw new StorageBadBlockError('block CID is not codex-block')
    if (b.data.length !== this.manifest.blockSize) throw new StorageBadBlockError(`block of ${b.data.length} bytes, the dataset's are ${this.manifest.blockSize}`)
    if (b.proof === undefined) throw new StorageBadBlockError(`block ${b.index} came without a proof`)
    const hash = sha256(b.data)
    if (!Buffer.from(hash).equals(Buffer.from(b.cid.multihash.digest))) throw new StorageBadBlockError(`block ${b.index} does not hash to its CID`)
    verifyProof(b.proof, hash, this.manifest.treeCid.multihash.digest, b.index, this.total)
    // The frame's bytes are this download's own (read off the stream): kept as they are until written.
    return { index: b.index, hash, data: b.data, proof: b.proofBytes ?? encodeProof(b.proof) }
  }

  private ban (peer: SwarmPeer, err: Error): void {
    const id = peer.peerId.toString()
    this.deps.log('banning %s from the download of %s: %s', id, cidToString(this.cid), err.message)
    this.banned.add(id)
    if (!this.stats.peersBanned.includes(id)) this.stats.peersBanned.push(id)
    this.peers.delete(id)
    peer.connected = false
  }
}
