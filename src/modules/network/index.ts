import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { PeerId } from '@libp2p/interface'
import { combineSignals } from '../../common/index.ts'
import { defineModule } from '../../sdk/index.ts'
import type { ServiceProvider } from '../../net/discovery/index.ts'
import { parseNetworkConfig } from './config.ts'
import { FIND_PROVIDERS_TIMEOUT_MS, MAX_PUBLISH_BYTES } from './constants.ts'
import { DialFailedError, NetworkParamsError } from './errors.ts'
import { loadOrCreatePeerKey } from './identity.ts'
import { bootstrap, createNetworkNode } from './network-node.ts'
import { MIX_EVENTS, mixMethods, mixServices } from './mix-methods.ts'
import { HIDDEN_EVENTS, hiddenMethods, hiddenServices } from './hidden-methods.ts'
import type { Mixnet } from '../../net/mix/index.ts'
import type { HiddenServices } from '../../net/mix-hidden/index.ts'
import { STORAGE_EVENTS, storageMethods, storageServices } from './storage-methods.ts'
import type { StorageService } from '../../net/storage/index.ts'
import { RELAY_EVENTS, relayMethods, relayServices } from './relay-methods.ts'
import { REQUEST_EVENTS, requestMethods } from './request-methods.ts'
import type { WakuRelay } from '../../net/delivery/index.ts'

export { parseNetworkConfig } from './config.ts'
export { parseRelayConfig } from './relay-methods.ts'
export type { NetworkConfig } from './config.ts'
export { createNetworkNode } from './network-node.ts'
export type { NetworkLibp2p, NetworkServices } from './network-node.ts'

/** A provider as the module hands it out: plain, cloneable values. */
export interface ProviderInfo {
  peerId: string
  multiaddrs: string[]
  protocol: string
  /** ServiceInfo.data (at most 33 bytes). */
  data: Uint8Array
  /** The record's sequence number, as a decimal string (JSON has no 64-bit integers). */
  seq: string
}

export interface PeerInfo {
  peerId: string
  multiaddrs: string[]
}

function providerInfo (p: ServiceProvider): ProviderInfo {
  return { peerId: p.peerId.toString(), multiaddrs: p.multiaddrs.map(String), protocol: p.serviceId, data: p.data, seq: p.seq.toString() }
}

function requireString (value: unknown, name: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new NetworkParamsError(`"${name}" must be a non-empty string`)
  return value
}

function optionalBytes (value: unknown, name: string): Uint8Array | undefined {
  if (value === undefined) return undefined
  if (!(value instanceof Uint8Array)) throw new NetworkParamsError(`"${name}" must be a Uint8Array`)
  return value
}

function optionalPositive (value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new NetworkParamsError(`"${name}" must be a positive number`)
  return value
}

/**
 * The network module: it owns the node's js-libp2p node (identity kept in its data directory) and offers it to the
 * other modules at message level: capability discovery (advertise, find providers), gossipsub, peers.
 */
