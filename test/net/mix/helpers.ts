import { identify } from '@libp2p/identify'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import type { Libp2p } from 'libp2p'
import { basePointMul, encodeAddress } from '../../../src/crypto/sphinx/index.ts'
import type { PathHop } from '../../../src/crypto/sphinx/index.ts'
import { mixnet, staticMixNodeSource } from '../../../src/net/mix/index.ts'
import type { MixNodeSource, MixSpamProtection, Mixnet, MixnetEvents, MixnetInit, StaticMixNodeSource } from '../../../src/net/mix/index.ts'
import { loopbackTcp } from '../loopback.ts'

export type MixNode = Libp2p<{ mix: Mixnet, identify: unknown }>

export interface MixNet {
  nodes: MixNode[]
  source: StaticMixNodeSource
  /** Puts a node's current key and addresses into the shared source. */
  announce: (node: MixNode) => void
  stop: () => Promise<void>
}

/** Test defaults: short delays, no cover (each test turns on what it looks at), loopback destinations allowed. */
export const FAST: MixnetInit = {
  allowPrivateDestinations: true,
  meanDelayMs: 5,
  senderDelayMs: 5,
  exitDelayMs: 5,
  cover: { strategy: 'none' },
  keyRotationIntervalMs: 0
}

/** Real js-libp2p nodes on 127.0.0.1 TCP, each running the mix service, sharing one static list of mix nodes. */
export async function startMixNet (n: number, init: MixnetInit | ((i: number) => MixnetInit) = FAST, wrap?: (source: StaticMixNodeSource, i: number) => MixNodeSource): Promise<MixNet> {
  const source = staticMixNodeSource()
  const nodes: MixNode[] = []
  for (let i = 0; i < n; i++) {
    const options = typeof init === 'function' ? init(i) : init
    const node = await createLibp2p({
      ...loopbackTcp(),
      services: {
        identify: identify(),
        mix: mixnet({ nodeSource: wrap === undefined ? source : wrap(source, i), ...options })
      }
    })
    nodes.push(node as unknown as MixNode)
  }
  const announce = (node: MixNode): void => {
    source.add({ peerId: node.peerId, multiaddrs: node.getMultiaddrs(), mixPublicKey: node.services.mix.publicKey })
  }
  for (const node of nodes) announce(node)
  return {
    nodes,
    source,
    announce,
    stop: async () => { await Promise.all(nodes.map(async n => { await n.stop() })) }
  }
}

/** Resolves with the detail of the first event of `type` matching `match`. */
export async function nextEvent<K extends keyof MixnetEvents> (target: Mixnet, type: K, match: (detail: MixnetEvents[K]['detail']) => boolean = () => true, timeoutMs = 20_000): Promise<MixnetEvents[K]['detail']> {
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      target.removeEventListener(type, listener)
      reject(new Error(`no ${type} event within ${timeoutMs} ms`))
    }, timeoutMs)
    const listener = (e: MixnetEvents[K]): void => {
      if (!match(e.detail)) return
      clearTimeout(timer)
      target.removeEventListener(type, listener)
      resolve(e.detail)
    }
    target.addEventListener(type, listener)
  })
}

/**
 * A rate-limit plugin without proofs (proofLength 0) whose epochs the test advances by hand: the hook RLN uses to
 * drive the slot budget (mix-dos-protection.md 8.2.3), so slot tests depend on no clock.
 */
export class ManualEpochs implements MixSpamProtection {
  readonly proofLength = 0
  readonly slotsPerEpoch: number
  /** Long enough that the cover rate derived from it is small; epochs change only through next(). */
  readonly epochMs = 3_600_000
  private readonly callbacks = new Set<(epoch: bigint) => void>()
  private epoch = 0n

  constructor (slotsPerEpoch: number) {
    this.slotsPerEpoch = slotsPerEpoch
  }

  async generateProof (): Promise<Uint8Array> { return new Uint8Array(0) }
  async verifyProof (): Promise<void> {}

  onEpochChange (callback: (epoch: bigint) => void): () => void {
    this.callbacks.add(callback)
    return () => { this.callbacks.delete(callback) }
  }

  /** Starts the next epoch: every service using this plugin refills its slots. */
  next (): void {
    this.epoch++
    for (const cb of this.callbacks) cb(this.epoch)
  }
}

/** Polls `predicate` every 20 ms until it holds, or fails after `timeoutMs`. */
export async function waitUntil (predicate: () => boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

/** The Sphinx path hop of a node whose mix private key the test chose. */
export function hopOf (node: MixNode, privateKey: Uint8Array): PathHop {
  const addr = multiaddr(node.getMultiaddrs()[0]?.toString().replace(/\/p2p\/.*$/, ''))
  return { publicKey: basePointMul(privateKey), address: encodeAddress(node.peerId, addr) }
}
