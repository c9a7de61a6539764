import { randomBytes } from 'node:crypto'
import { SURB_LENGTH, forwardDataCapacity } from '../../crypto/sphinx/index.ts'
import { AbortedError, TimeoutError, combineSignals, raceSignal } from '../../common/index.ts'
import type { AbortOptions } from '../../common/index.ts'
import type { MixNodeInfo } from '../mix/index.ts'
import { decodeMixAddress, encodeMixAddress } from './address.ts'
import { blindPublicKey } from './blinding.ts'
import { toHex } from './bytes.ts'
import {
  CONNECT_ATTEMPTS, FETCH_PARALLEL, HIDDEN_SERVICES_CODEC, INTRO_ACCEPT_TIMEOUT_MS, INTRO_ACK_SURBS,
  INTRO_CLIENT_SURBS, MAX_CACHED_DESCRIPTORS, MAX_MESSAGE_BYTES, MAX_PENDING_REQUESTS, REQUEST_TIMEOUT_MS, SESSION_IDLE_MS,
  SURB_WAIT_MS
} from './constants.ts'
import { RESPONSE_STATUS, RESPONSE_STATUS_NAMES, decodeResponse, encodeRequest, exchange, responsibleDirectories, shuffle } from './context.ts'
import type { DirectoryNode, HiddenContext } from './context.ts'
import { discoveryKey, epochOf, openDescriptor } from './descriptor.ts'
import type { IntroPointEntry, OpenedDescriptor } from './descriptor.ts'
import { dh, generateDhKey } from './dh.ts'
import {
  HiddenCapacityError, HiddenConnectFailedError, HiddenDescriptorNotFoundError, HiddenMessageTooLargeError,
  HiddenRequestTimeoutError, HiddenResponseError, HiddenSessionClosedError, HiddenUnauthorizedError
} from './errors.ts'
import {
  INTRO_STATUS_OK, MSG, decodeDescriptorResult, decodeStatus, encodeFetch, encodeIntroduce, sealIntroduce
} from './messages.ts'
import { RendezvousSession } from './session.ts'
import type { SessionMessage } from './session.ts'

/** Introduce1 without its encrypted payload: type, auth_key, client_key, payload length, mac. */
const INTRODUCE_OVERHEAD = 1 + 32 + 32 + 2 + 16
/**
 * The app_data room in an introduction: one packet with the ack SURB, less Introduce1's fields, the SURB count and
 * the client-SURBs (907 bytes with the defaults). A first request larger than that goes on over the session.
 */
export const INTRO_APP_DATA_CAPACITY = forwardDataCapacity(HIDDEN_SERVICES_CODEC, INTRO_ACK_SURBS) - INTRODUCE_OVERHEAD - 1 - INTRO_CLIENT_SURBS * SURB_LENGTH

export interface HiddenRequestOptions extends AbortOptions {
  /** How long to wait for the complete response, connection setup included (default 60 s). */
  timeoutMs?: number
  /** This client's X25519 authorisation key, for services in restricted mode. */
  clientAuthKey?: Uint8Array
}

export interface LookupOptions extends AbortOptions {
  clientAuthKey?: Uint8Array
  /** Ignore a cached descriptor. */
  fresh?: boolean
}

interface Waiting {
  messageId: Uint8Array
  body: Uint8Array
  resolve: (data: Uint8Array) => void
  reject: (err: Error) => void
}

interface Connection {
  address: string
  session: RendezvousSession
  pending: Map<string, Waiting>
  /** Called at the next frame from the service. */
  frameWaiters: Array<() => void>
  /** A wait for the service's SURBs in progress (see awaitSurbs). */
  surbWait?: Promise<boolean>
}

