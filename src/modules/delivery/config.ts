import { DEFAULT_CLUSTER_ID, DEFAULT_NUM_SHARDS, MAX_SHARDS_PER_CLUSTER, MAX_TIMESTAMP_GAP_MS } from '../../net/delivery/index.ts'
import { HEALTHY_RELAY_PEERS, MAX_GRANTED_MESSAGE_LIMIT, SNAPSHOT_INTERVAL_MS } from './constants.ts'
import { DeliveryConfigError } from './errors.ts'

export type SendVia = 'relay' | 'lightpush' | 'lightpush-mix'

export interface MembershipConfig {
  /** 'registrar': this node orders the membership; 'follow': it applies a registrar's snapshots; 'off': manual. */
  mode: 'registrar' | 'follow' | 'off'
  /** The registrar's Ed25519 public key (hex) a follower trusts. */
  registrarKey?: string
  /** The user_message_limit this node asks for (default: the rln module's). */
  userMessageLimit?: number
  /** Largest limit a registrar grants. */
  maxUserMessageLimit: number
  snapshotIntervalMs: number
}

/** The delivery module's configuration (ctx.config), every field optional. */
export interface DeliveryConfig {
  clusterId: number
  numShards: number
  /** RLN relay: prove what we send, validate what we relay (default true; needs the rln module). */
  rln: boolean
  /** Archive validated messages and serve store queries (default true). */
  store: boolean
  /** Serve lightpush (default true). */
  lightpush: boolean
  /** How this node sends: relay publish, lightpush to a service node, or lightpush through the mixnet. */
  sendVia: SendVia
  /** The lightpush service node (peer id); by default a connected relay peer. */
  lightpushPeer?: string
  /** Store nodes to ask first (peer ids); connected peers that answer store queries are used too. */
  storePeers: string[]
  maxTimestampGapMs: number
  /** Relay peers for the "Connected" health status. */
  healthyPeers: number
  membership: MembershipConfig
  archive: { maxMessages?: number, maxAgeMs?: number }
}

function int (raw: unknown, name: string, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback
  if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < min || raw > max) throw new DeliveryConfigError(`delivery config: "${name}" must be an integer in [${min}, ${max}]`)
  return raw
}

function bool (raw: unknown, name: string, fallback: boolean): boolean {
  if (raw === undefined) return fallback
  if (typeof raw !== 'boolean') throw new DeliveryConfigError(`delivery config: "${name}" must be true or false`)
  return raw
}

function object (raw: unknown, name: string): Record<string, unknown> {
  if (raw === undefined) return {}
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new DeliveryConfigError(`delivery config: "${name}" must be an object`)
  return raw as Record<string, unknown>
}

export function parseDeliveryConfig (raw: Readonly<Record<string, unknown>>): DeliveryConfig {
  const known = new Set(['clusterId', 'numShards', 'rln', 'store', 'lightpush', 'sendVia', 'lightpushPeer', 'storePeers', 'maxTimestampGapMs', 'healthyPeers', 'membership', 'archive'])
  for (const k of Object.keys(raw)) if (!known.has(k)) throw new DeliveryConfigError(`delivery config: unknown option "${k}"`)
  const sendVia = raw.sendVia ?? 'relay'
  if (sendVia !== 'relay' && sendVia !== 'lightpush' && sendVia !== 'lightpush-mix') throw new DeliveryConfigError('delivery config: "sendVia" is relay, lightpush or lightpush-mix')
  if (raw.lightpushPeer !== undefined && typeof raw.lightpushPeer !== 'string') throw new DeliveryConfigError('delivery config: "lightpushPeer" must be a peer id')
  const storePeers = raw.storePeers ?? []
  if (!Array.isArray(storePeers) || !storePeers.every(s => typeof s === 'string')) throw new DeliveryConfigError('delivery config: "storePeers" must be a list of peer ids')
  const m = object(raw.membership, 'membership')
  for (const k of Object.keys(m)) if (!['mode', 'registrarKey', 'userMessageLimit', 'maxUserMessageLimit', 'snapshotIntervalMs'].includes(k)) throw new DeliveryConfigError(`delivery config: unknown membership option "${k}"`)
  const registrarKey = m.registrarKey
  if (registrarKey !== undefined && (typeof registrarKey !== 'string' || !/^[0-9a-f]{64}$/i.test(registrarKey))) throw new DeliveryConfigError('delivery config: "membership.registrarKey" must be 64 hex characters')
  const mode = m.mode ?? (registrarKey !== undefined ? 'follow' : 'off')
  if (mode !== 'registrar' && mode !== 'follow' && mode !== 'off') throw new DeliveryConfigError('delivery config: "membership.mode" is registrar, follow or off')
  if (mode === 'follow' && registrarKey === undefined) throw new DeliveryConfigError('delivery config: a follower needs "membership.registrarKey"')
  const archive = object(raw.archive, 'archive')
  return {
    clusterId: int(raw.clusterId, 'clusterId', DEFAULT_CLUSTER_ID, 0, 0xffff),
    numShards: int(raw.numShards, 'numShards', DEFAULT_NUM_SHARDS, 1, MAX_SHARDS_PER_CLUSTER),
    rln: bool(raw.rln, 'rln', true),
    store: bool(raw.store, 'store', true),
    lightpush: bool(raw.lightpush, 'lightpush', true),
    sendVia,
    lightpushPeer: raw.lightpushPeer as string | undefined,
    storePeers: storePeers as string[],
    maxTimestampGapMs: int(raw.maxTimestampGapMs, 'maxTimestampGapMs', MAX_TIMESTAMP_GAP_MS, 1, 3_600_000),
    healthyPeers: int(raw.healthyPeers, 'healthyPeers', HEALTHY_RELAY_PEERS, 1, 1_000),
    membership: {
      mode,
      registrarKey: (registrarKey as string | undefined)?.toLowerCase(),
      userMessageLimit: m.userMessageLimit === undefined ? undefined : int(m.userMessageLimit, 'membership.userMessageLimit', 1, 1, 65_535),
      maxUserMessageLimit: int(m.maxUserMessageLimit, 'membership.maxUserMessageLimit', MAX_GRANTED_MESSAGE_LIMIT, 1, 65_535),
      snapshotIntervalMs: int(m.snapshotIntervalMs, 'membership.snapshotIntervalMs', SNAPSHOT_INTERVAL_MS, 100, 3_600_000)
    },
    archive: {
      maxMessages: archive.maxMessages === undefined ? undefined : int(archive.maxMessages, 'archive.maxMessages', 1, 1, 100_000_000),
      maxAgeMs: archive.maxAgeMs === undefined ? undefined : int(archive.maxAgeMs, 'archive.maxAgeMs', 1, 1, 365 * 24 * 3600 * 1000)
    }
  }
}
