import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { createLibp2p } from 'libp2p'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { capabilityDiscovery } from '../../../src/net/discovery/index.ts'
import type { CapabilityDiscovery, CapabilityDiscoveryInit } from '../../../src/net/discovery/index.ts'
import { waitFor } from '../../../src/common/index.ts'
import { loopbackTcp } from '../loopback.ts'

export interface TestNode {
  libp2p: Libp2p<{ discovery: CapabilityDiscovery }>
  discovery: CapabilityDiscovery
  addr: Multiaddr
}

/** Parameters for loopback tests: every node shares 127.0.0.1, so the IP score is off, and waits stay short. */
export const LOOPBACK_PARAMS: CapabilityDiscoveryInit = {
  ipSimilarityWeight: 0,
  advertExpiryMs: 120_000,
  maintenanceIntervalMs: 2_000,
  requestTimeoutMs: 10_000
}

export interface NodeOptions {
  discovery?: CapabilityDiscoveryInit
  /** Without Kad-DHT: a light client that never joins the DHT. */
  dht?: boolean
  privateKey?: PrivateKey
}

/** A real js-libp2p node over TCP on 127.0.0.1 with capability discovery (and Kad-DHT under a Logos prefix). */
export async function startTestNode (options: NodeOptions = {}): Promise<TestNode> {
  const services: Record<string, unknown> = {
    identify: identify(),
    discovery: capabilityDiscovery({ ...LOOPBACK_PARAMS, ...options.discovery })
  }
  if (options.dht !== false) {
    // Kad-DHT pings contacts while the connection monitor pings too: one outbound ping stream (the default) is not enough.
    services.ping = ping({ maxOutboundStreams: 8, maxInboundStreams: 8 })
    services.dht = kadDHT({
      protocol: '/logos/kad/1.0.0',
      clientMode: options.discovery?.clientMode === true,
      peerInfoMapper: passthroughMapper,
      initialQuerySelfInterval: 500
    })
  }
  const libp2p = await createLibp2p({
    privateKey: options.privateKey ?? await generateKeyPair('Ed25519'),
    ...loopbackTcp(),
    connectionManager: { inboundConnectionThreshold: 10_000, maxIncomingPendingConnections: 200, maxConnections: 500 },
    // Services are typed per call; this helper only promises `discovery`.
    services: services as never
  }) as unknown as Libp2p<{ discovery: CapabilityDiscovery }>
  const addr = libp2p.getMultiaddrs()[0]
  if (addr === undefined) throw new Error('node has no address')
  return { libp2p, discovery: libp2p.services.discovery, addr }
}

export async function stopAll (nodes: TestNode[]): Promise<void> {
  await Promise.all(nodes.map(async n => { await n.libp2p.stop() }))
}

export async function waitUntil (predicate: () => boolean | Promise<boolean>, timeoutMs = 30_000, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await predicate()) return
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
    await waitFor(() => false, { timeoutMs: intervalMs }).catch(() => {})
  }
}
