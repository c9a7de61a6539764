import { randomBytes, randomInt } from 'node:crypto'
import type { PeerId } from '@libp2p/interface'
import { SURB_LENGTH, decodeAddress, lionessDecrypt, lionessEncrypt } from '../../crypto/sphinx/index.ts'
import { Reader, Writer, toHex } from './bytes.ts'
import {
  HIDDEN_SERVICES_CODEC, MAX_MESSAGE_BYTES, MAX_QUEUED_FRAMES, MAX_SESSION_REASSEMBLIES, MAX_SURBS_PER_CREDIT_FRAME,
  MAX_SURBS_PER_DATA_FRAME, RENDEZVOUS_INNER_LENGTH, SESSION_SURB_TTL_MS, SESSION_TARGET_SURBS
} from './constants.ts'
import { kdf } from './dh.ts'
import { HiddenCapacityError, HiddenMalformedError, HiddenMessageTooLargeError, HiddenRendezvousIntegrityError, HiddenSessionClosedError } from './errors.ts'
import { encodeRendezvous } from './messages.ts'
import type { HiddenMixTransport } from './transport.ts'

/**
 * A SURB-rendezvous connection (hs 10.1) between a client and a service, after the introduction (hs 9): each side
 * holds SURBs of the other (outgoing) and hands over fresh ones of its own; a message to the other side goes to a
 * random rendezvous node R in a Rendezvous { surb, inner_payload } packet, and R sends inner_payload through the
 * SURB. Neither side learns where the other is: the SURB's creator chose its return path, the sender chose R.
 *
 * inner_payload (j = 3184 bytes) is one LIONESS layer (hs 10.1: "a virtual hop") over 0^16 || frame:
 *   key = H("hs rendezvous payload" || k_dir || k~), k_dir = H("hs rendezvous client to service" || s_intro) (or
 *   "... service to client"), k~ the reply key of the SURB used, known to its creator and to the sender, so each
 *   packet has its own key; s_intro is the introduction's DH secret (hs 9.2 step 3). The 16 zero bytes are the
 *   integrity check (a tampered payload decrypts to noise).
 *
 * The frame, the transport layer hs assumes (hs 4.3 (1)) reduced to what request/response needs (decision):
 *   kind (u8: 1 data, 2 credit, 3 close) | used (u32) | want (u8) | message id (8) | flags (u8: 1 response,
 *   2 last) | index (u16) | SURB count (u8) | SURBs (734 each) | data length (u16) | data | zero padding
 * `used`: how many of the receiver's SURBs the sender has used so far, this frame's included, so the receiver knows
 * how many the sender still holds (those it handed over less those used, less those too old: SURBs are used
 * oldest first, and both sides stop counting one SURB_USABLE_MS after it was made); `want`: how many SURBs the
 * sender needs in all for the frames it still has queued (the receiver sends what that exceeds of those the
 * sender holds or has on the way). A side answers a `want` with a credit frame (SURBs only) when it has
 * nothing else to send, and tops the other side up to SESSION_TARGET_SURBS on the data frames it sends. Messages are split into frames of what fits
 * next to the SURBs attached; the receiver reassembles by message id and index. A lost frame is not sent again: the
 * request times out and the client introduces itself anew (hs 10: "re-bootstrap through an introduction point").
 */

export const FRAME_KIND = { data: 1, credit: 2, close: 3 } as const
const FLAG_RESPONSE = 1
const FLAG_LAST = 2
export const INTEGRITY_LENGTH = 16
/** The frame inside inner_payload, after the 16 integrity bytes. */
export const FRAME_LENGTH = RENDEZVOUS_INNER_LENGTH - INTEGRITY_LENGTH
export const FRAME_HEADER_LENGTH = 20
export const MESSAGE_ID_LENGTH = 8
/** A SURB handed over in a session counts as usable this long (its creator keeps its secrets SESSION_SURB_TTL_MS). */
export const SURB_USABLE_MS = SESSION_SURB_TTL_MS - 30_000

export interface Frame {
  kind: number
  used: number
  want: number
  messageId: Uint8Array
  response: boolean
  last: boolean
  index: number
  surbs: Uint8Array[]
  data: Uint8Array
}

