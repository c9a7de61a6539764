import { createHash } from 'node:crypto'
import { StrictNoSign, TopicValidatorResult, gossipsub } from '@libp2p/gossipsub'
import type { GossipSubComponents, GossipsubOpts, Message } from '@libp2p/gossipsub'
import { createTopicScoreParams } from '@libp2p/gossipsub/score'
import type { PeerScoreParams } from '@libp2p/gossipsub/score'
import { TypedEventEmitter } from '@libp2p/interface'
import type { Logger, PeerId, Startable } from '@libp2p/interface'
import { combineSignals, raceSignal, throwIfAborted } from '../../common/index.ts'
import type { AbortOptions } from '../../common/index.ts'
import {
  INVALID_MESSAGE_DECAY, INVALID_MESSAGE_WEIGHT, IP_COLOCATION_THRESHOLD, IP_COLOCATION_WEIGHT, IP_COLOCATION_WHITELIST,
  MAX_MESSAGE_BYTES, MAX_PENDING_VALIDATIONS, RELAY_CODEC, RELAY_GOSSIPSUB, SCORE_THRESHOLDS, VALIDATION_TIMEOUT_MS
} from './constants.ts'
import { DeliveryNotStartedError, DeliveryPublishError } from './errors.ts'
import { checkWakuMessage, decodeWakuMessage } from './message.ts'
import type { WakuMessage } from './message.ts'
import { isShardTopic } from './sharding.ts'

export type RelayVerdict = 'accept' | 'reject' | 'ignore'

/** A message as the relay hands it to validators and listeners. */
export interface RelayedMessage {
  topic: string
  /** The bytes as received (a WakuMessage on shard topics). */
  data: Uint8Array
  /** Gossipsub's message id: hex of sha256(data). */
  msgId: string
  /** The peer it came from (not its author: messages are unsigned). */
  from: string
  /** The decoded WakuMessage, on shard topics. */
  message?: WakuMessage
}

export type RelayValidator = (m: RelayedMessage, options: AbortOptions) => RelayVerdict | Promise<RelayVerdict>

export interface RelayRejection {
  topic: string
  msgId: string
  from: string
  verdict: 'reject' | 'ignore'
  code: string
  reason: string
}

export interface WakuRelayEvents {
  /** A message that passed every check (and was forwarded). */
  message: CustomEvent<RelayedMessage>
  /** A message the relay itself refused (structure, overload, validator timeout). */
  rejected: CustomEvent<RelayRejection>
}

export interface WakuRelayInit {
  /** Gossipsub options over the Waku relay parameters (tests shorten the heartbeat, say). */
  gossipsub?: Partial<GossipsubOpts>
  maxMessageBytes?: number
  maxPendingValidations?: number
  validationTimeoutMs?: number
  /** Protocol ids to speak (default ['/vac/waku/relay/2.0.0']). */
  protocols?: string[]
}

export interface RelayStats {
  received: number
  accepted: number
  rejected: number
  ignored: number
  published: number
}

/** The part of @libp2p/gossipsub's GossipSub class the relay drives (the package exports only a narrower interface). */
interface GossipSubEngine {
  protocols: string[]
  readonly score: { params: PeerScoreParams }
  start: () => Promise<void>
  stop: () => Promise<void>
  subscribe: (topic: string) => void
  unsubscribe: (topic: string) => void
  getTopics: () => string[]
  getSubscribers: (topic: string) => PeerId[]
  getMeshPeers: (topic: string) => string[]
  getPeers: () => PeerId[]
  getScore: (peerId: string) => number
  publish: (topic: string, data: Uint8Array) => Promise<{ recipients: PeerId[] }>
  reportMessageValidationResult: (msgId: string, propagationSource: string, acceptance: TopicValidatorResult) => void
  addEventListener: (type: 'gossipsub:message', listener: (e: CustomEvent<{ propagationSource: PeerId, msgId: string, msg: Message }>) => void) => void
  removeEventListener: (type: 'gossipsub:message', listener: (e: CustomEvent<{ propagationSource: PeerId, msgId: string, msg: Message }>) => void) => void
}

function sha256 (data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(data).digest())
}

/** Topic score parameters of a shard (logos-delivery waku_relay/protocol.nim TopicParameters). */
const SHARD_TOPIC_SCORE = {
  topicWeight: 1,
  timeInMeshWeight: 0.01,
  timeInMeshQuantum: 1_000,
  timeInMeshCap: 10,
  firstMessageDeliveriesWeight: 1,
  firstMessageDeliveriesDecay: 0.5,
  firstMessageDeliveriesCap: 10,
  meshMessageDeliveriesWeight: 0,
  meshFailurePenaltyWeight: 0,
  invalidMessageDeliveriesWeight: INVALID_MESSAGE_WEIGHT,
  invalidMessageDeliveriesDecay: INVALID_MESSAGE_DECAY
}

