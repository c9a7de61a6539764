import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import * as lp from 'it-length-prefixed'
import { RingBuffer, delay, summarize } from '../../common/index.ts'
import {
  DeliveryPubsubTopicError, LIGHTPUSH_CODEC, MEMBERSHIP_TOPIC, MessageArchive, STORE_CODEC, autoshard, checkWakuMessage,
  decodeWakuMessage, encodeLightPushRequest, encodeStoreQueryRequest, encodeWakuMessage,
  handleLightpushRequest, handleStoreRequest, hashHex, messageHash, nsFromMs, parseContentTopic, parsePubsubTopic,
  proveRlnMessage, pubsubTopic, readLightPushResponse, readStoreResponse, relayVerdict, storeQuery, validateRlnMessage
} from '../../net/delivery/index.ts'
import type {
  LightPushRequest, RelayVerdict, RlnRelayProver, RlnRelayVerifier, StoreQueryRequest, StoreQueryResponse, WakuMessage
} from '../../net/delivery/index.ts'
import type { ModuleContext } from '../../sdk/index.ts'
import type { DeliveryConfig } from './config.ts'
import {
  ARCHIVE_FILE, CONFIRM_ATTEMPTS, MAX_PROOF_AGE_MS, CONFIRM_FIRST_DELAY_MS, HEALTH_INTERVAL_MS, MAX_OUTSTANDING_SENDS,
  MAX_PENDING_VALIDATIONS, MAX_SUBSCRIPTIONS, MEMBERSHIP_WAIT_MS, NOT_A_SERVICE_PEER_MS, PUBLISH_ATTEMPTS,
  PUBLISH_RETRY_MS, STORE_PEERS_TRIED, VALIDATION_SAMPLES
} from './constants.ts'
import { DeliveryBusyError, DeliveryNoServicePeerError, DeliveryNotAMemberError, DeliveryParamsError } from './errors.ts'
import { MembershipRegistry } from './membership.ts'
import type { MembershipState } from './membership.ts'

export type HealthStatus = 'Disconnected' | 'PartiallyConnected' | 'Connected'

/** The Messaging API envelope (messaging-api.md MessageEnvelope), plus meta (14/WAKU2-MESSAGE). */
export interface Envelope {
  contentTopic: string
  payload: Uint8Array
  ephemeral?: boolean
  meta?: Uint8Array
}

/** A message as the module hands it out: plain, cloneable values (timestamps in ns as decimal strings). */
export interface ReceivedMessage {
  messageHash: string
  pubsubTopic: string
  contentTopic: string
  payload: Uint8Array
  timestamp: string
  timestampMs: number
  meta?: Uint8Array
  ephemeral: boolean
  version: number
}

export interface StoreQueryParams {
  contentTopics?: string[]
  pubsubTopic?: string
  /** ms since the Unix epoch, inclusive */
  timeStart?: number
  /** ms since the Unix epoch, exclusive */
  timeEnd?: number
  /** Message hashes (0x hex) to look up. */
  hashes?: string[]
  cursor?: string
  forward?: boolean
  limit?: number
  includeData?: boolean
  /**
   * A store node to ask; 'self' for this node's archive, 'remote' for the store peers this node knows; by default
   * this node's archive when it has one, else the store peers.
   */
  peerId?: string
}

export interface StoreQueryResult {
  messages: Array<{ messageHash: string, message?: ReceivedMessage }>
  cursor?: string
  peerId: string
}

interface Deps {
  ctx: ModuleContext
  config: DeliveryConfig
  rln: (RlnRelayVerifier & RlnRelayProver) | undefined
  defaultLimit: number
}

function view (pubsub: string, m: WakuMessage, hash?: Uint8Array): ReceivedMessage {
  const ts = m.timestamp ?? 0n
  return {
    messageHash: hashHex(hash ?? messageHash(pubsub, m)),
    pubsubTopic: pubsub,
    contentTopic: m.contentTopic,
    payload: m.payload,
    timestamp: ts.toString(),
    timestampMs: Number(ts / 1_000_000n),
    meta: m.meta,
    ephemeral: m.ephemeral === true,
    version: m.version ?? 0
  }
}

