import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import type { GossipSub } from '@libp2p/gossipsub'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Identify } from '@libp2p/identify'
import type { Ping } from '@libp2p/ping'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import { delay } from '../../common/index.ts'
import { capabilityDiscovery } from '../../net/discovery/index.ts'
import type { CapabilityDiscovery } from '../../net/discovery/index.ts'
import {
  BOOTSTRAP_BACKOFF_MAX_MS, BOOTSTRAP_BACKOFF_MS, BOOTSTRAP_RETRIES, INBOUND_CONNECTION_THRESHOLD, KAD_PROTOCOL,
  MAX_INCOMING_PENDING_CONNECTIONS, MAX_PARALLEL_DIALS, PING_STREAMS
} from './constants.ts'
import type { NetworkConfig } from './config.ts'

export interface NetworkServices {
  identify: Identify
  ping: Ping
  dht: KadDHT
  pubsub: GossipSub
  discovery: CapabilityDiscovery
  [name: string]: unknown
}

export type NetworkLibp2p = Libp2p<NetworkServices>

/**
 * The node's js-libp2p node: TCP, Noise, Yamux, identify, ping, Kad-DHT under the Logos prefix, gossipsub and
 * capability discovery, with connection limits fit for dozens of peers on one host. `extraServices` lets other
 * networking services (the mixnet) mount themselves the js-libp2p way.
 */
export async function createNetworkNode (privateKey: PrivateKey, config: NetworkConfig, extraServices: Record<string, unknown> = {}): Promise<NetworkLibp2p> {
  const client = config.mode === 'client'
  const services = {
    identify: identify(),
    ping: ping({ maxOutboundStreams: PING_STREAMS, maxInboundStreams: PING_STREAMS }),
    dht: kadDHT({
      protocol: KAD_PROTOCOL,
      clientMode: client,
      // The default mapper drops private addresses, which are all a loopback or LAN network has.
      peerInfoMapper: passthroughMapper
    }),
    pubsub: gossipsub({ allowPublishToZeroTopicPeers: true }),
    discovery: capabilityDiscovery({ ...config.discovery, clientMode: client }),
    ...extraServices
  }
  const node = await createLibp2p({
    privateKey,
    addresses: { listen: config.listen, announce: config.announce },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: {
      maxConnections: config.maxConnections,
      inboundConnectionThreshold: INBOUND_CONNECTION_THRESHOLD,
      maxIncomingPendingConnections: MAX_INCOMING_PENDING_CONNECTIONS,
      maxParallelDials: MAX_PARALLEL_DIALS
    },
    // Each factory is typed over its own components; libp2p checks them at run time.
    services: services as never
  })
  return node as unknown as NetworkLibp2p
}

/** Dials each bootstrap peer, retrying with backoff in the background; resolves once each has succeeded or given up. */
export async function bootstrap (node: NetworkLibp2p, addrs: string[], options: { signal?: AbortSignal, onError?: (addr: string, err: unknown) => void } = {}): Promise<number> {
  const results = await Promise.all(addrs.map(async (addr) => {
    let backoff = BOOTSTRAP_BACKOFF_MS
    for (let attempt = 0; attempt <= BOOTSTRAP_RETRIES; attempt++) {
      if (options.signal?.aborted === true) return false
      try {
        await node.dial(multiaddr(addr), { signal: options.signal })
        return true
      } catch (err) {
        if (attempt === BOOTSTRAP_RETRIES) options.onError?.(addr, err)
        await delay(backoff, { signal: options.signal }).catch(() => {})
        backoff = Math.min(backoff * 2, BOOTSTRAP_BACKOFF_MAX_MS)
      }
    }
    return false
  }))
  return results.filter(Boolean).length
}