/** Data bytes a frame with `surbs` SURBs carries inside a rendezvous payload. */
export function frameCapacity (surbs: number, total = FRAME_LENGTH): number {
  return total - FRAME_HEADER_LENGTH - surbs * SURB_LENGTH
}

export function encodeFrame (f: Frame): Uint8Array {
  const w = new Writer().u8(f.kind).u32(f.used).u8(Math.min(255, f.want)).bytes(f.messageId)
    .u8((f.response ? FLAG_RESPONSE : 0) | (f.last ? FLAG_LAST : 0)).u16(f.index).u8(f.surbs.length)
  for (const s of f.surbs) w.bytes(s)
  return w.var16(f.data).finish()
}

export function decodeFrame (b: Uint8Array): Frame {
  const r = new Reader(b)
  const kind = r.u8()
  if (kind !== FRAME_KIND.data && kind !== FRAME_KIND.credit && kind !== FRAME_KIND.close) throw new HiddenMalformedError(`unknown frame kind ${kind}`)
  const used = r.u32()
  const want = r.u8()
  const messageId = r.bytes(MESSAGE_ID_LENGTH)
  const flags = r.u8()
  const index = r.u16()
  const n = r.u8()
  const surbs = Array.from({ length: n }, () => r.bytes(SURB_LENGTH))
  const data = r.var16()
  r.endPadded()
  return { kind, used, want, messageId, response: (flags & FLAG_RESPONSE) !== 0, last: (flags & FLAG_LAST) !== 0, index, surbs, data }
}

/** The two direction keys of a session (see above). */
export function sessionKeys (sIntro: Uint8Array): { clientToService: Uint8Array, serviceToClient: Uint8Array } {
  return { clientToService: kdf('hs rendezvous client to service', sIntro), serviceToClient: kdf('hs rendezvous service to client', sIntro) }
}

/** inner_payload = LIONESS(H("hs rendezvous payload" || k_dir || k~), 0^16 || frame || zeros). */
export function sealInner (directionKey: Uint8Array, replyKey: Uint8Array, frame: Uint8Array): Uint8Array {
  if (frame.length > FRAME_LENGTH) throw new HiddenMalformedError(`a frame is at most ${FRAME_LENGTH} bytes`)
  const block = new Uint8Array(RENDEZVOUS_INNER_LENGTH)
  block.set(frame, INTEGRITY_LENGTH)
  return new Uint8Array(lionessEncrypt(kdf('hs rendezvous payload', directionKey, replyKey), block))
}

/** The frame from what came through our SURB (m: inner_payload then the rendezvous node's zero padding). */
export function openInner (directionKey: Uint8Array, replyKey: Uint8Array, m: Uint8Array): Frame {
  if (m.length < RENDEZVOUS_INNER_LENGTH) throw new HiddenMalformedError('rendezvous payload too short')
  const plain = lionessDecrypt(kdf('hs rendezvous payload', directionKey, replyKey), m.subarray(0, RENDEZVOUS_INNER_LENGTH))
  for (let i = 0; i < INTEGRITY_LENGTH; i++) if (plain[i] !== 0) throw new HiddenRendezvousIntegrityError()
  return decodeFrame(plain.subarray(INTEGRITY_LENGTH))
}

export function surbFirstHop (surb: Uint8Array): PeerId {
  return decodeAddress(surb.subarray(0, 94)).peerId
}

export interface SessionMessage {
  messageId: Uint8Array
  response: boolean
  data: Uint8Array
}

export interface SessionInit {
  transport: HiddenMixTransport
  self: PeerId
  role: 'client' | 'service'
  sIntro: Uint8Array
  /** The SURB group of this session at the mix service. */
  group: string
  onMessage: (message: SessionMessage) => void
  onClose: (reason: Error) => void
  /** Reports a frame that could not be sent or was refused. */
  onError: (err: unknown) => void
  /** Called for every frame from the other side (the client learns from the first that its introduction was taken). */
  onFrame?: () => void
  /** The client expects messages now (it has requests waiting), so it keeps the service supplied with SURBs. */
  expecting?: () => boolean
}