function fromHex (h: string, name: string): Uint8Array {
  const s = h.startsWith('0x') ? h.slice(2) : h
  if (!/^[0-9a-fA-F]{64}$/.test(s)) throw new DeliveryParamsError(`"${name}" must be a 32-byte hash in hex`)
  return Uint8Array.from(Buffer.from(s, 'hex'))
}

/**
 * The delivery node behind the module's methods: relay on every shard of the cluster (through the network module's
 * relay), RLN relay validation of everything it forwards (through the rln module), a store (archive + store v3
 * server), a lightpush server, sending with proofs, propagation and store confirmation, and health.
 */
export class DeliveryService {
  private readonly ctx: ModuleContext
  private readonly config: DeliveryConfig
  private readonly rln: (RlnRelayVerifier & RlnRelayProver) | undefined
  readonly membership: MembershipRegistry | undefined
  private archive: MessageArchive | undefined
  private readonly shards: string[]
  private readonly subscriptions = new Set<string>()
  private readonly outstanding = new Set<string>()
  private readonly storePeers = new Set<string>()
  private readonly notStore = new Map<string, number>()
  private readonly notLightpush = new Map<string, number>()
  private pendingValidations = 0
  private health: HealthStatus = 'Disconnected'
  private healthTimer: ReturnType<typeof setInterval> | undefined
  private readonly offs: Array<() => void> = []
  private stopped = false
  readonly stats = { sent: 0, received: 0, accepted: 0, rejected: 0, ignored: 0, archived: 0 }
  /** How long RLN relay validation took (ms) for the latest messages. */
  private readonly validateMs = new RingBuffer<number>(VALIDATION_SAMPLES)

  constructor (deps: Deps) {
    this.ctx = deps.ctx
    this.config = deps.config
    this.rln = deps.rln
    this.shards = Array.from({ length: deps.config.numShards }, (_, i) => pubsubTopic(deps.config.clusterId, i))
    for (const p of deps.config.storePeers) this.storePeers.add(p)
    if (deps.rln !== undefined && deps.config.membership.mode !== 'off') {
      this.membership = new MembershipRegistry({
        ctx: deps.ctx,
        config: deps.config.membership,
        dataDir: deps.ctx.dataDir,
        defaultLimit: deps.defaultLimit,
        publish: async (data) => { await this.ctx.call('network', 'relayPublish', { topic: MEMBERSHIP_TOPIC, data }) },
        onChange: (state: MembershipState) => { this.ctx.emit('membership', state) }
      })
    }
  }

  // ---- lifecycle -----------------------------------------------------------------------------------------------

  async start (): Promise<void> {
    const { ctx, config } = this
    if (config.store) this.archive = new MessageArchive(join(ctx.dataDir, ARCHIVE_FILE), config.archive)
    this.offs.push(ctx.on('network', 'relay:message', (payload) => { this.onRelayMessage(payload as RelayEvent) }))
    this.offs.push(ctx.on('network', 'protocol:request', (payload) => { this.onRequest(payload as RequestEvent) }))
    if (this.rln !== undefined) {
      this.offs.push(ctx.on('rln', 'slashed', (payload) => {
        const p = payload as { commitment: string, index?: number, evidence: unknown }
        ctx.emit('member_slashed', { commitment: p.commitment, index: p.index })
        this.membership?.noticeSlashing(p.commitment, p.evidence).catch(() => {})
      }))
    }
    for (const topic of this.shards) await ctx.call('network', 'relaySubscribe', { topic, validate: true })
    if (this.membership !== undefined) await ctx.call('network', 'relaySubscribe', { topic: MEMBERSHIP_TOPIC, validate: true })
    if (config.store) await ctx.call('network', 'handleProtocol', { protocol: STORE_CODEC })
    // Lightpush through the mixnet needs nothing more: the exit node opens a lightpush stream to this node and
    // writes the length-prefixed request the sender put in the mix payload (mix.md: the origin protocol's framing).
    if (config.lightpush) await ctx.call('network', 'handleProtocol', { protocol: LIGHTPUSH_CODEC })
    await this.membership?.start()
    this.healthTimer = setInterval(() => { this.checkHealth().catch(() => {}) }, HEALTH_INTERVAL_MS)
    this.checkHealth().catch(() => {})
  }

