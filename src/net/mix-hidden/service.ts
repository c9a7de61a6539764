import { randomBytes, randomInt } from 'node:crypto'
import { TokenBucket, combineSignals, raceSignal } from '../../common/index.ts'
import type { AbortOptions } from '../../common/index.ts'
import type { MixNodeInfo } from '../mix/index.ts'
import { encodeMixAddress } from './address.ts'
import { blindSigningKey, generateSigningKey, sha256, signingKeyFromSeed } from './blinding.ts'
import type { SigningKey } from './blinding.ts'
import { toHex } from './bytes.ts'
import {
  ACCEPT_DELAY_MS, DESCRIPTOR_VALIDITY_S, HANDLER_TIMEOUT_MS, HIDDEN_SERVICES_CODEC, INTRO_ESTABLISH_ATTEMPTS,
  INTRO_ESTABLISH_TIMEOUT_MS, INTRO_MAX_MISSED_REFRESHES, INTRO_POINT_COUNT, INTRO_REFRESH_MS, INTRO_SURB_MAX,
  INTRO_SURB_TTL_MS, MAX_SESSIONS, PUBLISH_ATTEMPTS, REPLAY_CACHE_SIZE, REPUBLISH_MAX_MS, REPUBLISH_MIN_MS, SERVICE_INTRO_BURST,
  SERVICE_INTRO_RATE_PER_SECOND, SESSION_IDLE_MS
} from './constants.ts'
import { RESPONSE_STATUS, decodeRequest, encodeResponse, exchange, otherNodes, responsibleDirectories, shuffle } from './context.ts'
import type { HiddenContext } from './context.ts'
import { buildDescriptor, discoveryKey, epochOf } from './descriptor.ts'
import type { IntroPointEntry } from './descriptor.ts'
import { dh, generateDhKey } from './dh.ts'
import type { DhKeyPair } from './dh.ts'
import {
  HiddenCapacityError, HiddenNoIntroPointsError, HiddenPublishFailedError, HiddenRateLimitedError, HiddenReplayError,
  HiddenUnknownIntroError
} from './errors.ts'
import { TagCache } from './limits.ts'
import {
  INTRO_STATUS_OK, MSG, PUBLISH_STATUS, decodeIntroduce, decodeStatus, encodeEstablishIntro, encodeIntroSurbs,
  encodePublish, messageType, openIntroduce
} from './messages.ts'
import { RendezvousSession, decodeFrame } from './session.ts'
import type { SessionMessage } from './session.ts'

/** A request as a hosted service's handler sees it. */
export interface HiddenRequest {
  /** The protocol the client named (the service's own, else the client was told "no handler"). */
  protocol: string
  data: Uint8Array
}

/** Answers a request; what it returns goes back to the client. */
export type HiddenRequestHandler = (request: HiddenRequest, options: AbortOptions) => Uint8Array | Promise<Uint8Array>

export interface HostInit {
  /** The protocol served; requests for another protocol are answered "no handler". */
  protocol: string
  handler: HiddenRequestHandler
  /** The 32-byte Ed25519 seed of hs_id (keep it to keep the address); a fresh one when absent. */
  identity?: Uint8Array
  /** X25519 public keys of the clients allowed to read the descriptor (restricted mode); none: anyone with the address. */
  authorizedClients?: Uint8Array[]
  /** k, the number of introduction points (default 3). */
  introPoints?: number
}

interface IntroSlot {
  node: MixNodeInfo
  authKey: SigningKey
  serviceKey: DhKeyPair
  replay: TagCache
  /** Refreshes in a row without an IntroEstablished. */
  missed: number
  /** intro-SURBs we believe the introduction point holds. */
  held: number
  waiting?: (ok: boolean) => void
}

export interface PublishResult {
  epoch: bigint
  revision: bigint
  stored: number
  tried: number
  /** Sends beyond the first, to directories whose first attempt got no answer or failed on the way. */
  retries: number
  ms: number
}

/**
 * A hidden service hosted on this node (hs 6.4 "Service API"): its identity and address, k introduction points kept
 * alive with intro-SURBs, descriptors published per epoch to the responsible directories and republished, and the
 * SURB-rendezvous sessions with its clients.
 */