interface Outgoing {
  messageId: Uint8Array
  response: boolean
  data: Uint8Array
  offset: number
  index: number
}

interface Partial {
  parts: Map<number, Uint8Array>
  last?: number
  bytes: number
  response: boolean
}

export class RendezvousSession {
  readonly group: string
  readonly role: 'client' | 'service'
  private readonly init: SessionInit
  private readonly sendKey: Uint8Array
  private readonly recvKey: Uint8Array
  /** The other side's SURBs we may use, oldest first, with when they came. */
  private readonly outgoing: Array<{ surb: Uint8Array, at: number }> = []
  /** How many of the other side's SURBs we have used. */
  private usedOfPeer = 0
  /** When each of our SURBs was handed over, in order; the first `peerUsed` of them are used. */
  private readonly issued: number[] = []
  private issuedBase = 0
  /** How many of our SURBs the other side says it has used. */
  private peerUsed = 0
  /** SURBs the other side asked for that we have not sent yet. */
  private creditOwed = 0
  private readonly queue: Outgoing[] = []
  private readonly partial = new Map<string, Partial>()
  private closed = false
  lastActivity = Date.now()
  framesSent = 0
  framesReceived = 0

  constructor (init: SessionInit) {
    this.init = init
    this.group = init.group
    this.role = init.role
    const keys = sessionKeys(init.sIntro)
    this.sendKey = init.role === 'client' ? keys.clientToService : keys.serviceToClient
    this.recvKey = init.role === 'client' ? keys.serviceToClient : keys.clientToService
  }

  get isClosed (): boolean {
    return this.closed
  }

  /** The other side's SURBs we hold (still usable). */
  get surbsHeld (): number {
    this.dropOld()
    return this.outgoing.length
  }

  /** How many of our SURBs the other side holds: handed over, less those it says it used, less those too old. */
  get surbsGiven (): number {
    return this.peerHolds
  }

  private get peerHolds (): number {
    const cutoff = Date.now() - SURB_USABLE_MS
    // Forget the used ones (the first peerUsed) and any too old to count.
    while (this.issuedBase < this.peerUsed && this.issued.length > 0) {
      this.issued.shift()
      this.issuedBase++
    }
    while (this.issued.length > 0 && (this.issued[0] as number) < cutoff) {
      this.issued.shift()
      this.issuedBase++
    }
    return this.issued.length
  }

  private dropOld (): void {
    const cutoff = Date.now() - SURB_USABLE_MS
    while (this.outgoing.length > 0 && (this.outgoing[0] as { at: number }).at < cutoff) this.outgoing.shift()
  }

  /** The oldest usable SURB of the other side (counted as used). */
  private takeSurb (): Uint8Array | undefined {
    this.dropOld()
    const next = this.outgoing.shift()
    if (next === undefined) return undefined
    this.usedOfPeer++
    return next.surb
  }

  get queuedMessages (): number {
    return this.queue.length
  }

  /** Fresh SURBs of ours for the other side (counted as held by it). */
  issueSurbs (count: number): Uint8Array[] {
    if (count <= 0) return []
    const surbs = this.init.transport.createSurbs(count, {
      group: this.group,
      ttlMs: SESSION_SURB_TTL_MS,
      onReply: (m, replyKey) => {
        try {
          this.onSurbMessage(m, replyKey)
        } catch (err) {
          this.init.onError(err)
        }
      }
    })
    const now = Date.now()
    for (let i = 0; i < surbs.length; i++) this.issued.push(now)
    return surbs
  }

  /** SURBs of the other side received outside a frame (the introduction's client-SURBs). */
  addOutgoing (surbs: Uint8Array[]): void {
    const at = Date.now()
    for (const surb of surbs) if (surb.length === SURB_LENGTH) this.outgoing.push({ surb, at })
  }

  /** Queues a message for the other side and sends what the SURBs we hold allow. */
  send (message: SessionMessage): void {
    if (this.closed) throw new HiddenSessionClosedError('the session is closed')
    if (message.data.length > MAX_MESSAGE_BYTES) throw new HiddenMessageTooLargeError(message.data.length, MAX_MESSAGE_BYTES)
    if (this.queue.length >= MAX_QUEUED_FRAMES) throw new HiddenCapacityError('session send queue', MAX_QUEUED_FRAMES)
    this.queue.push({ ...message, offset: 0, index: 0 })
    this.lastActivity = Date.now()
    this.pump()
  }