  async stop (): Promise<void> {
    this.stopped = true
    if (this.healthTimer !== undefined) clearInterval(this.healthTimer)
    this.membership?.stop()
    for (const off of this.offs) off()
    const calls: Array<Promise<unknown>> = []
    for (const topic of this.shards) calls.push(this.ctx.call('network', 'relayUnsubscribe', { topic }))
    if (this.membership !== undefined) calls.push(this.ctx.call('network', 'relayUnsubscribe', { topic: MEMBERSHIP_TOPIC }))
    if (this.config.store) calls.push(this.ctx.call('network', 'unhandleProtocol', { protocol: STORE_CODEC }))
    if (this.config.lightpush) calls.push(this.ctx.call('network', 'unhandleProtocol', { protocol: LIGHTPUSH_CODEC }))
    await Promise.allSettled(calls)
    this.archive?.close()
  }

  // ---- subscriptions -----------------------------------------------------------------------------------------

  pubsubTopicOf (contentTopic: string): string {
    return autoshard(contentTopic, this.config.clusterId, this.config.numShards)
  }

  subscribe (contentTopics: string[]): string[] {
    for (const t of contentTopics) parseContentTopic(t)
    if (this.subscriptions.size + contentTopics.length > MAX_SUBSCRIPTIONS) throw new DeliveryParamsError(`at most ${MAX_SUBSCRIPTIONS} content topics`)
    for (const t of contentTopics) this.subscriptions.add(t)
    return [...this.subscriptions]
  }

  unsubscribe (contentTopics: string[]): string[] {
    for (const t of contentTopics) this.subscriptions.delete(t)
    return [...this.subscriptions]
  }

  get subscribed (): string[] {
    return [...this.subscriptions]
  }

  // ---- receiving -----------------------------------------------------------------------------------------------

  private onRelayMessage (e: RelayEvent): void {
    if (e.id === undefined) return
    const id = e.id
    const decide = (verdict: RelayVerdict): void => {
      this.ctx.call('network', 'relayValidate', { id, verdict }).catch(() => {})
    }
    if (e.topic === MEMBERSHIP_TOPIC) {
      if (this.membership === undefined) { decide('ignore'); return }
      this.membership.handle(e.data).then(decide, () => { decide('ignore') })
      return
    }
    if (!this.shards.includes(e.topic)) { decide('ignore'); return }
    if (this.pendingValidations >= MAX_PENDING_VALIDATIONS) { decide('ignore'); this.stats.ignored++; return }
    this.pendingValidations++
    this.validate(e).then(decide, () => { decide('ignore') }).finally(() => { this.pendingValidations-- })
  }

  /** Validates a relayed message (RLN relay when on), then archives it and hands it to subscribers. */
  private async validate (e: RelayEvent): Promise<RelayVerdict> {
    this.stats.received++
    let m: WakuMessage
    try {
      m = decodeWakuMessage(e.data)
    } catch {
      this.rejected(e, 'reject', { code: 'ERR_DLV_DECODE', message: 'not a WakuMessage' })
      return 'reject'
    }
    const verdict = await this.check(m, e.topic, e.from)
    if (verdict !== 'accept') return verdict
    this.accepted(e.topic, m, e.data, e.from)
    return 'accept'
  }

  private async check (m: WakuMessage, topic: string, from: string): Promise<RelayVerdict> {
    if (this.rln === undefined) return 'accept'
    const t0 = performance.now()
    try {
      await validateRlnMessage(m, this.rln, { maxTimestampGapMs: this.config.maxTimestampGapMs })
      this.validateMs.push(performance.now() - t0)
      return 'accept'
    } catch (err) {
      const verdict = relayVerdict(err)
      this.rejected({ topic, from, message: m }, verdict, err as { code?: string, message?: string })
      return verdict
    }
  }