/** The client side (hs 6.4 "Client API", 8.6 "Client Processing", 9.2, 10): lookups, introductions, sessions. */
export class HiddenClient {
  private readonly ctx: HiddenContext
  private readonly connections = new Map<string, Connection>()
  private readonly connecting = new Map<string, Promise<Connection>>()
  private readonly cache = new Map<string, { descriptor: OpenedDescriptor, expiresAt: number }>()
  private readonly controller = new AbortController()
  private pendingCount = 0
  readonly stats = { lookups: 0, introductions: 0, introduceAcks: 0, requests: 0 }

  constructor (ctx: HiddenContext) {
    this.ctx = ctx
  }

  get connectionCount (): number {
    return this.connections.size
  }

  stop (): void {
    this.controller.abort(new AbortedError('hidden-service client stopped'))
    for (const c of [...this.connections.values()]) c.session.close(new HiddenSessionClosedError('client stopped'), true)
    this.connections.clear()
  }

  /** Closes idle sessions and forgets expired descriptors (called now and then by the layer). */
  sweep (): void {
    for (const key of [...this.connections.keys()]) this.usable(key)
    const now = this.ctx.now()
    for (const [key, c] of this.cache) if (c.expiresAt <= now) this.cache.delete(key)
  }

  /** Closes the session with a service (the next request introduces itself anew). */
  disconnect (address: string): void {
    const conn = this.connections.get(encodeMixAddress(decodeMixAddress(address)))
    conn?.session.close(new HiddenSessionClosedError('closed by the client'), true)
  }

  // -----------------------------------------------------------------------------------------------------------
  // Descriptor lookup (hs 8.6 "Client Processing")
  // -----------------------------------------------------------------------------------------------------------

  async lookup (address: string, options: LookupOptions = {}): Promise<OpenedDescriptor> {
    const hsId = decodeMixAddress(address)
    const key = encodeMixAddress(hsId)
    const now = this.ctx.now()
    const cached = this.cache.get(key)
    if (options.fresh !== true && cached !== undefined && cached.expiresAt > now) return cached.descriptor
    this.stats.lookups++
    const signal = combineSignals([options.signal, this.controller.signal])
    const current = epochOf(now, this.ctx.epochLengthMs)
    let unauthorized: Error | undefined
    // The current epoch's descriptor, then the previous one's (a service whose clock lags, hs 8.3 overlap).
    for (const epoch of [current, current - 1n]) {
      const bk = blindPublicKey(hsId, epoch)
      const entropy = this.ctx.entropy(epoch)
      const discKey = discoveryKey(bk, entropy)
      const dirs = responsibleDirectories(this.ctx, discKey).sort((a, b) => Number(b.self) - Number(a.self))
      for (let i = 0; i < dirs.length; i += FETCH_PARALLEL) {
        const got = await Promise.all(dirs.slice(i, i + FETCH_PARALLEL).map(async d => await this.fetchFrom(d, discKey, signal)))
        let best: OpenedDescriptor | undefined
        for (const bytes of got) {
          if (bytes === undefined) continue
          try {
            const opened = openDescriptor(bytes, { hsId, epoch, entropy, blindedKey: bk, clientAuthKey: options.clientAuthKey })
            if (best === undefined || opened.outer.revisionCounter > best.outer.revisionCounter) best = opened
          } catch (err) {
            if (err instanceof HiddenUnauthorizedError) unauthorized = err
            else this.ctx.reject(err)
          }
        }
        if (best !== undefined) {
          this.remember(key, best)
          return best
        }
      }
    }
    if (unauthorized !== undefined) throw unauthorized
    throw new HiddenDescriptorNotFoundError(key)
  }

  private remember (key: string, descriptor: OpenedDescriptor): void {
    if (this.cache.size >= MAX_CACHED_DESCRIPTORS) {
      const oldest = this.cache.keys().next().value
      if (oldest !== undefined) this.cache.delete(oldest)
    }
    this.cache.set(key, { descriptor, expiresAt: this.ctx.now() + descriptor.outer.validity * 1000 })
  }