  /**
   * The client's first frame, which travels inside the introduction (hs 9.2 step 5) rather than through a
   * rendezvous node: the first `capacity` bytes of the first queued message.
   */
  takeIntroFrame (capacity: number): Uint8Array {
    const item = this.queue[0]
    if (item === undefined) throw new HiddenMalformedError('nothing queued for the introduction')
    const chunk = item.data.subarray(0, Math.max(0, capacity - FRAME_HEADER_LENGTH))
    const last = chunk.length >= item.data.length
    const frame: Frame = {
      kind: FRAME_KIND.data,
      used: 0,
      want: last ? 0 : Math.min(255, this.framesNeeded(item.data.length - chunk.length)),
      messageId: item.messageId,
      response: item.response,
      last,
      index: 0,
      surbs: [],
      data: chunk
    }
    item.offset = chunk.length
    item.index = 1
    if (last) this.queue.shift()
    return encodeFrame(frame)
  }

  /** A frame that arrived outside a SURB (the introduction's app_data, at the service). */
  receiveFrame (frame: Frame): void {
    this.handleFrame(frame)
  }

  /**
   * The service's answer to an introduction when it has nothing else to send yet: a credit frame with SURBs, which
   * tells the client the introduction was taken (hs 9.2 step 10 waits for "a service reply") and lets it go on.
   */
  accept (): void {
    if (this.framesSent > 0 || this.closed) return
    this.creditOwed = Math.max(this.creditOwed, SESSION_TARGET_SURBS - this.peerHolds)
    this.pump()
  }

  /** Ends the session: our SURBs are forgotten; with `notify`, the other side is told (best effort). */
  close (reason: Error, notify = false): void {
    if (this.closed) return
    const surb = notify ? this.takeSurb() : undefined
    if (surb !== undefined) {
      const frame: Frame = { kind: FRAME_KIND.close, used: this.usedOfPeer, want: 0, messageId: new Uint8Array(MESSAGE_ID_LENGTH), response: false, last: true, index: 0, surbs: [], data: new Uint8Array(0) }
      this.transmit(surb, frame)
    }
    this.closed = true
    this.queue.length = 0
    this.partial.clear()
    this.outgoing.length = 0
    this.init.transport.dropSurbs(this.group)
    this.init.onClose(reason)
  }

  // -----------------------------------------------------------------------------------------------------------

  private onSurbMessage (m: Uint8Array, replyKey: Uint8Array): void {
    if (this.closed) return
    const frame = openInner(this.recvKey, replyKey, m)
    this.peerUsed = Math.max(this.peerUsed, frame.used)
    this.handleFrame(frame)
  }

  private handleFrame (frame: Frame): void {
    this.framesReceived++
    this.init.onFrame?.()
    this.lastActivity = Date.now()
    this.addOutgoing(frame.surbs)
    if (frame.kind === FRAME_KIND.close) {
      this.close(new HiddenSessionClosedError('closed by the other side'))
      return
    }
    // What the other side still needs beyond what it holds of ours or has on the way.
    this.creditOwed = Math.max(this.creditOwed, frame.want - this.peerHolds)
    if (frame.kind === FRAME_KIND.data) this.reassemble(frame)
    if (this.closed) return
    if (this.init.expecting?.() === true && this.peerHolds < SESSION_TARGET_SURBS / 2) {
      this.creditOwed = Math.max(this.creditOwed, SESSION_TARGET_SURBS - this.peerHolds)
    }
    this.pump()
  }

