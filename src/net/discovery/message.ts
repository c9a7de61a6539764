import { reader as createReader, writer as createWriter } from 'protons-runtime'
import type { Writer } from 'protons-runtime'
import { MAX_ADDRS_PER_PEER, MAX_ADS_PER_RESPONSE, MAX_CLOSER_PEERS, MAX_MESSAGE_SIZE } from './constants.ts'
import { InvalidMessageError } from './errors.ts'

/**
 * The Kad-DHT `Message` with the two types LOGOS-SERVICE-DISCOVERY adds ("RPC Messages", "Base Message Structure"),
 * encoded by hand over protons-runtime's reader and writer. Only the fields discovery uses are kept; every other
 * field is skipped on decode, as protobuf demands.
 *
 * Field numbers: type = 1, key = 2, closerPeers = 8, register = 21, getAds = 22; Peer { id = 1, addrs = 2 };
 * Register { advertisement = 1, status = 2, ticket = 3 }; Ticket { advertisement = 1, t_init = 2, t_mod = 3,
 * t_wait_for = 4, signature = 5 }; GetAds { advertisements = 1 }.
 */

/** REGISTER = 6 and GET_ADS = 7 (the spec's MessageType). */
export const MessageType = Object.freeze({ REGISTER: 6, GET_ADS: 7 })

/**
 * nim-libp2p numbers the same two messages 16 and 17. We send the spec's numbers and answer either, replying with the
 * numbering the request used, so a nim node and this one understand each other.
 */
export const NimMessageType = Object.freeze({ REGISTER: 16, GET_ADS: 17 })

/** Register.RegistrationStatus. */
export const RegistrationStatus = Object.freeze({ CONFIRMED: 0, WAIT: 1, REJECTED: 2 })
export type RegistrationStatusCode = 0 | 1 | 2

export interface WirePeer {
  id: Uint8Array
  addrs: Uint8Array[]
}

export interface Ticket {
  advertisement: Uint8Array
  /** Seconds since the epoch. */
  tInit: number
  /** Seconds since the epoch. */
  tMod: number
  /** Seconds. */
  tWaitFor: number
  signature: Uint8Array
}

export interface RegisterPart {
  advertisement?: Uint8Array
  status?: RegistrationStatusCode
  ticket?: Ticket
}

export interface DiscoveryMessage {
  type: number
  key?: Uint8Array
  closerPeers: WirePeer[]
  register?: RegisterPart
  getAds?: { advertisements: Uint8Array[] }
}

export type MessageKind = 'register' | 'getAds'

export function messageKind (type: number): MessageKind | undefined {
  if (type === MessageType.REGISTER || type === NimMessageType.REGISTER) return 'register'
  if (type === MessageType.GET_ADS || type === NimMessageType.GET_ADS) return 'getAds'
  return undefined
}

const VARINT = 0
const LEN = 2

function tag (field: number, wireType: number): number {
  return (field << 3) | wireType
}

function writeTicket (w: Writer, t: Ticket): void {
  w.uint32(tag(1, LEN)).bytes(t.advertisement)
  w.uint32(tag(2, VARINT)).uint64Number(t.tInit)
  w.uint32(tag(3, VARINT)).uint64Number(t.tMod)
  w.uint32(tag(4, VARINT)).uint32(t.tWaitFor)
  w.uint32(tag(5, LEN)).bytes(t.signature)
}

export function encodeMessage (m: DiscoveryMessage): Uint8Array {
  const w = createWriter()
  w.uint32(tag(1, VARINT)).int32(m.type)
  if (m.key !== undefined) w.uint32(tag(2, LEN)).bytes(m.key)
  for (const p of m.closerPeers) {
    w.uint32(tag(8, LEN)).fork()
    w.uint32(tag(1, LEN)).bytes(p.id)
    for (const a of p.addrs) w.uint32(tag(2, LEN)).bytes(a)
    w.ldelim()
  }
  if (m.register !== undefined) {
    const r = m.register
    w.uint32(tag(21, LEN)).fork()
    if (r.advertisement !== undefined) w.uint32(tag(1, LEN)).bytes(r.advertisement)
    // proto2 `optional`: a present CONFIRMED (0) is written, not elided as proto3 would.
    if (r.status !== undefined) w.uint32(tag(2, VARINT)).int32(r.status)
    if (r.ticket !== undefined) {
      w.uint32(tag(3, LEN)).fork()
      writeTicket(w, r.ticket)
      w.ldelim()
    }
    w.ldelim()
  }
  if (m.getAds !== undefined) {
    w.uint32(tag(22, LEN)).fork()
    for (const ad of m.getAds.advertisements) w.uint32(tag(1, LEN)).bytes(ad)
    w.ldelim()
  }
  return w.finish()
}