/**
 * Waku relay (11/WAKU2-RELAY) as a js-libp2p service: gossipsub on /vac/waku/relay/2.0.0 with the Waku parameters,
 * unsigned messages (StrictNoSign) whose id is sha256 of the bytes, and validation that never blocks the event loop:
 * gossipsub runs with asynchronous validation, so a message is forwarded only once the checks of this service
 * (WakuMessage structure and size on shard topics) and the topic's validator (RLN, in the delivery module) said
 * accept. Rejected messages cost their sender the P4 penalty of -100 on shard topics.
 */
export class WakuRelay extends TypedEventEmitter<WakuRelayEvents> implements Startable {
  readonly engine: GossipSubEngine
  readonly stats: RelayStats = { received: 0, accepted: 0, rejected: 0, ignored: 0, published: 0 }
  private readonly log: Logger
  private readonly validators = new Map<string, RelayValidator>()
  private readonly maxBytes: number
  private readonly maxPending: number
  private readonly timeoutMs: number
  private pending = 0
  private running = false
  private stopping = new AbortController()

  constructor (components: GossipSubComponents, init: WakuRelayInit = {}) {
    super()
    this.log = components.logger.forComponent('logos:delivery:relay')
    this.maxBytes = init.maxMessageBytes ?? MAX_MESSAGE_BYTES
    this.maxPending = init.maxPendingValidations ?? MAX_PENDING_VALIDATIONS
    this.timeoutMs = init.validationTimeoutMs ?? VALIDATION_TIMEOUT_MS
    const factory = gossipsub({
      ...RELAY_GOSSIPSUB,
      globalSignaturePolicy: StrictNoSign,
      msgIdFn: (msg: Message) => sha256(msg.data),
      msgIdToStrFn: (id: Uint8Array) => Buffer.from(id).toString('hex'),
      asyncValidation: true,
      allowPublishToZeroTopicPeers: true,
      fallbackToFloodsub: false,
      emitSelf: false,
      // A second gossipsub on the node: its own tag, so it neither touches nor trusts the other's connection tags.
      tagMeshPeers: false,
      scoreParams: {
        IPColocationFactorWeight: IP_COLOCATION_WEIGHT,
        IPColocationFactorThreshold: IP_COLOCATION_THRESHOLD,
        IPColocationFactorWhitelist: new Set(IP_COLOCATION_WHITELIST)
      },
      scoreThresholds: { ...SCORE_THRESHOLDS },
      debugName: 'logos:delivery:relay:gossipsub',
      ...init.gossipsub
    })
    this.engine = factory(components) as unknown as GossipSubEngine
    // Gossipsub keeps its protocol ids in a public field; Waku relay replaces the /meshsub/* ladder by its own id.
    this.engine.protocols.splice(0, this.engine.protocols.length, ...(init.protocols ?? [RELAY_CODEC]))
  }

  readonly [Symbol.toStringTag] = '@logos/waku-relay'

  private readonly onMessage = (e: CustomEvent<{ propagationSource: PeerId, msgId: string, msg: Message }>): void => {
    void this.handle(e.detail.msg, e.detail.msgId, e.detail.propagationSource.toString())
  }

  async start (): Promise<void> {
    if (this.running) return
    this.stopping = new AbortController()
    this.engine.addEventListener('gossipsub:message', this.onMessage)
    await this.engine.start()
    this.running = true
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    this.stopping.abort()
    this.engine.removeEventListener('gossipsub:message', this.onMessage)
    await this.engine.stop()
  }

  isStarted (): boolean {
    return this.running
  }

  /** Subscribes to a pubsub topic; shard topics get Waku's topic score parameters (P4 penalty of invalid messages). */
  subscribe (topic: string): void {
    if (!this.running) throw new DeliveryNotStartedError('the relay is not started')
    const topics = this.engine.score.params.topics
    if (isShardTopic(topic) && topics[topic] === undefined) topics[topic] = createTopicScoreParams(SHARD_TOPIC_SCORE)
    this.engine.subscribe(topic)
  }

  unsubscribe (topic: string): void {
    if (!this.running) return
    this.engine.unsubscribe(topic)
  }

  getTopics (): string[] {
    return this.engine.getTopics()
  }

  /** Sets (or with undefined removes) the validator of a topic; '*' validates every topic without one of its own. */
  setValidator (topic: string, validator: RelayValidator | undefined): void {
    if (validator === undefined) this.validators.delete(topic)
    else this.validators.set(topic, validator)
  }

