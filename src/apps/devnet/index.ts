/** A local network of full Logos nodes on loopback, for demos, end-to-end tests and benchmarks. */
export { startDevnet } from './devnet.ts'
export type { Devnet, DevnetOptions, DevnetPeer } from './devnet.ts'
export { DEVNET_DISCOVERY, DEVNET_MIX, DEVNET_MODULES } from './constants.ts'
export { DevnetStartError } from './errors.ts'