type Reader = ReturnType<typeof createReader>

function sub (r: Reader): Reader {
  return createReader(r.bytes())
}

function decodePeer (r: Reader): WirePeer | undefined {
  const peer: WirePeer = { id: new Uint8Array(0), addrs: [] }
  while (r.pos < r.len) {
    const t = r.uint32()
    switch (t >>> 3) {
      case 1: peer.id = r.bytes(); break
      case 2: {
        const a = r.bytes()
        if (peer.addrs.length < MAX_ADDRS_PER_PEER) peer.addrs.push(a)
        break
      }
      default: r.skipType(t & 7)
    }
  }
  return peer.id.length === 0 ? undefined : peer
}

function decodeTicket (r: Reader): Ticket {
  const t: Ticket = { advertisement: new Uint8Array(0), tInit: 0, tMod: 0, tWaitFor: 0, signature: new Uint8Array(0) }
  while (r.pos < r.len) {
    const k = r.uint32()
    switch (k >>> 3) {
      case 1: t.advertisement = r.bytes(); break
      case 2: t.tInit = r.uint64Number(); break
      case 3: t.tMod = r.uint64Number(); break
      case 4: t.tWaitFor = r.uint64Number(); break
      case 5: t.signature = r.bytes(); break
      default: r.skipType(k & 7)
    }
  }
  return t
}

function decodeRegister (r: Reader): RegisterPart {
  const out: RegisterPart = {}
  while (r.pos < r.len) {
    const k = r.uint32()
    switch (k >>> 3) {
      case 1: out.advertisement = r.bytes(); break
      case 2: {
        const s = r.int32()
        if (s !== 0 && s !== 1 && s !== 2) throw new InvalidMessageError(`unknown registration status ${s}`)
        out.status = s
        break
      }
      case 3: out.ticket = decodeTicket(sub(r)); break
      default: r.skipType(k & 7)
    }
  }
  return out
}

/** Decodes a message, refusing anything larger than MAX_MESSAGE_SIZE; lists past their bounds are cut short. */
export function decodeMessage (bytes: Uint8Array): DiscoveryMessage {
  if (bytes.byteLength > MAX_MESSAGE_SIZE) throw new InvalidMessageError(`message of ${bytes.byteLength} bytes exceeds ${MAX_MESSAGE_SIZE}`)
  const m: DiscoveryMessage = { type: -1, closerPeers: [] }
  try {
    const r = createReader(bytes)
    while (r.pos < r.len) {
      const k = r.uint32()
      switch (k >>> 3) {
        case 1: m.type = r.int32(); break
        case 2: m.key = r.bytes(); break
        case 8: {
          const p = decodePeer(sub(r))
          if (p !== undefined && m.closerPeers.length < MAX_CLOSER_PEERS) m.closerPeers.push(p)
          break
        }
        case 21: m.register = decodeRegister(sub(r)); break
        case 22: {
          const g = sub(r)
          const ads: Uint8Array[] = []
          while (g.pos < g.len) {
            const gk = g.uint32()
            if (gk >>> 3 === 1) {
              const ad = g.bytes()
              if (ads.length < MAX_ADS_PER_RESPONSE) ads.push(ad)
            } else g.skipType(gk & 7)
          }
          m.getAds = { advertisements: ads }
          break
        }
        default: r.skipType(k & 7)
      }
    }
  } catch (err) {
    if (err instanceof InvalidMessageError) throw err
    throw new InvalidMessageError(`malformed discovery message: ${(err as Error).message}`, { cause: err })
  }
  if (m.type < 0) throw new InvalidMessageError('discovery message without a type')
  return m
}