export class HostedService {
  readonly address: string
  readonly protocol: string
  readonly hsId: Uint8Array
  private readonly identity: SigningKey
  private readonly ctx: HiddenContext
  private readonly init: HostInit
  private readonly k: number
  private slots: IntroSlot[] = []
  private readonly sessions = new Map<string, RendezvousSession>()
  private readonly bucket: TokenBucket
  private readonly revisions = new Map<string, bigint>()
  private readonly timers = new Set<ReturnType<typeof setTimeout>>()
  private readonly controller = new AbortController()
  private stopped = false
  /** The last publication's figures, for benchmarks and the module's info. */
  lastPublish?: PublishResult[]
  readonly stats = { introductions: 0, requests: 0, publishes: 0, introReplacements: 0 }

  constructor (ctx: HiddenContext, init: HostInit) {
    this.ctx = ctx
    this.init = init
    this.protocol = init.protocol
    this.identity = init.identity === undefined ? generateSigningKey().key : signingKeyFromSeed(init.identity)
    this.hsId = this.identity.publicKey
    this.address = encodeMixAddress(this.hsId)
    this.k = init.introPoints ?? INTRO_POINT_COUNT
    this.bucket = new TokenBucket({ perSecond: SERVICE_INTRO_RATE_PER_SECOND, burst: SERVICE_INTRO_BURST }, ctx.now())
  }

  /** The introduction points in use (peer ids), for tests and the module's info. */
  introPointIds (): string[] {
    return this.slots.map(s => s.node.peerId.toString())
  }

  get sessionCount (): number {
    return this.sessions.size
  }

