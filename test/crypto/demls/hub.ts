import { DemlsClient, ManualClock, MemoryStore, SqliteStore, loadCipherSuite } from '../../../src/crypto/demls/index.ts'
import type { CiphersuiteImpl, ClientOptions, DemlsGroup, DemlsStore, GroupConfigInit } from '../../../src/crypto/demls/index.ts'

/**
 * An in-process pub/sub between DemlsClients, with a manual clock: the protocol runs with real MLS and real
 * signatures, only the wire and time are simulated. Messages to each receiver can be dropped at random (seeded).
 */
export class Hub {
  readonly clock = new ManualClock()
  readonly nodes: Node[] = []
  lossRate = 0
  /** Drop rule on top of lossRate: return false to drop. */
  filter: ((from: Node, to: Node, topic: string, data: Uint8Array) => boolean) | undefined
  delivered = 0
  dropped = 0
  private readonly inflight = new Set<Promise<void>>()
  private seed: number
  private cs: CiphersuiteImpl | undefined

  constructor (seed = 1) {
    this.seed = seed
  }

  random (): number {
    // mulberry32: deterministic loss patterns per seed
    let t = (this.seed += 0x6d2b79f5)
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }

  async suite (): Promise<CiphersuiteImpl> {
    this.cs ??= await loadCipherSuite()
    return this.cs
  }

  async addNode (name: string, options: Partial<ClientOptions> & { storePath?: string } = {}): Promise<Node> {
    const store: DemlsStore = options.store ?? (options.storePath !== undefined ? new SqliteStore(options.storePath) : new MemoryStore())
    const client = await DemlsClient.open({ clock: this.clock, cipherSuite: await this.suite(), joinRetryMs: 2_000, ...options, store })
    const node = new Node(name, client, store, this)
    this.nodes.push(node)
    return node
  }

  /** Takes a node off the network (its client stops); `restart` brings it back from its store. */
  kill (node: Node): void {
    node.client.stop()
    node.online = false
  }

  async restart (node: Node, options: Partial<ClientOptions> = {}): Promise<void> {
    node.client = await DemlsClient.open({ clock: this.clock, cipherSuite: await this.suite(), joinRetryMs: 2_000, ...options, store: node.store })
    node.online = true
    node.wire()
  }

  publish (from: Node, topic: string, data: Uint8Array): void {
    for (const to of this.nodes) {
      if (to === from || !to.online || !to.client.topics().includes(topic)) continue
      if (this.lossRate > 0 && this.random() < this.lossRate) {
        this.dropped++
        continue
      }
      if (this.filter !== undefined && !this.filter(from, to, topic, data)) {
        this.dropped++
        continue
      }
      this.delivered++
      const client = to.client
      const p: Promise<void> = Promise.resolve().then(async () => { await client.handle(topic, data) }).catch(() => {}).finally(() => { this.inflight.delete(p) })
      this.inflight.add(p)
    }
  }

  /** Waits until no message is in flight and every group's queue is empty. */
  async settle (): Promise<void> {
    for (let i = 0; i < 10_000; i++) {
      if (this.inflight.size > 0) {
        await Promise.all([...this.inflight])
        continue
      }
      const groups = this.nodes.filter(n => n.online).flatMap(n => n.client.groups())
      await Promise.all(groups.map(async g => { await g.idle() }))
      await new Promise(resolve => setImmediate(resolve))
      if (this.inflight.size === 0) return
    }
    throw new Error('the hub did not settle')
  }

  async advance (ms: number): Promise<void> {
    await this.clock.advance(ms, async () => { await this.settle() })
  }

  /** Advances protocol time in steps until `cond` holds (or throws after `maxMs`). */
  async until (cond: () => boolean, maxMs = 600_000, stepMs = 250): Promise<void> {
    await this.settle()
    let spent = 0
    while (!cond()) {
      if (spent >= maxMs) throw new Error(`condition not met after ${maxMs} ms of protocol time`)
      await this.advance(stepMs)
      spent += stepMs
    }
  }
}

export class Node {
  readonly name: string
  client: DemlsClient
  readonly store: DemlsStore
  online = true
  private readonly hub: Hub

  constructor (name: string, client: DemlsClient, store: DemlsStore, hub: Hub) {
    this.name = name
    this.client = client
    this.store = store
    this.hub = hub
    this.wire()
  }

  wire (): void {
    const client = this.client
    client.on('outbound', ({ topic, data }) => { if (this.online && this.client === client) this.hub.publish(this, topic, data) })
  }

  group (id: string): DemlsGroup {
    const g = this.client.group(id)
    if (g === undefined) throw new Error(`${this.name} has no group ${id}`)
    return g
  }

  has (id: string): boolean {
    return this.client.group(id) !== undefined
  }
}

/** Timers short enough for tests (protocol time: the manual clock runs them instantly). */
export const FAST: GroupConfigInit = {
  timers: {
    votingDelayMs: 500,
    consensusTimeoutMs: 3_000,
    batchWindowMs: 500,
    commitInactivityMs: 2_000,
    freezeMs: 1_000,
    recoveryInactivityMs: 700,
    proposalExpirationMs: 60_000,
    repropagateMs: 1_000,
    announceIntervalMs: 2_000,
    toleranceMs: 200
  }
}

/** Every online member of the group is in the same epoch with the same epoch authenticator and member list. */
export function converged (nodes: Node[], id: string): boolean {
  const gs = nodes.filter(n => n.online && n.has(id)).map(n => n.group(id))
  if (gs.length === 0) return false
  const first = gs[0] as DemlsGroup
  const auth = Buffer.from(first.epochAuthenticator).toString('hex')
  return gs.every(g => g.epoch === first.epoch && Buffer.from(g.epochAuthenticator).toString('hex') === auth)
}