  private rejected (e: { topic: string, from: string, message?: WakuMessage }, verdict: RelayVerdict, err: { code?: string, message?: string }): void {
    if (verdict === 'reject') this.stats.rejected++
    else this.stats.ignored++
    this.ctx.emit('message_rejected', {
      pubsubTopic: e.topic,
      from: e.from,
      messageHash: e.message === undefined ? undefined : hashHex(messageHash(e.topic, e.message)),
      contentTopic: e.message?.contentTopic,
      verdict,
      code: err.code ?? 'ERR_UNEXPECTED',
      reason: err.message ?? String(err)
    })
  }

  private accepted (topic: string, m: WakuMessage, encoded: Uint8Array, from: string): void {
    this.stats.accepted++
    this.archivePut(topic, m, encoded)
    if (this.subscriptions.has(m.contentTopic)) this.ctx.emit('message_received', { ...view(topic, m), from })
  }

  private archivePut (topic: string, m: WakuMessage, encoded?: Uint8Array): void {
    if (this.archive === undefined) return
    try {
      if (this.archive.put(topic, m, encoded) !== undefined) this.stats.archived++
    } catch (err) {
      this.ctx.log.error('archiving failed', { error: (err as Error).message })
    }
  }

  // ---- serving store and lightpush ---------------------------------------------------------------------------

  private onRequest (e: RequestEvent): void {
    if (e.protocol === STORE_CODEC && this.archive !== undefined) {
      const data = handleStoreRequest(this.archive, e.data)
      this.ctx.call('network', 'respond', { id: e.id, data }).catch(() => {})
    } else if (e.protocol === LIGHTPUSH_CODEC && this.config.lightpush) {
      this.serveLightpush(e.data, e.from).then(async (data) => await this.ctx.call('network', 'respond', { id: e.id, data })).catch(() => {})
    }
  }

  /** lightpush.md "Message Relaying": validate the pushed message as if it had been relayed to us, then publish it. */
  private async serveLightpush (request: Uint8Array, from: string): Promise<Uint8Array> {
    return await handleLightpushRequest(request, async (requested, message, encoded) => {
      const topic = requested ?? this.pubsubTopicOf(message.contentTopic)
      parsePubsubTopic(topic)
      if (!this.shards.includes(topic)) throw new DeliveryPubsubTopicError(`${topic} is not a shard of this network`)
      checkWakuMessage(message, encoded.length)
      if (this.rln !== undefined) await validateRlnMessage(message, this.rln, { maxTimestampGapMs: this.config.maxTimestampGapMs })
      const r = await this.ctx.call<{ recipients: number }>('network', 'relayPublish', { topic, data: encoded })
      this.accepted(topic, message, encoded, from)
      return { relayPeerCount: r.recipients }
    })
  }

  // ---- sending -------------------------------------------------------------------------------------------------

  /**
   * Messaging API send: checks the envelope now (a bad one throws), then proves, publishes and confirms in the
   * background, reporting message_propagated, message_sent or message_error (each with the message hash) under the
   * returned request id. The timestamp is taken right before the proof (the timestamp is part of the RLN signal,
   * and a message waiting for its proof must not go stale: relays refuse a timestamp more than 20 s off).
   */
  send (env: Envelope): { requestId: string } {
    if (this.outstanding.size >= MAX_OUTSTANDING_SENDS) throw new DeliveryBusyError(`${this.outstanding.size} sends are in progress`)
    parseContentTopic(env.contentTopic)
    const message: WakuMessage = { payload: env.payload, contentTopic: env.contentTopic, version: 0, meta: env.meta, ephemeral: env.ephemeral === true ? true : undefined }
    checkWakuMessage(message, env.payload.length + env.contentTopic.length + (env.meta?.length ?? 0))
    const topic = this.pubsubTopicOf(env.contentTopic)
    const requestId = randomUUID()
    this.outstanding.add(requestId)
    let hash: string | undefined
    this.deliver(requestId, topic, message, (h) => { hash = h }).catch((err: unknown) => {
      this.ctx.emit('message_error', { requestId, messageHash: hash, code: (err as { code?: string }).code ?? 'ERR_UNEXPECTED', error: (err as Error).message })
    }).finally(() => { this.outstanding.delete(requestId) })
    return { requestId }
  }

