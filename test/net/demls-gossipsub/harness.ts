import { appendFileSync } from 'node:fs'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { KEEP_ALIVE } from '@libp2p/interface'
import { createLibp2p } from 'libp2p'
import type { Libp2p } from 'libp2p'
import { demlsGossipsub } from '../../../src/net/demls-gossipsub/index.ts'
import type { DemlsGossipsub } from '../../../src/net/demls-gossipsub/index.ts'
import { SqliteStore, loadCipherSuite, topicsFor } from '../../../src/crypto/demls/index.ts'
import type { CiphersuiteImpl, ClientOptions, DemlsClient, DemlsGroup, GroupConfigInit } from '../../../src/crypto/demls/index.ts'
import { loopbackTcp } from '../loopback.ts'

export type DemlsNode = Libp2p<{ identify: ReturnType<ReturnType<typeof identify>>, pubsub: ReturnType<ReturnType<typeof gossipsub>>, demls: DemlsGossipsub }>

/** Timers for a real-clock run on loopback: short, but long enough for gossip and MLS work on a 2-core machine. */
export const NET_TIMERS: GroupConfigInit = {
  timers: {
    votingDelayMs: 300,
    consensusTimeoutMs: 4_000,
    batchWindowMs: 400,
    commitInactivityMs: 2_500,
    freezeMs: 800,
    recoveryInactivityMs: 800,
    proposalExpirationMs: 120_000,
    repropagateMs: 1_200,
    announceIntervalMs: 1_500,
    toleranceMs: 300
  }
}

let suite: CiphersuiteImpl | undefined
const registry: Peer[] = []

export class Peer {
  readonly name: string
  readonly storePath: string
  node!: DemlsNode
  store!: SqliteStore
  /** Fault injection: the share of inbound messages dropped at random. */
  lossRate = 0
  dropped = 0
  private readonly clientOptions: Partial<ClientOptions>

  constructor (name: string, storePath: string, clientOptions: Partial<ClientOptions> = {}) {
    this.name = name
    this.storePath = storePath
    this.clientOptions = clientOptions
    registry.push(this)
  }

  get client (): DemlsClient {
    return this.node.services.demls.client
  }

