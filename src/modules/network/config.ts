import { multiaddr } from '@multiformats/multiaddr'
import { DEFAULT_PARAMS } from '../../net/discovery/index.ts'
import type { DiscoveryParams } from '../../net/discovery/index.ts'
import { DEFAULT_LISTEN, MAX_CONNECTIONS } from './constants.ts'
import { NetworkConfigError } from './errors.ts'

/** The network module's configuration (ctx.config), every field optional. */
export interface NetworkConfig {
  /** Multiaddrs to listen on (default ['/ip4/127.0.0.1/tcp/0']). */
  listen: string[]
  /** Multiaddrs (with /p2p/<id>) dialled at start. */
  bootstrap: string[]
  /** Multiaddrs announced instead of the listen addresses (e.g. behind a port mapping). */
  announce: string[]
  /** 'client': a light node (DHT client, discovery client: finds, serves nothing, advertises nothing). */
  mode: 'server' | 'client'
  maxConnections: number
  /** Capability discovery parameters (LOGOS-SERVICE-DISCOVERY "System Parameters" and timers). */
  discovery: Partial<DiscoveryParams>
  /** Options for the mixnet, kept for the code that mounts it. */
  mix: Record<string, unknown>
  /** Options for the storage service (storage-methods.ts), kept for the code that mounts it. */
  storage: Record<string, unknown>
}

function strings (raw: unknown, field: string, fallback: string[]): string[] {
  if (raw === undefined) return fallback
  if (!Array.isArray(raw) || !raw.every(s => typeof s === 'string')) throw new NetworkConfigError(`network config: "${field}" must be a list of multiaddr strings`)
  for (const s of raw as string[]) {
    try {
      multiaddr(s)
    } catch (err) {
      throw new NetworkConfigError(`network config: "${field}" holds an invalid multiaddr "${s}"`, { cause: err })
    }
  }
  return raw as string[]
}

export function parseNetworkConfig (raw: Readonly<Record<string, unknown>>): NetworkConfig {
  const mode = raw.mode ?? 'server'
  if (mode !== 'server' && mode !== 'client') throw new NetworkConfigError('network config: "mode" must be "server" or "client"')
  const maxConnections = raw.maxConnections ?? MAX_CONNECTIONS
  if (typeof maxConnections !== 'number' || !Number.isInteger(maxConnections) || maxConnections < 1) {
    throw new NetworkConfigError('network config: "maxConnections" must be a positive integer')
  }
  const discovery = raw.discovery ?? {}
  if (discovery === null || typeof discovery !== 'object' || Array.isArray(discovery)) throw new NetworkConfigError('network config: "discovery" must be an object')
  for (const [k, v] of Object.entries(discovery)) {
    if (!(k in DEFAULT_PARAMS)) throw new NetworkConfigError(`network config: unknown discovery parameter "${k}"`)
    if (typeof v !== 'number') throw new NetworkConfigError(`network config: discovery.${k} must be a number`)
  }
  const mix = raw.mix ?? {}
  if (mix === null || typeof mix !== 'object' || Array.isArray(mix)) throw new NetworkConfigError('network config: "mix" must be an object')
  const storage = raw.storage ?? {}
  if (storage === null || typeof storage !== 'object' || Array.isArray(storage)) throw new NetworkConfigError('network config: "storage" must be an object')
  return {
    listen: strings(raw.listen, 'listen', DEFAULT_LISTEN),
    bootstrap: strings(raw.bootstrap, 'bootstrap', []),
    announce: strings(raw.announce, 'announce', []),
    mode,
    maxConnections,
    discovery: discovery as Partial<DiscoveryParams>,
    mix: mix as Record<string, unknown>,
    storage: storage as Record<string, unknown>
  }
}
