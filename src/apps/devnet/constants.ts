import type { DiscoveryParams } from '../../net/discovery/index.ts'

/**
 * Discovery parameters of a devnet. Every node shares 127.0.0.1, so the IP similarity score, meant to tell one
 * operator's many addresses from many operators', would count every honest peer as one Sybil: it is off. The
 * maintenance pass is frequent so nodes that join late become registrars within seconds. Everything else is the
 * spec's default.
 */
export const DEVNET_DISCOVERY: Partial<DiscoveryParams> = Object.freeze({
  ipSimilarityWeight: 0,
  maintenanceIntervalMs: 2_000
})

/**
 * Mixnet options of a devnet. Dozens of nodes share one host here, so cover traffic runs at a tenth of the
 * deployment default (R = 240 slots per 10 s: 4.2 loops per second per node instead of 42); delays stay as deployed.
 * Every node is on 127.0.0.1, so relays and exits must be allowed to dial loopback addresses.
 */
export const DEVNET_MIX: Readonly<Record<string, unknown>> = Object.freeze({ slotsPerEpoch: 240, allowPrivateDestinations: true })

/** Modules each devnet node runs unless told otherwise: the network is what a devnet is for. */
export const DEVNET_MODULES = ['network']

/** A devnet is ready when every node knows this many discovery peers (or all the others, in a smaller devnet). */
export const READY_PEERS = 3

/** How long startDevnet waits for the nodes to find each other. */
export const READY_TIMEOUT_MS = 60_000

/** How often readiness is polled. */
export const READY_POLL_MS = 100