  private reassemble (frame: Frame): void {
    const key = toHex(frame.messageId)
    let p = this.partial.get(key)
    if (p === undefined) {
      if (this.partial.size >= MAX_SESSION_REASSEMBLIES) throw new HiddenCapacityError('session reassemblies', MAX_SESSION_REASSEMBLIES)
      p = { parts: new Map(), bytes: 0, response: frame.response }
      this.partial.set(key, p)
    }
    if (p.parts.has(frame.index)) return
    if (p.bytes + frame.data.length > MAX_MESSAGE_BYTES) {
      this.partial.delete(key)
      throw new HiddenMessageTooLargeError(p.bytes + frame.data.length, MAX_MESSAGE_BYTES)
    }
    p.parts.set(frame.index, frame.data)
    p.bytes += frame.data.length
    if (frame.last) p.last = frame.index
    if (p.last === undefined || p.parts.size !== p.last + 1) return
    this.partial.delete(key)
    const data = new Uint8Array(p.bytes)
    let o = 0
    for (let i = 0; i <= p.last; i++) {
      const part = p.parts.get(i)
      if (part === undefined) throw new HiddenMalformedError('fragment indexes beyond the last')
      data.set(part, o)
      o += part.length
    }
    this.init.onMessage({ messageId: frame.messageId, response: p.response, data })
  }

  /** Frames a message of `bytes` needs when sent with no SURBs attached (an estimate for `want`). */
  private framesNeeded (bytes: number): number {
    return Math.ceil(bytes / frameCapacity(0))
  }

  /** Sends queued frames while we hold SURBs; answers owed credit when nothing else goes. */
  private pump (): void {
    while (!this.closed && this.queue.length > 0 && this.surbsHeld > 0) {
      const item = this.queue[0] as Outgoing
      const surb = this.takeSurb() as Uint8Array
      let attach = Math.min(MAX_SURBS_PER_DATA_FRAME, Math.max(0, SESSION_TARGET_SURBS - this.peerHolds, this.creditOwed))
      // What may be the last frame for a while carries at least one SURB, so the other side can always answer or
      // send its next message (our count of what it holds may include SURBs it is spending right now).
      if (attach === 0 && this.queue.length === 1 && item.data.length - item.offset <= frameCapacity(0)) attach = 1
      const surbs = this.issueSurbs(attach)
      this.creditOwed = Math.max(0, this.creditOwed - surbs.length)
      const chunk = item.data.subarray(item.offset, item.offset + frameCapacity(surbs.length))
      item.offset += chunk.length
      const last = item.offset >= item.data.length
      if (last) this.queue.shift()
      const remaining = this.queue.reduce((n, q) => n + this.framesNeeded(q.data.length - q.offset), 0)
      const frame: Frame = {
        kind: FRAME_KIND.data,
        used: this.usedOfPeer,
        want: Math.min(255, remaining),
        messageId: item.messageId,
        response: item.response,
        last,
        index: item.index++,
        surbs,
        data: chunk
      }
      this.transmit(surb, frame)
    }
    if (!this.closed && this.queue.length === 0 && this.creditOwed > 0 && this.surbsHeld > 0) {
      const surb = this.takeSurb() as Uint8Array
      const surbs = this.issueSurbs(Math.min(MAX_SURBS_PER_CREDIT_FRAME, this.creditOwed))
      this.creditOwed = 0
      this.transmit(surb, { kind: FRAME_KIND.credit, used: this.usedOfPeer, want: 0, messageId: randomBytes(MESSAGE_ID_LENGTH), response: false, last: true, index: 0, surbs, data: new Uint8Array(0) })
    }
  }

  /** hs 10.1 "Creating a SURB-rendezvous packet": a random rendezvous node R (not us, not the SURB's first hop). */
  private transmit (surb: Uint8Array, frame: Frame): void {
    this.framesSent++
    this.lastActivity = Date.now()
    const replyKey = surb.subarray(SURB_LENGTH - 16)
    const inner = sealInner(this.sendKey, replyKey, encodeFrame(frame))
    const send = async (): Promise<void> => {
      const firstHop = surbFirstHop(surb)
      const candidates = this.init.transport.knownNodes().filter(n => !n.peerId.equals(this.init.self) && !n.peerId.equals(firstHop))
      if (candidates.length === 0) throw new HiddenSessionClosedError('no mix node to use as a rendezvous node')
      const R = candidates[randomInt(candidates.length)] as (typeof candidates)[number]
      await this.init.transport.sendToExit(R, HIDDEN_SERVICES_CODEC, encodeRendezvous(surb, inner))
    }
    send().catch(err => { this.init.onError(err) })
  }
}
