import { createHash } from 'node:crypto'
import { MAX_CONTENT_TOPIC_LENGTH, MAX_SHARDS_PER_CLUSTER } from './constants.ts'
import { DeliveryContentTopicError, DeliveryPubsubTopicError } from './errors.ts'

/** A content topic (23/WAKU2-TOPICS, relay-sharding.md "Content Topics Format for Autosharding"). */
export interface ContentTopic {
  generation: number
  application: string
  version: string
  name: string
  encoding: string
}

/**
 * Parses `/{application}/{version}/{name}/{encoding}` or `/{generation}/{application}/{version}/{name}/{encoding}`.
 * Only generation 0 is defined (relay-sharding.md "Generation and scaling"; logos-delivery refuses others too).
 */
export function parseContentTopic (topic: string): ContentTopic {
  if (typeof topic !== 'string' || topic.length === 0 || topic.length > MAX_CONTENT_TOPIC_LENGTH) {
    throw new DeliveryContentTopicError(`a content topic is a string of 1-${MAX_CONTENT_TOPIC_LENGTH} characters`)
  }
  const parts = topic.split('/')
  if (parts[0] !== '') throw new DeliveryContentTopicError(`content topic "${topic}" must start with /`)
  const fields = parts.slice(1)
  let generation = 0
  if (fields.length === 5) {
    const g = fields.shift() as string
    if (!/^\d+$/.test(g)) throw new DeliveryContentTopicError(`content topic "${topic}": generation must be a number`)
    generation = Number(g)
    if (generation !== 0) throw new DeliveryContentTopicError(`content topic "${topic}": only generation 0 is defined`)
  }
  if (fields.length !== 4 || fields.some(f => f.length === 0)) {
    throw new DeliveryContentTopicError(`content topic "${topic}" is not /{application}/{version}/{name}/{encoding}`)
  }
  const [application, version, name, encoding] = fields as [string, string, string, string]
  return { generation, application, version, name, encoding }
}

/**
 * Autosharding (relay-sharding.md "Automatic Sharding", as logos-delivery sharding.nim computes it): SHA-256 of the
 * UTF-8 application and version, its last 8 bytes read as a big-endian u64, modulo the number of shards. (The spec
 * text takes the whole hash modulo N; the two agree whenever N is a power of two, as in every defined network.)
 */
export function shardOf (contentTopic: string, numShards: number): number {
  if (!Number.isInteger(numShards) || numShards < 1 || numShards > MAX_SHARDS_PER_CLUSTER) throw new RangeError(`the number of shards is 1-${MAX_SHARDS_PER_CLUSTER}`)
  const t = parseContentTopic(contentTopic)
  const digest = createHash('sha256').update(t.application, 'utf8').update(t.version, 'utf8').digest()
  const value = digest.readBigUInt64BE(24)
  return Number(value % BigInt(numShards))
}

/** relay-sharding.md "Static Sharding": the pubsub topic of a shard. */
export function pubsubTopic (clusterId: number, shard: number): string {
  if (!Number.isInteger(clusterId) || clusterId < 0 || clusterId > 0xffff) throw new DeliveryPubsubTopicError(`cluster ${clusterId} is not in 0-65535`)
  if (!Number.isInteger(shard) || shard < 0 || shard >= MAX_SHARDS_PER_CLUSTER) throw new DeliveryPubsubTopicError(`shard ${shard} is not in 0-${MAX_SHARDS_PER_CLUSTER - 1}`)
  return `/waku/2/rs/${clusterId}/${shard}`
}

const SHARD_TOPIC = /^\/waku\/2\/rs\/(\d{1,5})\/(\d{1,4})$/

/** Whether a pubsub topic names a static shard (its messages are WakuMessages). */
export function isShardTopic (topic: string): boolean {
  return SHARD_TOPIC.test(topic)
}

export function parsePubsubTopic (topic: string): { clusterId: number, shard: number } {
  const m = SHARD_TOPIC.exec(topic)
  if (m === null) throw new DeliveryPubsubTopicError(`"${topic}" is not /waku/2/rs/{cluster}/{shard}`)
  const clusterId = Number(m[1])
  const shard = Number(m[2])
  pubsubTopic(clusterId, shard)
  return { clusterId, shard }
}

/** The pubsub topic a content topic travels on in a network of `numShards` autosharded shards. */
export function autoshard (contentTopic: string, clusterId: number, numShards: number): string {
  return pubsubTopic(clusterId, shardOf(contentTopic, numShards))
}