export const network = defineModule({
  events: {
    'peer:connected': { description: '{ peerId }' },
    'peer:disconnected': { description: '{ peerId }' },
    'provider:found': { description: '{ protocol, peerId, multiaddrs, data, seq }: a new provider of a capability being looked up or watched' },
    'pubsub:message': { description: '{ topic, data, from }' },
    ...MIX_EVENTS,
    ...HIDDEN_EVENTS,
    ...STORAGE_EVENTS,
    ...RELAY_EVENTS,
    ...REQUEST_EVENTS
  },
  async start (ctx) {
    const config = parseNetworkConfig(ctx.config)
    const { key, created } = await loadOrCreatePeerKey(ctx.dataDir)
    const mixed = mixServices(config)
    const node = await createNetworkNode(key, config, { ...mixed, ...hiddenServices('mix' in mixed), ...storageServices(config), ...relayServices(ctx.config.relay) })
    const mix = node.services.mix as Mixnet | undefined
    const mixApi = mix === undefined ? undefined : mixMethods(ctx, mix)
    const hidden = node.services.hidden as HiddenServices | undefined
    const hiddenApi = hidden === undefined ? undefined : hiddenMethods(ctx, hidden)
    const storage = node.services.storage as StorageService | undefined
    const storageApi = storage === undefined ? undefined : storageMethods(ctx, storage)
    const relay = node.services.relay as WakuRelay | undefined
    const relayApi = relay === undefined ? undefined : relayMethods(ctx, relay)
    const requestApi = requestMethods(ctx, node)
    const { discovery, pubsub } = node.services
    ctx.log.info(created ? 'new peer identity' : 'peer identity loaded', { peerId: node.peerId.toString(), multiaddrs: node.getMultiaddrs().map(String) })

    const onConnect = (e: CustomEvent<PeerId>): void => { ctx.emit('peer:connected', { peerId: e.detail.toString() }) }
    const onDisconnect = (e: CustomEvent<PeerId>): void => { ctx.emit('peer:disconnected', { peerId: e.detail.toString() }) }
    const onProvider = (e: Event): void => { ctx.emit('provider:found', providerInfo((e as CustomEvent<ServiceProvider>).detail)) }
    const onMessage = (e: CustomEvent<{ topic: string, data: Uint8Array, type: string, from?: PeerId }>): void => {
      const m = e.detail
      ctx.emit('pubsub:message', { topic: m.topic, data: m.data, from: m.from?.toString() })
    }
    node.addEventListener('peer:connect', onConnect)
    node.addEventListener('peer:disconnect', onDisconnect)
    discovery.addEventListener('provider', onProvider)
    pubsub.addEventListener('message', onMessage)

    const stopping = new AbortController()
    if (config.bootstrap.length > 0) {
      bootstrap(node, config.bootstrap, {
        signal: stopping.signal,
        onError: (addr, err) => { ctx.log.warn('bootstrap peer unreachable', { addr, error: (err as Error).message }) }
      }).catch(() => {})
    }

    return {
      methods: {
        info: {
          description: 'This node: { peerId, multiaddrs, mode }',
          handler: () => ({ peerId: node.peerId.toString(), multiaddrs: node.getMultiaddrs().map(String), mode: config.mode })
        },
        status: {
          description: 'Connectivity at a glance: { peerId, connections, discoveryPeers, advertised, mode }',
          handler: () => ({
            peerId: node.peerId.toString(),
            connections: node.getConnections().length,
            discoveryPeers: discovery.node?.mainTable.size ?? 0,
            advertised: discovery.advertised(),
            mode: config.mode
          })
        },
        peers: {
          description: 'Connected peers: [{ peerId, multiaddrs }]',
          handler: (): PeerInfo[] => {
            const byPeer = new Map<string, string[]>()
            for (const c of node.getConnections()) {
              const id = c.remotePeer.toString()
              byPeer.set(id, [...(byPeer.get(id) ?? []), c.remoteAddr.toString()])
            }
            return [...byPeer].map(([peerId, multiaddrs]) => ({ peerId, multiaddrs }))
          }
        },
        connect: {
          description: 'Dials { multiaddr } (with /p2p/<id>); returns { peerId }',
          handler: async (p: { multiaddr: string }, call) => {
            const addr = requireString(p?.multiaddr, 'multiaddr')
            try {
              const conn = await node.dial(multiaddr(addr), { signal: call.signal })
              return { peerId: conn.remotePeer.toString() }
            } catch (err) {
              throw new DialFailedError(`cannot dial ${addr}: ${(err as Error).message}`, { cause: err })
            }
          }
        },
        advertise: {
          description: 'Advertises a capability { protocol, data? } (data at most 33 bytes); new data bumps the record seq',
          handler: async (p: { protocol: string, data?: Uint8Array }, call) => {
            const protocol = requireString(p?.protocol, 'protocol')
            await discovery.advertise(protocol, { data: optionalBytes(p.data, 'data'), signal: call.signal })
            return { protocol }
          }
        },
        stopAdvertising: {
          description: 'Stops advertising { protocol }',
          handler: (p: { protocol: string }) => {
            discovery.stopAdvertising(requireString(p?.protocol, 'protocol'))
            return { protocol: p.protocol }
          }
        },
        findProviders: {
          description: 'Verified providers of { protocol, limit?, timeoutMs? }: [{ peerId, multiaddrs, protocol, data, seq }]',
          handler: async (p: { protocol: string, limit?: number, timeoutMs?: number }, call): Promise<ProviderInfo[]> => {
            const protocol = requireString(p?.protocol, 'protocol')
            const limit = optionalPositive(p.limit, 'limit')
            const timeoutMs = optionalPositive(p.timeoutMs, 'timeoutMs') ?? FIND_PROVIDERS_TIMEOUT_MS
            const found = await discovery.findProviders(protocol, { limit, signal: combineSignals([call.signal, ctx.signal], timeoutMs) })
            return found.map(providerInfo)
          }
        },
        startDiscovering: {
          description: 'Watches { protocol }: looks it up now and then, emitting provider:found for each new provider',
          handler: (p: { protocol: string }) => {
            discovery.startDiscovering(requireString(p?.protocol, 'protocol'))
            return { protocol: p.protocol }
          }
        },
        stopDiscovering: {
          description: 'Stops watching { protocol }',
          handler: (p: { protocol: string }) => {
            discovery.stopDiscovering(requireString(p?.protocol, 'protocol'))
            return { protocol: p.protocol }
          }
        },
        publish: {
          description: 'Publishes { topic, data } on gossipsub; returns { recipients }',
          handler: async (p: { topic: string, data: Uint8Array }) => {
            const topic = requireString(p?.topic, 'topic')
            const data = optionalBytes(p.data, 'data') ?? new Uint8Array(0)
            if (data.byteLength > MAX_PUBLISH_BYTES) throw new NetworkParamsError(`"data" of ${data.byteLength} bytes exceeds ${MAX_PUBLISH_BYTES}`)
            const result = await pubsub.publish(topic, data)
            return { recipients: result.recipients.length }
          }
        },
        subscribe: {
          description: 'Subscribes to { topic }; messages arrive as pubsub:message events',
          handler: (p: { topic: string }) => {
            pubsub.subscribe(requireString(p?.topic, 'topic'))
            return { topic: p.topic }
          }
        },
        unsubscribe: {
          description: 'Unsubscribes from { topic }',
          handler: (p: { topic: string }) => {
            pubsub.unsubscribe(requireString(p?.topic, 'topic'))
            return { topic: p.topic }
          }
        },
        subscribers: {
          description: 'Peers subscribed to { topic }: [peerId]',
          handler: (p: { topic: string }) => pubsub.getSubscribers(requireString(p?.topic, 'topic')).map(String)
        },
        ping: {
          description: 'Round-trip time to { peerId } in ms',
          handler: async (p: { peerId: string }, call) => {
            const id = peerIdFromString(requireString(p?.peerId, 'peerId'))
            return { rttMs: await node.services.ping.ping(id, { signal: call.signal }) }
          }
        },
        ...mixApi?.methods,
        ...hiddenApi?.methods,
        ...storageApi?.methods,
        ...relayApi?.methods,
        ...requestApi.methods
      },
      stop: async () => {
        stopping.abort()
        mixApi?.stop()
        hiddenApi?.stop()
        storageApi?.stop()
        relayApi?.stop()
        await requestApi.stop()
        node.removeEventListener('peer:connect', onConnect)
        node.removeEventListener('peer:disconnect', onDisconnect)
        discovery.removeEventListener('provider', onProvider)
        pubsub.removeEventListener('message', onMessage)
        await node.stop()
      }
    }
  }
})