  private async fetchFrom (dir: DirectoryNode, discKey: Uint8Array, signal: AbortSignal): Promise<Uint8Array | undefined> {
    if (dir.self) return this.ctx.store.get(discKey)
    try {
      return decodeDescriptorResult(await exchange(this.ctx, dir.node, encodeFetch(discKey), { timeoutMs: this.ctx.directoryTimeoutMs, signal }))
    } catch (err) {
      if (signal.aborted) throw err
      this.ctx.reject(err)
      return undefined
    }
  }

  // -----------------------------------------------------------------------------------------------------------
  // Requests
  // -----------------------------------------------------------------------------------------------------------

  /**
   * Sends a request to the service at `address` and resolves to its response. The first request to a service looks
   * its descriptor up and introduces itself through an introduction point, the request riding in the introduction;
   * later ones use the session's SURBs through rendezvous nodes (hs 9, 10).
   */
  async request (address: string, protocol: string, data: Uint8Array, options: HiddenRequestOptions = {}): Promise<Uint8Array> {
    const key = encodeMixAddress(decodeMixAddress(address))
    const body = encodeRequest(protocol, data)
    if (body.length > MAX_MESSAGE_BYTES) throw new HiddenMessageTooLargeError(body.length, MAX_MESSAGE_BYTES)
    if (this.pendingCount >= MAX_PENDING_REQUESTS) throw new HiddenCapacityError('pending requests', MAX_PENDING_REQUESTS)
    const timeoutMs = options.timeoutMs ?? REQUEST_TIMEOUT_MS
    const signal = combineSignals([options.signal, this.controller.signal], timeoutMs)
    this.pendingCount++
    this.stats.requests++
    let waiting: Waiting | undefined
    const response = new Promise<Uint8Array>((resolve, reject) => {
      waiting = { messageId: randomBytes(8), body, resolve, reject }
    })
    response.catch(() => {})
    const w = waiting as unknown as Waiting
    let conn: Connection | undefined
    try {
      conn = this.usable(key)
      if (conn !== undefined && conn.session.surbsHeld === 0 && conn.pending.size === 0) {
        // Nothing is on its way from the service, yet SURBs may be (a credit frame behind its last answer): wait a
        // little for them, else start over with a new introduction rather than queue the request on a session that
        // cannot send it. (With requests pending, their answers bring SURBs: the request just queues.)
        if (!await this.awaitSurbs(conn, Math.min(SURB_WAIT_MS, timeoutMs / 2), signal)) {
          if (conn.pending.size === 0) conn.session.close(new HiddenSessionClosedError('out of SURBs'))
          conn = undefined
        }
      }
      if (conn === undefined) {
        // One introduction at a time per service: concurrent first requests wait for it and then use its session.
        const inflight = this.connecting.get(key)
        if (inflight !== undefined) conn = await raceSignal(inflight, signal).catch(() => undefined)
      }
      if (conn !== undefined && !conn.session.isClosed) {
        conn.pending.set(toHex(w.messageId), w)
        conn.session.send({ messageId: w.messageId, response: false, data: body })
      } else {
        const connecting = this.connect(key, w, signal, options.clientAuthKey)
        this.connecting.set(key, connecting)
        try {
          conn = await connecting
        } finally {
          if (this.connecting.get(key) === connecting) this.connecting.delete(key)
        }
      }
      const out = decodeResponse(await raceSignal(response, signal))
      if (out.status !== RESPONSE_STATUS.ok) throw new HiddenResponseError(RESPONSE_STATUS_NAMES[out.status] ?? `status ${out.status}`)
      return out.payload
    } catch (err) {
      if (err instanceof TimeoutError) {
        // A frame was lost (there is no retransmission): this session cannot be trusted to deliver; start over next time.
        conn?.session.close(new HiddenSessionClosedError('a request timed out'))
        throw new HiddenRequestTimeoutError(timeoutMs, { cause: err })
      }
      throw err
    } finally {
      this.pendingCount--
      conn?.pending.delete(toHex(w.messageId))
    }
  }