  /**
   * Publishes bytes on a topic (a WakuMessage on shard topics: checked first). Flood publish sends to every
   * subscribed peer above the publish threshold; the recipients are returned.
   */
  async publish (topic: string, data: Uint8Array, options: AbortOptions = {}): Promise<{ recipients: string[] }> {
    throwIfAborted(options.signal)
    if (!this.running) throw new DeliveryNotStartedError('the relay is not started')
    if (isShardTopic(topic)) checkWakuMessage(decodeWakuMessage(data), data.length, this.maxBytes)
    try {
      const r = await this.engine.publish(topic, data)
      this.stats.published++
      return { recipients: r.recipients.map(String) }
    } catch (err) {
      throw new DeliveryPublishError(`publish on ${topic} failed: ${(err as Error).message}`, { cause: err })
    }
  }

  getSubscribers (topic: string): string[] {
    return this.engine.getSubscribers(topic).map(String)
  }

  getMeshPeers (topic: string): string[] {
    return this.engine.getMeshPeers(topic)
  }

  getPeers (): string[] {
    return this.engine.getPeers().map(String)
  }

  /** A peer's gossipsub score as this node sees it. */
  getScore (peerId: string): number {
    return this.engine.getScore(peerId)
  }

  private report (m: { topic: string, msgId: string, from: string }, verdict: RelayVerdict, why?: { code: string, reason: string }): void {
    const acceptance = verdict === 'accept' ? TopicValidatorResult.Accept : verdict === 'reject' ? TopicValidatorResult.Reject : TopicValidatorResult.Ignore
    if (this.running) this.engine.reportMessageValidationResult(m.msgId, m.from, acceptance)
    if (verdict === 'accept') this.stats.accepted++
    else if (verdict === 'reject') this.stats.rejected++
    else this.stats.ignored++
    if (verdict !== 'accept' && why !== undefined) {
      this.safeDispatch('rejected', { topic: m.topic, msgId: m.msgId, from: m.from, verdict, ...why })
    }
  }

  private safeDispatch<K extends keyof WakuRelayEvents>(type: K, detail: WakuRelayEvents[K]['detail']): void {
    try {
      this.dispatchEvent(new CustomEvent(type, { detail }))
    } catch (err) {
      this.log.error('a %s listener failed: %e', type, err)
    }
  }

  /**
   * Runs the checks of a received message on bytes that did not come through gossipsub (a lightpush request): the
   * structure on shard topics, then the topic's validator. Returns the verdict and, when not accepted, why.
   */
  async validate (topic: string, data: Uint8Array, from: string, options: AbortOptions = {}): Promise<{ verdict: RelayVerdict, message?: WakuMessage, code?: string, reason?: string }> {
    const relayed: RelayedMessage = { topic, data, msgId: Buffer.from(sha256(data)).toString('hex'), from }
    const r = await this.check(relayed, options.signal)
    return { verdict: r.verdict, message: relayed.message, code: r.why?.code, reason: r.why?.reason }
  }

  private async check (relayed: RelayedMessage, abort?: AbortSignal): Promise<{ verdict: RelayVerdict, why?: { code: string, reason: string } }> {
    if (isShardTopic(relayed.topic)) {
      try {
        const decoded = decodeWakuMessage(relayed.data)
        checkWakuMessage(decoded, relayed.data.length, this.maxBytes)
        relayed.message = decoded
      } catch (err) {
        return { verdict: 'reject', why: { code: (err as { code?: string }).code ?? 'ERR_DLV_DECODE', reason: (err as Error).message } }
      }
    }
    const validator = this.validators.get(relayed.topic) ?? this.validators.get('*')
    if (validator === undefined) return { verdict: 'accept' }
    if (this.pending >= this.maxPending) return { verdict: 'ignore', why: { code: 'ERR_DLV_OVERLOADED', reason: `${this.pending} messages are waiting for validation` } }
    this.pending++
    try {
      const signal = combineSignals([this.stopping.signal, abort], this.timeoutMs)
      return { verdict: await raceSignal(Promise.resolve(validator(relayed, { signal })), signal) }
    } catch (err) {
      return { verdict: 'ignore', why: { code: (err as { code?: string }).code ?? 'ERR_UNEXPECTED', reason: `validator failed: ${(err as Error).message}` } }
    } finally {
      this.pending--
    }
  }

  private async handle (msg: Message, msgId: string, from: string): Promise<void> {
    this.stats.received++
    const relayed: RelayedMessage = { topic: msg.topic, msgId, from, data: msg.data }
    const { verdict, why } = await this.check(relayed)
    this.report(relayed, verdict, why)
    if (verdict === 'accept') this.safeDispatch('message', relayed)
  }
}

export function wakuRelay (init: WakuRelayInit = {}): (components: GossipSubComponents) => WakuRelay {
  return (components) => new WakuRelay(components, init)
}
