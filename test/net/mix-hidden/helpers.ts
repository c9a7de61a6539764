import { identify } from '@libp2p/identify'
import { createLibp2p } from 'libp2p'
import type { Libp2p } from 'libp2p'
import type { PeerId } from '@libp2p/interface'
import { mixnet, staticMixNodeSource } from '../../../src/net/mix/index.ts'
import type { Mixnet, MixnetInit, StaticMixNodeSource } from '../../../src/net/mix/index.ts'
import { HiddenServicesService } from '../../../src/net/mix-hidden/index.ts'
import type { HiddenMixTransport, HiddenServices, HiddenServicesInit } from '../../../src/net/mix-hidden/index.ts'
import { loopbackTcp } from '../loopback.ts'

export type HiddenNode = Libp2p<{ mix: Mixnet, hidden: HiddenServices, identify: unknown }>

export interface HiddenNet {
  nodes: HiddenNode[]
  source: StaticMixNodeSource
  stop: () => Promise<void>
}

/** Short delays, no cover: the protocol is what these tests look at. */
export const FAST_MIX: MixnetInit = { meanDelayMs: 5, senderDelayMs: 5, exitDelayMs: 5, cover: { strategy: 'none' }, keyRotationIntervalMs: 0, allowPrivateDestinations: true }

/** A lost publish or fetch is retried after this long instead of the 20 s default, as loopback answers in milliseconds. */
const FAST_DIRECTORY_TIMEOUT_MS = 5_000

export interface HiddenNetOptions {
  mix?: MixnetInit
  hidden?: (i: number) => HiddenServicesInit
  /** Wraps node i's view of its mix service (to watch what its hidden-service layer gets). */
  wrap?: (transport: HiddenMixTransport, i: number) => HiddenMixTransport
}

/**
 * Real js-libp2p nodes on 127.0.0.1 TCP, each with the mix service and the hidden-service layer mounted the js-libp2p
 * way (`components.mix`), sharing one static list of mix nodes.
 */
export async function startHiddenNet (n: number, options: HiddenNetOptions = {}): Promise<HiddenNet> {
  const source = staticMixNodeSource()
  const nodes: HiddenNode[] = []
  for (let i = 0; i < n; i++) {
    const node = await createLibp2p({
      ...loopbackTcp(),
      services: {
        identify: identify(),
        mix: mixnet({ nodeSource: source, ...(options.mix ?? FAST_MIX) }),
        hidden: (components: { peerId: PeerId, mix: Mixnet }) => new HiddenServicesService({
          peerId: components.peerId,
          mix: options.wrap === undefined ? components.mix : options.wrap(components.mix, i)
        }, { directoryTimeoutMs: FAST_DIRECTORY_TIMEOUT_MS, ...options.hidden?.(i) })
      }
    })
    nodes.push(node as unknown as HiddenNode)
  }
  for (const node of nodes) source.add({ peerId: node.peerId, multiaddrs: node.getMultiaddrs(), mixPublicKey: node.services.mix.publicKey })
  return { nodes, source, stop: async () => { await Promise.all(nodes.map(async x => { await x.stop() })) } }
}

/** The mix tests' own polling wait: hidden services are tested on the same loopback mixnets. */
export { waitUntil } from '../mix/helpers.ts'

/**
 * A view of a mix service that records everything the hidden-service layer on top of it receives: what comes back
 * through its SURBs, the messages it handles as an exit, and the packets it sends (to see the SURBs it uses), and
 * the SURBs it makes (their return paths are its own choice and may run through any node).
 */
export function recordingTransport (inner: HiddenMixTransport, log: { received: Uint8Array[], sent: Uint8Array[], created: Uint8Array[] }): HiddenMixTransport {
  return {
    knownNodes: () => inner.knownNodes(),
    handleInternal: (codec, handler) => {
      inner.handleInternal(codec, async (msg) => {
        log.received.push(msg.data, ...msg.surbs)
        await handler(msg)
      })
    },
    unhandleInternal: (codec) => { inner.unhandleInternal(codec) },
    sendToExit: async (exit, codec, data, options) => {
      await inner.sendToExit(exit, codec, (s) => {
        const bytes = typeof data === 'function' ? data(s) : data
        log.sent.push(bytes)
        return bytes
      }, options)
    },
    createSurbs: (count, options) => {
      const surbs = inner.createSurbs(count, {
        ...options,
        onReply: (m, replyKey) => {
          log.received.push(m)
          options.onReply(m, replyKey)
        }
      })
      log.created.push(...surbs)
      return surbs
    },
    dropSurbs: (group) => { inner.dropSurbs(group) },
    sendViaSurb: async (surb, message, options) => { await inner.sendViaSurb(surb, message, options) }
  }
}