  private async deliver (requestId: string, topic: string, message: WakuMessage, hashed: (hash: string) => void): Promise<void> {
    if (this.rln !== undefined) {
      if (this.membership?.isRemoved === true) throw new DeliveryNotAMemberError('this node was removed from the RLN group (slashed): it cannot prove its messages')
      if (this.membership !== undefined && !this.membership.isMember) {
        const member = await this.membership.waitForMembership(MEMBERSHIP_WAIT_MS)
        if (!member) throw new DeliveryNotAMemberError('this node is not a member of the RLN group (yet): it cannot prove its messages')
      }
    }
    let m: WakuMessage = { ...message, timestamp: nsFromMs(Date.now()) }
    if (this.rln !== undefined) {
      // A proof that took long (a busy prover) leaves a timestamp relays will soon refuse (20 s): stamp and prove
      // once more; the prover refilled its stock meanwhile, so the second proof is quick. The first one's
      // message_id is never published, so it cannot count as a double signal.
      for (let attempt = 1; ; attempt++) {
        const stampedAt = Date.now()
        m = await proveRlnMessage({ ...message, timestamp: nsFromMs(stampedAt) }, this.rln)
        if (Date.now() - stampedAt <= MAX_PROOF_AGE_MS || attempt >= 2) break
        this.ctx.log.debug('proof took long; proving again with a fresh timestamp', { ms: Date.now() - stampedAt })
      }
    }
    const hash = hashHex(messageHash(topic, m))
    hashed(hash)
    const encoded = encodeWakuMessage(m)
    checkWakuMessage(m, encoded.length)
    this.archivePut(topic, m, encoded)
    this.stats.sent++
    const peers = this.config.sendVia === 'relay' ? await this.publishRelay(topic, encoded) : await this.pushLight(topic, m, this.config.sendVia === 'lightpush-mix')
    this.ctx.emit('message_propagated', { requestId, messageHash: hash, peers })
    if (m.ephemeral === true) return
    const storePeer = await this.confirm(hash)
    if (storePeer !== undefined) this.ctx.emit('message_sent', { requestId, messageHash: hash, storePeer })
  }

  private async publishRelay (topic: string, encoded: Uint8Array): Promise<number> {
    let wait = PUBLISH_RETRY_MS
    for (let attempt = 1; ; attempt++) {
      let recipients = 0
      try {
        recipients = (await this.ctx.call<{ recipients: number }>('network', 'relayPublish', { topic, data: encoded })).recipients
      } catch (err) {
        // Gossipsub refuses to publish bytes it has seen: a retry after a partial first publish lands here.
        if (!String((err as Error).message).includes('Duplicate')) throw err
        return 0
      }
      if (recipients > 0 || attempt >= PUBLISH_ATTEMPTS || this.stopped) {
        if (recipients === 0) throw new DeliveryNoServicePeerError(`no relay peer on ${topic} after ${attempt} attempts`)
        return recipients
      }
      await delay(wait)
      wait *= 2
    }
  }

  private async pushLight (topic: string, m: WakuMessage, viaMix: boolean): Promise<number> {
    const request: LightPushRequest = { requestId: randomUUID(), pubsubTopic: topic, message: m }
    const bytes = encodeLightPushRequest(request)
    const candidates = this.config.lightpushPeer !== undefined ? [this.config.lightpushPeer] : await this.relayPeers(topic)
    let last: unknown
    for (const peerId of candidates) {
      if ((this.notLightpush.get(peerId) ?? 0) > Date.now()) continue
      try {
        let response: Uint8Array
        if (viaMix) {
          const r = await this.ctx.call<{ data: Uint8Array }>('network', 'mixRequest', { peerId, protocol: LIGHTPUSH_CODEC, data: lp.encode.single(bytes).subarray(), timeoutMs: 20_000 }, { timeout: 25_000 })
          const frame = readLp(r.data)
          if (frame === undefined) throw new DeliveryNoServicePeerError(`${peerId} gave no lightpush answer through the mixnet`)
          response = frame
        } else {
          response = (await this.ctx.call<{ data: Uint8Array }>('network', 'request', { peerId, protocol: LIGHTPUSH_CODEC, data: bytes })).data
        }
        return readLightPushResponse(request, response).relayPeerCount ?? 0
      } catch (err) {
        last = err
        const code = (err as { code?: string }).code
        // A refusal (4xx) is about the message, not the peer: report it.
        if (code === 'ERR_DLV_LIGHTPUSH') throw err
        this.notLightpush.set(peerId, Date.now() + NOT_A_SERVICE_PEER_MS)
      }
    }
    throw new DeliveryNoServicePeerError('no lightpush service node took the message', { cause: last })
  }