  async start (): Promise<void> {
    suite ??= await loadCipherSuite()
    this.store = new SqliteStore(this.storePath)
    this.node = await createLibp2p({
      ...loopbackTcp(),
      services: {
        identify: identify(),
        pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, heartbeatInterval: 500, doPX: false }),
        demls: demlsGossipsub({
          clientOptions: { store: this.store, cipherSuite: suite, joinRetryMs: 1_500, ...this.clientOptions },
          inboundFilter: () => {
            if (this.lossRate > 0 && Math.random() < this.lossRate) {
              this.dropped++
              return false
            }
            return true
          }
        })
      }
    }) as unknown as DemlsNode
    watch(this.name, this.client)
    this.node.addEventListener('peer:disconnect', e => { note(`${this.name} disconnected from ${nameOf(e.detail.toString())}`) })
    this.node.addEventListener('peer:reconnect-failure', e => { note(`${this.name} gave up reconnecting to ${nameOf(e.detail.toString())}`) })
  }

  async stop (): Promise<void> {
    await this.node.stop()
    this.store.close()
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

function nameOf (peerId: string): string {
  return registry.find(p => p.node?.peerId.toString() === peerId)?.name ?? peerId.slice(-6)
}

/**
 * Connects each peer to its three predecessors (loopback, TCP): a connected graph with redundancy for gossip. The
 * links are tagged keep-alive, so libp2p dials again when one drops (its connection monitor closes a connection whose
 * ping times out, which happens on a machine busy enough).
 */
export async function connectAll (peers: Peer[]): Promise<void> {
  for (let i = 0; i < peers.length; i++) {
    for (let j = Math.max(0, i - 3); j < i; j++) {
      const a = peers[i] as Peer
      const b = peers[j] as Peer
      for (let attempt = 0; a.node.getConnections(b.node.peerId).length === 0; attempt++) {
        try {
          await a.node.dial(b.node.getMultiaddrs()[0] as Parameters<DemlsNode['dial']>[0])
        } catch (err) {
          if (attempt >= 4) throw err
          await new Promise(resolve => setTimeout(resolve, 100))
        }
      }
      await a.node.peerStore.merge(b.node.peerId, { tags: { [KEEP_ALIVE]: { value: 1 } } })
      await b.node.peerStore.merge(a.node.peerId, { tags: { [KEEP_ALIVE]: { value: 1 } } })
    }
  }
}

const T0 = Date.now()
export const trace: string[] = []
export function note (line: string): void {
  trace.push(`${((Date.now() - T0) / 1000).toFixed(2)} ${line}`)
  if (trace.length > 20_000) trace.shift()
  if (process.env.DEMLS_TRACE !== undefined) appendFileSync(process.env.DEMLS_TRACE, `${trace[trace.length - 1] as string}\n`)
}
const short = (id: Uint8Array): string => Buffer.from(id).toString('hex').slice(0, 6)
export function watch (name: string, client: DemlsClient): void {
  const attach = (g: DemlsGroup, how: string): void => {
    const n = `${name}/${Buffer.from(g.groupId).toString()}`
    note(`${n} ${how} e${g.epoch}`)
    g.on('epoch', e => note(`${n} epoch ${e.epoch} by ${short(e.committer)}${e.rollback ? ' ROLLBACK' : ''} members ${g.members.length}`))
    g.on('candidate', c => note(`${n} candidate e${c.epoch} by ${short(c.committer)} ${c.valid ? 'valid' : `INVALID ${c.reason ?? ''}`}`))
    g.on('proposal', p => note(`${n} proposal ${p.digest.slice(0, 6)} ${p.kind} e${p.epoch} by ${short(p.owner)}`))
    g.on('decided', d => note(`${n} decided ${d.digest.slice(0, 6)} ${d.kind} ${String(d.accepted)}${d.byTimeout ? ' timeout' : ''}`))
    g.on('score', s => note(`${n} score ${short(s.memberId)} ${s.event} -> ${s.score}`))
    g.on('removed', e => note(`${n} removed e${e.epoch}`))
    g.on('message', m => note(`${n} message from ${short(m.sender)} e${m.epoch}`))
    g.on('stale', e => note(`${n} STALE e${e.epoch}`))
  }
  for (const g of client.groups()) attach(g, 'restored')
  client.on('group', ({ group: g, how }) => { if (how !== 'restored') attach(g, how) })
}

/** Every running peer's view of its groups, for a timeout message. */
function snapshot (): string {
  const lines: string[] = []
  for (const p of registry) {
    if (p.node?.status !== 'started') continue
    for (const g of p.client.groups()) {
      const props = g.proposals().map(x => `${x.digest.slice(0, 6)}:${x.kind}:${String(x.decision)}:${x.votes}`).join(',')
      lines.push(`${p.name} ${p.client.memberId === undefined ? '' : short(p.client.memberId)} g=${g.groupIdHex} e${g.epoch} auth=${Buffer.from(g.epochAuthenticator).toString('hex').slice(0, 8)} members=${g.members.length} ` +
        `stewards=${g.stewardList.map(short).join('/')}@${g.governance.stewards.startEpoch} epochSteward=${g.epochSteward === undefined ? '-' : short(g.epochSteward)} freeze=${String(g.inFreeze)} props=[${props}]`)
    }
  }
  return lines.join('\n')
}

export async function waitFor (cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${trace.slice(-150).join('\n')}\n${snapshot()}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

/** The gossipsub implementation has the mesh of a topic; its public interface does not say so. */
function meshOf (p: Peer, topic: string): string[] {
  return (p.node.services.pubsub as unknown as { getMeshPeers: (topic: string) => string[] }).getMeshPeers(topic)
}

/**
 * Whether a message `from` publishes on the group's app topic now reaches every peer listed: gossipsub forwards along
 * each node's mesh (the publisher floods to every subscriber it knows), and a node that subscribed a moment ago (a
 * joiner, a restarted node) is not in its neighbours' meshes yet. Gossip would not repair that later either: a node
 * grafted after a message went by is a mesh peer, to which gossipsub sends no IHAVE.
 */
export function meshReaches (from: Peer, peers: Peer[], id: string): boolean {
  const topic = topicsFor(from.group(id).groupId).app
  const byId = new Map(peers.map(p => [p.node.peerId.toString(), p]))
  const reached = new Set<Peer>([from])
  const queue: string[] = from.node.services.pubsub.getSubscribers(topic).map(String)
  queue.push(...meshOf(from, topic))
  while (queue.length > 0) {
    const p = byId.get(queue.pop() as string)
    if (p === undefined || reached.has(p)) continue
    reached.add(p)
    queue.push(...meshOf(p, topic))
  }
  return peers.every(p => reached.has(p))
}

/** Every listed peer has the group in the same epoch with the same epoch authenticator. */
export function converged (peers: Peer[], id: string): boolean {
  if (!peers.every(p => p.has(id))) return false
  const gs = peers.map(p => p.group(id))
  const first = gs[0] as DemlsGroup
  const auth = Buffer.from(first.epochAuthenticator).toString('hex')
  return gs.every(g => g.epoch === first.epoch && Buffer.from(g.epochAuthenticator).toString('hex') === auth)
}
