import { defineModule } from '../../sdk/index.ts'
import { DEFAULT_CLUSTER_ID } from '../../net/delivery/index.ts'
import { parseDeliveryConfig } from './config.ts'
import { DeliveryParamsError } from './errors.ts'
import { rlnOverModule } from './rln-bridge.ts'
import type { RlnParams } from './rln-bridge.ts'
import { DeliveryService } from './service.ts'
import type { Envelope, StoreQueryParams } from './service.ts'

export { parseDeliveryConfig } from './config.ts'
export type { DeliveryConfig, MembershipConfig, SendVia } from './config.ts'
export type { Envelope, ReceivedMessage, StoreQueryParams, StoreQueryResult, HealthStatus } from './service.ts'
export type { MembershipState } from './membership.ts'
export { DeliveryConfigError, DeliveryParamsError, DeliveryBusyError, DeliveryNoServicePeerError, DeliveryNotAMemberError } from './errors.ts'

function bytes (value: unknown, name: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new DeliveryParamsError(`"${name}" must be a Uint8Array`)
  return value
}

function topics (p: { contentTopic?: unknown, contentTopics?: unknown } | undefined): string[] {
  const list = p?.contentTopics ?? (p?.contentTopic === undefined ? undefined : [p.contentTopic])
  if (!Array.isArray(list) || list.length === 0 || !list.every(t => typeof t === 'string')) throw new DeliveryParamsError('give "contentTopic" or "contentTopics" (strings)')
  return list as string[]
}

/**
 * The `delivery` module: Logos Delivery (Waku v2) on the node's network, with the Messaging API
 * (logos-lips messaging-api.md): send(envelope) -> requestId, subscribe / unsubscribe(contentTopic), events
 * message_received, message_sent (a store node holds it), message_propagated (peers took it), message_error, and
 * health. Messages are RLN-protected (17/WAKU2-RLN-RELAY v2) through the rln module. See docs/delivery.md.
 *
 * Config (ctx.config): clusterId (1), numShards (8), rln (true), store (true), lightpush (true), sendVia ('relay' |
 * 'lightpush' | 'lightpush-mix'), lightpushPeer, storePeers, maxTimestampGapMs (20 s), healthyPeers (4),
 * membership { mode: 'registrar' | 'follow' | 'off', registrarKey, userMessageLimit, maxUserMessageLimit,
 * snapshotIntervalMs }, archive { maxMessages, maxAgeMs }.
 */
export const delivery = defineModule({
  events: {
    message_received: { description: '{ messageHash, pubsubTopic, contentTopic, payload, timestamp (ns, decimal), timestampMs, meta?, ephemeral, version, from }: a validated message on a subscribed content topic' },
    message_sent: { description: '{ requestId, messageHash, storePeer }: a store node holds the message' },
    message_propagated: { description: '{ requestId, messageHash, peers }: relay peers (or a lightpush service node) took the message' },
    message_error: { description: '{ requestId, messageHash, code, error }: the send failed' },
    message_rejected: { description: '{ pubsubTopic, from, messageHash?, contentTopic?, verdict, code, reason }: a received message failed validation' },
    health: { description: '{ status: Disconnected | PartiallyConnected | Connected, relayPeers, storePeers }: the status changed' },
    membership: { description: '{ mode, registrarKey?, member, members, seq?, conflict? }: the RLN membership changed' },
    member_slashed: { description: '{ commitment, index? }: a member was caught double signalling (or slashed on evidence) and removed' }
  },
  async start (ctx) {
    const config = parseDeliveryConfig(ctx.config)
    let rlnParams: RlnParams | undefined
    if (config.rln) rlnParams = await ctx.call<RlnParams>('rln', 'params')
    const service = new DeliveryService({
      ctx,
      config,
      rln: rlnParams === undefined ? undefined : rlnOverModule(ctx, rlnParams),
      defaultLimit: rlnParams?.userMessageLimit ?? 1
    })
    await service.start()
    ctx.log.info('delivery started', { clusterId: config.clusterId, shards: config.numShards, rln: config.rln, membership: config.membership.mode })

    return {
      methods: {
        send: {
          description: 'Sends { contentTopic, payload, ephemeral?, meta? }; returns { requestId } at once, then message_propagated / message_sent / message_error (with the message hash)',
          handler: (p: Envelope) => service.send({ contentTopic: p?.contentTopic, payload: bytes(p?.payload, 'payload'), ephemeral: p.ephemeral === true, meta: p.meta === undefined ? undefined : bytes(p.meta, 'meta') })
        },
        subscribe: {
          description: 'Subscribes to { contentTopic | contentTopics }: their messages arrive as message_received; returns the subscriptions',
          handler: (p: { contentTopic?: string, contentTopics?: string[] }) => ({ contentTopics: service.subscribe(topics(p)) })
        },
        unsubscribe: {
          description: 'Unsubscribes from { contentTopic | contentTopics }',
          handler: (p: { contentTopic?: string, contentTopics?: string[] }) => ({ contentTopics: service.unsubscribe(topics(p)) })
        },
        health: {
          description: 'Connection status (Disconnected | PartiallyConnected | Connected) with relay and store peers, RLN membership and counters',
          handler: async () => await service.healthReport()
        },
        storeQuery: {
          description: 'Store v3 query { contentTopics?, pubsubTopic?, timeStart?, timeEnd? (ms), hashes?, cursor?, forward?, limit? (20, max 100), includeData?, peerId? ("self": this archive, "remote": the known store peers) } -> { messages, cursor?, peerId }',
          handler: async (p: StoreQueryParams) => await service.storeQuery(p ?? {})
        },
        info: {
          description: 'This delivery node: { clusterId, numShards, pubsubTopics, subscriptions, rln, membership }',
          handler: () => ({
            clusterId: config.clusterId ?? DEFAULT_CLUSTER_ID,
            numShards: config.numShards,
            pubsubTopics: Array.from({ length: config.numShards }, (_, i) => `/waku/2/rs/${config.clusterId}/${i}`),
            subscriptions: service.subscribed,
            sendVia: config.sendVia,
            rln: rlnParams ?? null,
            membership: service.membership?.state() ?? null
          })
        },
        pubsubTopicOf: {
          description: 'The shard (pubsub topic) of { contentTopic } under autosharding',
          handler: (p: { contentTopic: string }) => ({ pubsubTopic: service.pubsubTopicOf(p?.contentTopic) })
        }
      },
      stop: async () => { await service.stop() }
    }
  }
})