  /** Asks store peers whether they hold the message (a presence query), a few times; returns the one that does. */
  private async confirm (hash: string): Promise<string | undefined> {
    let wait = CONFIRM_FIRST_DELAY_MS
    for (let attempt = 0; attempt < CONFIRM_ATTEMPTS && !this.stopped; attempt++) {
      await delay(wait)
      wait *= 2
      for (const peerId of (await this.storeCandidates()).slice(0, STORE_PEERS_TRIED)) {
        try {
          const r = await this.queryPeer(peerId, storeQuery({ messageHashes: [fromHex(hash, 'hash')], includeData: false }))
          if (r.messages.length > 0) return peerId
        } catch {
          // Not a store node, or gone: the candidates skip it for a while.
        }
      }
    }
    return undefined
  }

  // ---- store client --------------------------------------------------------------------------------------------

  private async relayPeers (topic?: string): Promise<string[]> {
    const topics = topic === undefined ? this.shards.slice(0, 1) : [topic]
    const out = new Set<string>()
    for (const t of topics) {
      const r = await this.ctx.call<{ subscribers: string[] }>('network', 'relayPeers', { topic: t })
      for (const p of r.subscribers) out.add(p)
    }
    return [...out]
  }

  /** Store peers to ask: configured and known ones first, then connected relay peers not known to refuse. */
  private async storeCandidates (): Promise<string[]> {
    const now = Date.now()
    const known = [...this.storePeers].filter(p => (this.notStore.get(p) ?? 0) <= now)
    const others = (await this.relayPeers()).filter(p => !this.storePeers.has(p) && (this.notStore.get(p) ?? 0) <= now)
    return [...known, ...others]
  }

  private async queryPeer (peerId: string, q: StoreQueryRequest): Promise<StoreQueryResponse> {
    try {
      const r = await this.ctx.call<{ data: Uint8Array }>('network', 'request', { peerId, protocol: STORE_CODEC, data: encodeStoreQueryRequest(q) })
      const response = readStoreResponse(q, r.data)
      this.storePeers.add(peerId)
      this.notStore.delete(peerId)
      return response
    } catch (err) {
      if ((err as { code?: string }).code !== 'ERR_DLV_STORE_QUERY') {
        this.storePeers.delete(peerId)
        this.notStore.set(peerId, Date.now() + NOT_A_SERVICE_PEER_MS)
      }
      throw err
    }
  }