  /** Establishes the introduction points and publishes the first descriptors (hs 6.4 RegisterIntroPoints, PublishDescriptor). */
  async start (options: AbortOptions = {}): Promise<void> {
    await this.establishAll(options)
    await this.publish(options)
    this.every(INTRO_REFRESH_MS, () => { void this.refreshIntroPoints() })
    this.scheduleRepublish()
  }

  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    this.controller.abort()
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    for (const s of [...this.sessions.values()]) s.close(new Error('service stopped'), true)
    this.sessions.clear()
    for (const slot of this.slots) slot.waiting?.(false)
  }

  // -----------------------------------------------------------------------------------------------------------
  // Introduction points (hs 7)
  // -----------------------------------------------------------------------------------------------------------

  private async establishAll (options: AbortOptions): Promise<void> {
    const candidates = shuffle(otherNodes(this.ctx))
    const used = new Set<string>()
    const pick = (): MixNodeInfo | undefined => {
      const n = candidates.find(c => !used.has(c.peerId.toString()))
      if (n !== undefined) used.add(n.peerId.toString())
      return n
    }
    let tried = 0
    const slots = await Promise.all(Array.from({ length: this.k }, async () => {
      for (let attempt = 0; attempt < INTRO_ESTABLISH_ATTEMPTS; attempt++) {
        const node = pick()
        if (node === undefined) return undefined
        tried++
        const slot = this.newSlot(node)
        if (await this.establish(slot, options)) return slot
      }
      return undefined
    }))
    this.slots = slots.filter((s): s is IntroSlot => s !== undefined)
    if (this.slots.length === 0) throw new HiddenNoIntroPointsError(tried)
  }

  private newSlot (node: MixNodeInfo): IntroSlot {
    return { node, authKey: generateSigningKey().key, serviceKey: generateDhKey(), replay: new TagCache(REPLAY_CACHE_SIZE), missed: 0, held: 0 }
  }

  /** intro-SURBs for a slot: what comes back through them is an IntroEstablished or an Introduce2. */
  private introSurbs (slot: IntroSlot, count: number): Uint8Array[] {
    return this.ctx.transport.createSurbs(count, {
      group: `hs-intro-${toHex(randomBytes(8))}`,
      ttlMs: INTRO_SURB_TTL_MS,
      exclude: [slot.node.peerId],
      onReply: (m) => {
        try {
          this.onIntroSurbMessage(slot, m)
        } catch (err) {
          this.ctx.reject(err)
        }
      }
    })
  }

  /** hs 7.1: EstablishIntro with 1 + surb_max SURBs; true once IntroEstablished { Ok } came back. */
  private async establish (slot: IntroSlot, options: AbortOptions): Promise<boolean> {
    const acked = this.awaitAck(slot, INTRO_ESTABLISH_TIMEOUT_MS)
    try {
      const surbs = this.introSurbs(slot, 1 + INTRO_SURB_MAX)
      await this.ctx.transport.sendToExit(slot.node, HIDDEN_SERVICES_CODEC, (s) => encodeEstablishIntro(slot.authKey, INTRO_SURB_MAX, s), { surbs, signal: options.signal })
    } catch (err) {
      slot.waiting?.(false)
      this.ctx.reject(err)
      return false
    }
    const ok = await acked
    if (ok) slot.held = INTRO_SURB_MAX
    return ok
  }

  private async awaitAck (slot: IntroSlot, timeoutMs: number): Promise<boolean> {
    return await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => { done(false) }, timeoutMs)
      const done = (ok: boolean): void => {
        clearTimeout(timer)
        if (slot.waiting === done) slot.waiting = undefined
        resolve(ok)
      }
      slot.waiting = done
    })
  }

  /** Sends intro-SURBs to a slot's introduction point (our refill, see messages.ts); `replace` swaps the whole set. */
  private async refill (slot: IntroSlot, count: number, replace: boolean): Promise<void> {
    const surbs = this.introSurbs(slot, 1 + count)
    await this.ctx.transport.sendToExit(slot.node, HIDDEN_SERVICES_CODEC, (s) => encodeIntroSurbs(slot.authKey, replace, s), { surbs, signal: this.controller.signal })
    slot.held = replace ? count : Math.min(INTRO_SURB_MAX, slot.held + count)
  }

  /**
   * Every INTRO_REFRESH_MS: a fresh set of intro-SURBs to each introduction point (the old ones may die with a mix
   * key rotation). One that misses INTRO_MAX_MISSED_REFRESHES answers in a row is replaced by a new node, and the
   * descriptor republished. So is one whose mix key changed (the descriptor carries it).
   */
  private async refreshIntroPoints (): Promise<void> {
    if (this.stopped) return
    let changed = false
    const known = this.ctx.transport.knownNodes()
    await Promise.all(this.slots.map(async (slot, i) => {
      const fresh = known.find(n => n.peerId.equals(slot.node.peerId))
      if (fresh !== undefined && toHex(fresh.mixPublicKey) !== toHex(slot.node.mixPublicKey)) {
        slot.node = fresh
        changed = true
      }
      const acked = this.awaitAck(slot, INTRO_ESTABLISH_TIMEOUT_MS)
      try {
        await this.refill(slot, INTRO_SURB_MAX, true)
      } catch (err) {
        slot.waiting?.(false)
        this.ctx.reject(err)
      }
      if (await acked) {
        slot.missed = 0
        return
      }
      slot.missed++
      if (slot.missed < INTRO_MAX_MISSED_REFRESHES || this.stopped) return
      const inUse = new Set(this.slots.map(s => s.node.peerId.toString()))
      const candidates = shuffle(otherNodes(this.ctx).filter(n => !inUse.has(n.peerId.toString())))
      for (const node of candidates.slice(0, INTRO_ESTABLISH_ATTEMPTS)) {
        const replacement = this.newSlot(node)
        if (await this.establish(replacement, { signal: this.controller.signal })) {
          this.slots[i] = replacement
          this.stats.introReplacements++
          changed = true
          return
        }
      }
    }))
    if (changed && !this.stopped) await this.publish().catch(err => { this.ctx.reject(err) })
  }

  private onIntroSurbMessage (slot: IntroSlot, m: Uint8Array): void {
    if (this.stopped) return
    const type = messageType(m)
    if (type === MSG.introEstablished) {
      if (decodeStatus(MSG.introEstablished, m) === INTRO_STATUS_OK) slot.waiting?.(true)
      return
    }
    if (type === MSG.introduce2) {
      this.onIntroduce2(slot, m)
      return
    }
    throw new HiddenUnknownIntroError({ data: { reason: `message type ${type} through an intro-SURB` } })
  }

  /**
   * hs 9.4: replay check (hs 9.5; the tag is stored only once the MAC verified, so nothing forged can plant it),
   * auth_key, client_key, s_intro, MAC, decryption; then a session with the client, whose first frame came inside
   * the request.
   */
  private onIntroduce2 (slot: IntroSlot, m: Uint8Array): void {
    slot.held = Math.max(0, slot.held - 1)
    // Keep the introduction point supplied: one intro-SURB for each used.
    this.refill(slot, 1, false).catch(err => { this.ctx.reject(err) })
    const msg = decodeIntroduce(MSG.introduce2, m, true)
    const tag = sha256(msg.clientKey)
    if (slot.replay.has(tag)) throw new HiddenReplayError('service')
    if (toHex(msg.authKey) !== toHex(slot.authKey.publicKey)) throw new HiddenUnknownIntroError({ data: { reason: 'auth_key of another introduction point' } })
    if (!this.bucket.take(this.ctx.now())) throw new HiddenRateLimitedError('service')
    const sIntro = dh(slot.serviceKey.privateKey, msg.clientKey)
    const request = openIntroduce(msg, sIntro)
    slot.replay.add(tag)
    this.stats.introductions++
    this.sweepSessions()
    if (this.sessions.size >= MAX_SESSIONS) throw new HiddenCapacityError('sessions', MAX_SESSIONS)
    const group = `hs-session-${toHex(randomBytes(8))}`
    const session: RendezvousSession = new RendezvousSession({
      transport: this.ctx.transport,
      self: this.ctx.self,
      role: 'service',
      sIntro,
      group,
      onMessage: (message) => { this.onRequest(session, message) },
      onClose: () => { this.sessions.delete(group) },
      onError: (err) => { this.ctx.reject(err) }
    })
    this.sessions.set(group, session)
    session.addOutgoing(request.clientSurbs)
    session.receiveFrame(decodeFrame(request.appData))
    // Tell the client the introduction got here, unless the answer went first.
    const t = setTimeout(() => {
      this.timers.delete(t)
      session.accept()
    }, ACCEPT_DELAY_MS)
    this.timers.add(t)
  }

  private onRequest (session: RendezvousSession, message: SessionMessage): void {
    if (message.response) return
    const answer = async (): Promise<Uint8Array> => {
      let req: { protocol: string, payload: Uint8Array }
      try {
        req = decodeRequest(message.data)
      } catch {
        return encodeResponse(RESPONSE_STATUS.failed, new Uint8Array(0))
      }
      if (req.protocol !== this.protocol) return encodeResponse(RESPONSE_STATUS.noHandler, new Uint8Array(0))
      const signal = combineSignals([this.controller.signal], HANDLER_TIMEOUT_MS)
      try {
        const out = await raceSignal(Promise.resolve(this.init.handler({ protocol: req.protocol, data: req.payload }, { signal })), signal)
        return encodeResponse(RESPONSE_STATUS.ok, out instanceof Uint8Array ? out : new Uint8Array(0))
      } catch {
        return encodeResponse(signal.aborted ? RESPONSE_STATUS.timeout : RESPONSE_STATUS.failed, new Uint8Array(0))
      }
    }
    this.stats.requests++
    answer().then((data) => {
      if (!session.isClosed) session.send({ messageId: message.messageId, response: true, data })
    }).catch(err => { this.ctx.reject(err) })
  }

  /** Closes idle sessions (called now and then by the layer, and at each introduction). */
  sweep (): void {
    this.sweepSessions()
  }

  private sweepSessions (): void {
    // Session times are on the clock the mix service's SURB lifetimes use, not the epoch clock.
    const cutoff = Date.now() - SESSION_IDLE_MS
    for (const s of [...this.sessions.values()]) if (s.lastActivity < cutoff) s.close(new Error('idle'), true)
  }

  // -----------------------------------------------------------------------------------------------------------
  // Descriptors (hs 8)
  // -----------------------------------------------------------------------------------------------------------

  /**
   * Publishes the current epoch's descriptor to the responsible directories, and the previous epoch's too while
   * descriptors of that epoch may still be in use (hs 8.3 "Descriptor Overlap": maintain the previous, publish the
   * current). Resolves once every directory answered or timed out; throws when none stored it.
   */
  async publish (options: AbortOptions = {}): Promise<PublishResult[]> {
    const now = this.ctx.now()
    const current = epochOf(now, this.ctx.epochLengthMs)
    const epochs = [current]
    if (now - Number(current) * this.ctx.epochLengthMs < DESCRIPTOR_VALIDITY_S * 1000) epochs.push(current - 1n)
    const results = await Promise.all(epochs.map(async epoch => await this.publishEpoch(epoch, options)))
    this.lastPublish = results
    this.stats.publishes++
    if (results.every(r => r.stored === 0)) throw new HiddenPublishFailedError(results.reduce((n, r) => n + r.tried, 0))
    return results
  }

  /**
   * The revision counter (hs 8.5 leaves its derivation open; decision): milliseconds since the epoch began, or one
   * more than the last used if that is not higher. Monotonic within an epoch across restarts as long as the clock
   * is, like Tor's time-based counter, without a state file.
   */
  private nextRevision (epoch: bigint): bigint {
    const key = epoch.toString()
    const sinceStart = BigInt(Math.max(0, this.ctx.now() - Number(epoch) * this.ctx.epochLengthMs))
    const last = this.revisions.get(key) ?? -1n
    const next = sinceStart > last ? sinceStart : last + 1n
    this.revisions.set(key, next)
    return next
  }

  private introPointEntries (): IntroPointEntry[] {
    return this.slots.map(s => {
      // An address a Sphinx hop address can carry (IPv4) if there is one.
      const addr = s.node.multiaddrs.find(a => a.toString().startsWith('/ip4/')) ?? s.node.multiaddrs[0]
      if (addr === undefined) throw new HiddenNoIntroPointsError(0, { data: { reason: `${s.node.peerId.toString()} has no address` } })
      return { peerId: s.node.peerId, multiaddr: addr, mixPublicKey: s.node.mixPublicKey, authKey: s.authKey.publicKey, serviceKey: s.serviceKey.publicKey }
    })
  }

  private async publishEpoch (epoch: bigint, options: AbortOptions): Promise<PublishResult> {
    const started = performance.now()
    const blinded = blindSigningKey(this.identity, epoch)
    const revision = this.nextRevision(epoch)
    const descriptor = buildDescriptor({
      hsId: this.hsId,
      blindedKey: blinded,
      revisionCounter: revision,
      validity: DESCRIPTOR_VALIDITY_S,
      introPoints: this.introPointEntries(),
      authorizedClients: this.init.authorizedClients
    })
    const discKey = discoveryKey(blinded.publicKey, this.ctx.entropy(epoch))
    const dirs = responsibleDirectories(this.ctx, discKey)
    const signal = combineSignals([options.signal, this.controller.signal])
    let retries = 0
    const outcomes = await Promise.all(dirs.map(async dir => {
      if (dir.self) {
        try {
          this.ctx.store.put(discKey, descriptor)
          return true
        } catch (err) {
          this.ctx.reject(err)
          return false
        }
      }
      for (let attempt = 1; ; attempt++) {
        try {
          const m = await exchange(this.ctx, dir.node, encodePublish(discKey, descriptor), { timeoutMs: this.ctx.directoryTimeoutMs, signal })
          const status = decodeStatus(MSG.publishAck, m)
          // "Stale" to a second copy: the first arrived after all, only its answer was slow or lost.
          return status === PUBLISH_STATUS.stored || (attempt > 1 && status === PUBLISH_STATUS.stale)
        } catch (err) {
          this.ctx.reject(err)
          if (attempt >= PUBLISH_ATTEMPTS || signal.aborted || this.stopped) return false
          retries++
        }
      }
    }))
    return { epoch, revision, stored: outcomes.filter(Boolean).length, tried: dirs.length, retries, ms: performance.now() - started }
  }

  /** hs 8.3: republish after a random 60 to 120 minutes, and right after an epoch change. */
  private scheduleRepublish (): void {
    if (this.stopped) return
    const now = this.ctx.now()
    const nextEpoch = (Number(epochOf(now, this.ctx.epochLengthMs)) + 1) * this.ctx.epochLengthMs - now
    const wait = Math.min(REPUBLISH_MIN_MS + randomInt(REPUBLISH_MAX_MS - REPUBLISH_MIN_MS + 1), nextEpoch + 1000)
    this.after(wait, () => {
      this.publish().catch(err => { this.ctx.reject(err) }).finally(() => { this.scheduleRepublish() })
    })
  }

  private after (ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t)
      fn()
    }, ms)
    t.unref?.()
    this.timers.add(t)
  }

  private every (ms: number, fn: () => void): void {
    this.after(ms, () => {
      fn()
      if (!this.stopped) this.every(ms, fn)
    })
  }
}