  /** An open session still worth using: not closed, and not idle past its SURBs' life. */
  private usable (key: string): Connection | undefined {
    const conn = this.connections.get(key)
    if (conn === undefined) return undefined
    const s = conn.session
    // Session times are on the clock the mix service's SURB lifetimes use, not the epoch clock.
    if (!s.isClosed && Date.now() - s.lastActivity <= SESSION_IDLE_MS) return conn
    s.close(new HiddenSessionClosedError('idle'))
    this.connections.delete(key)
    return undefined
  }

  /** True once the session holds a SURB of the service again; false after `ms`. Concurrent callers share the wait. */
  private async awaitSurbs (conn: Connection, ms: number, signal: AbortSignal): Promise<boolean> {
    conn.surbWait ??= (async () => {
      const end = Date.now() + ms
      while (conn.session.surbsHeld === 0 && !conn.session.isClosed && Date.now() < end && !signal.aborted) {
        await this.nextFrame(conn, end - Date.now(), signal)
      }
      conn.surbWait = undefined
      return conn.session.surbsHeld > 0 && !conn.session.isClosed
    })()
    return await conn.surbWait
  }

  /** Resolves at the next frame from the service, or after `ms`. */
  private async nextFrame (conn: Connection, ms: number, signal: AbortSignal): Promise<void> {
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        signal.removeEventListener('abort', done)
        resolve()
      }
      const timer = setTimeout(done, ms)
      signal.addEventListener('abort', done, { once: true })
      conn.frameWaiters.push(done)
    })
  }

  /** hs 9.2: a random introduction point of the descriptor, then others (fresh client_key each) until one answers. */
  private async connect (key: string, first: Waiting, signal: AbortSignal, clientAuthKey?: Uint8Array): Promise<Connection> {
    const descriptor = await this.lookup(key, { signal, clientAuthKey })
    const points = shuffle(descriptor.introPoints)
    const errors: string[] = []
    for (const ip of points.slice(0, CONNECT_ATTEMPTS)) {
      if (signal.aborted) break
      const attempt = await this.introduce(key, ip, first, signal).catch((err: unknown) => {
        errors.push((err as Error).message)
        return undefined
      })
      if (attempt === undefined) continue
      if (await attempt.accepted) {
        this.connections.get(key)?.session.close(new HiddenSessionClosedError('replaced'), true)
        this.connections.set(key, attempt.conn)
        return attempt.conn
      }
      errors.push(`no answer from the service through ${ip.peerId.toString()}`)
      // The request goes on with the next introduction point: keep it out of this session's failure. (Should the
      // service have got it after all, it may see the request twice; the first answer is lost with this session.)
      attempt.conn.pending.delete(toHex(first.messageId))
      attempt.conn.session.close(new HiddenSessionClosedError('introduction not answered'))
    }
    // The descriptor may list introduction points that are gone: look it up again next time.
    this.cache.delete(key)
    if (signal.aborted) throw new TimeoutError('connection setup ran out of time', { cause: signal.reason })
    throw new HiddenConnectFailedError(errors.join('; ') || 'no introduction point')
  }

  /**
   * One introduction (hs 9.2 steps 2-8): fresh client_key, s_intro = DH(client_key, service_key), a client session
   * whose first frame and client-SURBs travel in the encrypted Request, Introduce1 to the introduction point with
   * one SURB for its IntroduceAck. `accepted` resolves true on the service's first frame (it sends one as soon as
   * it took the introduction), false after INTRO_ACCEPT_TIMEOUT_MS: the IntroduceAck only says the introduction
   * point passed it on, and an intro-SURB may still have failed on the way.
   */
  private async introduce (key: string, ip: IntroPointEntry, first: Waiting, signal: AbortSignal): Promise<{ conn: Connection, accepted: Promise<boolean> }> {
    let accept: (ok: boolean) => void = () => {}
    const accepted = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => { accept(false) }, INTRO_ACCEPT_TIMEOUT_MS)
      const onAbort = (): void => { accept(false) }
      accept = (ok) => {
        clearTimeout(timer)
        signal.removeEventListener('abort', onAbort)
        resolve(ok)
      }
      signal.addEventListener('abort', onAbort, { once: true })
    })
    const clientKey = generateDhKey()
    const sIntro = dh(clientKey.privateKey, ip.serviceKey)
    const conn: Connection = { address: key, pending: new Map(), frameWaiters: [], session: undefined as unknown as RendezvousSession }
    conn.session = new RendezvousSession({
      transport: this.ctx.transport,
      self: this.ctx.self,
      role: 'client',
      sIntro,
      group: `hs-client-${toHex(randomBytes(8))}`,
      onMessage: (m) => { this.onResponse(conn, m) },
      onClose: (reason) => { this.onClosed(conn, reason) },
      onError: (err) => { this.ctx.reject(err) },
      onFrame: () => {
        accept(true)
        for (const wake of conn.frameWaiters.splice(0)) wake()
      },
      expecting: () => conn.pending.size > 0
    })
    conn.pending.set(toHex(first.messageId), first)
    conn.session.send({ messageId: first.messageId, response: false, data: first.body })
    const appData = conn.session.takeIntroFrame(INTRO_APP_DATA_CAPACITY)
    const clientSurbs = conn.session.issueSurbs(INTRO_CLIENT_SURBS)
    const intro = sealIntroduce(ip.authKey, clientKey.publicKey, sIntro, { appData, clientSurbs })
    const ackGroup = `hs-ack-${toHex(randomBytes(8))}`
    const ackSurbs = this.ctx.transport.createSurbs(INTRO_ACK_SURBS, {
      group: ackGroup,
      ttlMs: INTRO_ACCEPT_TIMEOUT_MS,
      exclude: [ip.peerId],
      onReply: (m) => { if (decodeStatus(MSG.introduceAck, m) === INTRO_STATUS_OK) this.stats.introduceAcks++ }
    })
    this.stats.introductions++
    try {
      const wire = encodeIntroduce(MSG.introduce1, intro)
      if (ip.peerId.equals(this.ctx.self)) {
        // We are this service's introduction point ourselves: no packet needs to leave (the exit secret is unused by Introduce1).
        await this.ctx.deliverLocal({ codec: HIDDEN_SERVICES_CODEC, data: wire, surbs: ackSurbs, exitSecret: randomBytes(32) })
      } else {
        await this.ctx.transport.sendToExit(this.introNode(ip), HIDDEN_SERVICES_CODEC, wire, { surbs: ackSurbs, signal })
      }
    } catch (err) {
      accept(false)
      this.ctx.transport.dropSurbs(ackGroup)
      conn.pending.delete(toHex(first.messageId))
      conn.session.close(new HiddenSessionClosedError('introduction not sent'))
      throw err
    }
    return { conn, accepted }
  }

  /** The introduction point as a mix node: its current key from discovery when known, else the descriptor's. */
  private introNode (ip: IntroPointEntry): MixNodeInfo {
    const known = this.ctx.transport.knownNodes().find(n => n.peerId.equals(ip.peerId))
    return known ?? { peerId: ip.peerId, multiaddrs: [ip.multiaddr], mixPublicKey: ip.mixPublicKey }
  }

  private onResponse (conn: Connection, m: SessionMessage): void {
    if (!m.response) return
    const w = conn.pending.get(toHex(m.messageId))
    if (w === undefined) return
    conn.pending.delete(toHex(m.messageId))
    w.resolve(m.data)
  }

  private onClosed (conn: Connection, reason: Error): void {
    if (this.connections.get(conn.address) === conn) this.connections.delete(conn.address)
    for (const w of conn.pending.values()) w.reject(reason instanceof HiddenSessionClosedError ? reason : new HiddenSessionClosedError(reason.message))
    conn.pending.clear()
  }
}