  /** A store query (13/WAKU2-STORE v3) on this node's archive or a store peer. */
  async storeQuery (p: StoreQueryParams): Promise<StoreQueryResult> {
    const hashes = (p.hashes ?? []).map(h => fromHex(h, 'hashes'))
    const contentTopics = p.contentTopics ?? []
    for (const t of contentTopics) parseContentTopic(t)
    let pubsub = p.pubsubTopic
    if (pubsub === undefined && contentTopics.length > 0) {
      const topics = new Set(contentTopics.map(t => this.pubsubTopicOf(t)))
      if (topics.size > 1) throw new DeliveryParamsError('these content topics are on different shards: query them one shard at a time')
      pubsub = [...topics][0]
    }
    const q = storeQuery({
      includeData: p.includeData ?? true,
      pubsubTopic: hashes.length > 0 ? undefined : pubsub,
      contentTopics,
      timeStart: p.timeStart === undefined ? undefined : nsFromMs(p.timeStart),
      timeEnd: p.timeEnd === undefined ? undefined : nsFromMs(p.timeEnd),
      messageHashes: hashes,
      paginationCursor: p.cursor === undefined ? undefined : fromHex(p.cursor, 'cursor'),
      paginationForward: p.forward ?? false,
      paginationLimit: p.limit
    })
    const shape = (r: StoreQueryResponse, peerId: string): StoreQueryResult => ({
      peerId,
      cursor: r.paginationCursor === undefined ? undefined : hashHex(r.paginationCursor),
      messages: r.messages.map(e => ({ messageHash: hashHex(e.messageHash), message: e.message === undefined || e.pubsubTopic === undefined ? undefined : view(e.pubsubTopic, e.message, e.messageHash) }))
    })
    const local = p.peerId === 'self' || (p.peerId === undefined && this.archive !== undefined)
    if (local) {
      if (this.archive === undefined) throw new DeliveryNoServicePeerError('this node keeps no archive (store is off)')
      return shape(readStoreResponse(q, handleStoreRequest(this.archive, encodeStoreQueryRequest(q))), 'self')
    }
    const remote = p.peerId === undefined || p.peerId === 'remote'
    const peers = remote ? (await this.storeCandidates()).slice(0, STORE_PEERS_TRIED) : [p.peerId as string]
    let last: unknown
    let empty: StoreQueryResult | undefined
    for (const peerId of peers) {
      try {
        const result = shape(await this.queryPeer(peerId, q), peerId)
        // Store nodes see different parts of the traffic (P2P reliability): an empty answer sends us to the next one.
        if (result.messages.length > 0 || !remote) return result
        empty ??= result
      } catch (err) {
        last = err
        if ((err as { code?: string }).code === 'ERR_DLV_STORE_QUERY') throw err
      }
    }
    if (empty !== undefined) return empty
    throw new DeliveryNoServicePeerError('no store node answered', { cause: last })
  }

  // ---- health ----------------------------------------------------------------------------------------------------

  /** messaging-api.md "Health": Disconnected, PartiallyConnected (a relay peer and a store peer), Connected. */
  async healthReport (): Promise<Record<string, unknown>> {
    const relayPeers = await this.relayPeers()
    const storePeers = [...this.storePeers]
    const status: HealthStatus = relayPeers.length === 0
      ? 'Disconnected'
      : relayPeers.length >= this.config.healthyPeers && (storePeers.length > 0 || this.archive !== undefined)
        ? 'Connected'
        : 'PartiallyConnected'
    return {
      status,
      relayPeers: relayPeers.length,
      storePeers: storePeers.length,
      subscriptions: this.subscriptions.size,
      rln: this.rln !== undefined,
      membership: this.membership?.state(),
      stats: { ...this.stats },
      validateMs: this.validateMs.length === 0 ? null : (({ count, p50, p99, max }) => ({ count, p50, p99, max }))(summarize(this.validateMs.toArray()))
    }
  }

  private async checkHealth (): Promise<void> {
    if (this.stopped) return
    // Learn a store peer when none is known: one cheap presence query to one connected peer.
    if (this.storePeers.size === 0) {
      const candidates = await this.storeCandidates()
      const peer = candidates[0]
      if (peer !== undefined) await this.queryPeer(peer, storeQuery({ messageHashes: [new Uint8Array(32)], includeData: false })).catch(() => {})
    }
    const report = await this.healthReport()
    if (report.status !== this.health) {
      this.health = report.status as HealthStatus
      this.ctx.emit('health', { status: this.health, relayPeers: report.relayPeers, storePeers: report.storePeers })
    }
  }

  get status (): HealthStatus {
    return this.health
  }
}

interface RelayEvent { id?: string, topic: string, data: Uint8Array, msgId: string, from: string }
interface RequestEvent { id: string, protocol: string, from: string, data: Uint8Array }

/** The one length-prefixed frame a lightpush answer through the mixnet carries (unsigned varint length, then bytes). */
function readLp (bytes: Uint8Array): Uint8Array | undefined {
  let len = 0
  for (let o = 0; o < Math.min(bytes.length, 5); o++) {
    const b = bytes[o] as number
    len += (b & 0x7f) * 2 ** (7 * o)
    if ((b & 0x80) === 0) return o + 1 + len === bytes.length ? bytes.subarray(o + 1) : undefined
  }
  return undefined
}
