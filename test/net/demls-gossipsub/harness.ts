import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import type { Libp2p } from 'libp2p'
import { demlsGossipsub } from '../../../src/net/demls-gossipsub/index.ts'
import type { DemlsGossipsub } from '../../../src/net/demls-gossipsub/index.ts'
import { SqliteStore, loadCipherSuite } from '../../../src/crypto/demls/index.ts'
import type { CiphersuiteImpl, ClientOptions, DemlsClient, DemlsGroup, GroupConfigInit } from '../../../src/crypto/demls/index.ts'

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
  }

  get client (): DemlsClient {
    return this.node.services.demls.client
  }

  async start (): Promise<void> {
    suite ??= await loadCipherSuite()
    this.store = new SqliteStore(this.storePath)
    this.node = await createLibp2p({
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
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

/** Connects each peer to its three predecessors (loopback, TCP): a connected graph with redundancy for gossip. */
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
    }
  }
}

export async function waitFor (cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

/** Every listed peer has the group in the same epoch with the same epoch authenticator. */
export function converged (peers: Peer[], id: string): boolean {
  if (!peers.every(p => p.has(id))) return false
  const gs = peers.map(p => p.group(id))
  const first = gs[0] as DemlsGroup
  const auth = Buffer.from(first.epochAuthenticator).toString('hex')
  return gs.every(g => g.epoch === first.epoch && Buffer.from(g.epochAuthenticator).toString('hex') === auth)
}
