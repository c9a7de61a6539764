import { RecordEnvelope } from '@libp2p/peer-record'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { reader as createReader, writer as createWriter } from 'protons-runtime'
import type { PrivateKey, PublicKey, Record as Libp2pRecord } from '@libp2p/interface'
import { MAX_RECORD_SIZE, MAX_SERVICE_DATA, VERIFY_CACHE_SIZE, XPR_DOMAIN, XPR_PAYLOAD_TYPE } from './constants.ts'
import { InvalidAdvertisementError, ServiceDataTooLargeError } from './errors.ts'
import { bytesEqual, serviceIdOf, toHex } from './keyspace.ts'
import type { Key } from './keyspace.ts'
import { LruMap } from './routing-table.ts'

/** ServiceInfo of EXTENSIBLE-PEER-RECORDS: a service id string and up to 33 bytes of data. */
export interface ServiceInfo {
  id: string
  data?: Uint8Array
}

/** ExtensiblePeerRecord (EXTENSIBLE-PEER-RECORDS, "Wire protocol"). */
export interface ExtensiblePeerRecord {
  /** The peer id's bytes (multihash). */
  peerId: Uint8Array
  seq: bigint
  /** Binary multiaddrs (AddressInfo.multiaddr). */
  addrs: Uint8Array[]
  services: ServiceInfo[]
}

/** A verified advertisement: the signed bytes as received and what they say. */
export interface Advertisement extends ExtensiblePeerRecord {
  bytes: Uint8Array
  /** The peer id as a string. */
  peerIdString: string
}

const LEN = 2
const VARINT = 0

/** proto3 encoding: peer_id = 1, seq = 2, addresses = 3 { multiaddr = 1 }, services = 4 { id = 1, data = 2 }. */
export function encodeXpr (r: ExtensiblePeerRecord): Uint8Array {
  const w = createWriter()
  w.uint32((1 << 3) | LEN).bytes(r.peerId)
  if (r.seq !== 0n) w.uint32((2 << 3) | VARINT).uint64(r.seq)
  for (const a of r.addrs) {
    w.uint32((3 << 3) | LEN).fork()
    w.uint32((1 << 3) | LEN).bytes(a)
    w.ldelim()
  }
  for (const s of r.services) {
    w.uint32((4 << 3) | LEN).fork()
    w.uint32((1 << 3) | LEN).string(s.id)
    if (s.data !== undefined) w.uint32((2 << 3) | LEN).bytes(s.data)
    w.ldelim()
  }
  return w.finish()
}

export function decodeXpr (bytes: Uint8Array): ExtensiblePeerRecord {
  const out: ExtensiblePeerRecord = { peerId: new Uint8Array(0), seq: 0n, addrs: [], services: [] }
  const r = createReader(bytes)
  while (r.pos < r.len) {
    const t = r.uint32()
    switch (t >>> 3) {
      case 1: out.peerId = r.bytes(); break
      case 2: out.seq = r.uint64(); break
      case 3: {
        const a = createReader(r.bytes())
        while (a.pos < a.len) {
          const at = a.uint32()
          if (at >>> 3 === 1) out.addrs.push(a.bytes())
          else a.skipType(at & 7)
        }
        break
      }
      case 4: {
        const s = createReader(r.bytes())
        const info: ServiceInfo = { id: '' }
        while (s.pos < s.len) {
          const st = s.uint32()
          if (st >>> 3 === 1) info.id = s.string()
          else if (st >>> 3 === 2) info.data = s.bytes()
          else s.skipType(st & 7)
        }
        out.services.push(info)
        break
      }
      default: r.skipType(t & 7)
    }
  }
  return out
}

/** The record as js-libp2p's envelope code wants it (domain, codec, marshal). */
class XprRecord implements Libp2pRecord {
  readonly domain = XPR_DOMAIN
  readonly codec = XPR_PAYLOAD_TYPE
  private readonly record: ExtensiblePeerRecord

  constructor (record: ExtensiblePeerRecord) {
    this.record = record
  }

  marshal (): Uint8Array {
    return encodeXpr(this.record)
  }

  equals (other: Libp2pRecord): boolean {
    return bytesEqual(this.marshal(), other.marshal())
  }
}

/**
 * Signs an extensible peer record into a libp2p signed envelope (RFC 0002) with domain `libp2p-peer-record` and
 * payload type 0x0301, as EXTENSIBLE-PEER-RECORDS ("Wrapping in Signed Peer Envelopes") and nim-libp2p do.
 * LOGOS-SERVICE-DISCOVERY's VERIFY_ADVERTISEMENT names another domain and payload type; the record's own spec and
 * the reference implementation agree with each other, so we follow them (see docs/discovery.md).
 */
export async function sealAdvertisement (privateKey: PrivateKey, record: Omit<ExtensiblePeerRecord, 'peerId'>): Promise<Uint8Array> {
  for (const s of record.services) checkServiceData(s)
  const peerId = peerIdFromPrivateKeyBytes(privateKey)
  const envelope = await RecordEnvelope.seal(new XprRecord({ ...record, peerId }), privateKey)
  const bytes = envelope.marshal()
  if (bytes.byteLength > MAX_RECORD_SIZE) throw new InvalidAdvertisementError(`signed record of ${bytes.byteLength} bytes exceeds ${MAX_RECORD_SIZE}`)
  return bytes
}

function peerIdFromPrivateKeyBytes (privateKey: PrivateKey): Uint8Array {
  return peerIdFromPublicKey(privateKey.publicKey).toMultihash().bytes
}

export function checkServiceData (s: ServiceInfo): void {
  if (s.data !== undefined && s.data.byteLength > MAX_SERVICE_DATA) {
    throw new ServiceDataTooLargeError(`service data of ${s.data.byteLength} bytes exceeds ${MAX_SERVICE_DATA} (service ${s.id})`)
  }
}

function varint (n: number): number[] {
  const out: number[] = []
  while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n >>>= 7 }
  out.push(n)
  return out
}

/** What RFC 0002 signs: varint-prefixed domain, payload type and payload. */
function signaturePayload (domain: string, payloadType: Uint8Array, payload: Uint8Array): Uint8Array {
  const d = new TextEncoder().encode(domain)
  const parts = [Uint8Array.from(varint(d.length)), d, Uint8Array.from(varint(payloadType.length)), payloadType,
    Uint8Array.from(varint(payload.length)), payload]
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) { out.set(p, at); at += p.length }
  return out
}

/** A signature check that must not yield: registrars verify in line with the request they serve. */
export function verifySync (key: PublicKey, data: Uint8Array, signature: Uint8Array): boolean {
  const result: unknown = key.verify(data, signature)
  if (typeof result !== 'boolean') {
    // RSA keys verify asynchronously through WebCrypto; Logos nodes use Ed25519 (secp256k1 also verifies in line).
    if (result instanceof Promise) result.catch(() => {})
    throw new InvalidAdvertisementError(`keys of type ${key.type} are not supported for advertisements and tickets`)
  }
  return result
}

/**
 * Opens and verifies a signed extensible peer record (VERIFY_ADVERTISEMENT of LOGOS-SERVICE-DISCOVERY): size at most
 * 1024 B, envelope signature valid for the record domain, payload type 0x0301, the record's peer id the one of the
 * signing key, every ServiceInfo.data at most 33 B. Synchronous, so a registrar never yields inside a request.
 */
export function openAdvertisement (bytes: Uint8Array): Advertisement {
  if (bytes.byteLength === 0 || bytes.byteLength > MAX_RECORD_SIZE) {
    throw new InvalidAdvertisementError(`advertisement of ${bytes.byteLength} bytes (must be 1..${MAX_RECORD_SIZE})`)
  }
  let envelope: RecordEnvelope
  try {
    envelope = RecordEnvelope.createFromProtobuf(bytes)
  } catch (err) {
    throw new InvalidAdvertisementError('advertisement is not a signed envelope', { cause: err })
  }
  if (!bytesEqual(envelope.payloadType, XPR_PAYLOAD_TYPE)) {
    throw new InvalidAdvertisementError(`payload type ${toHex(envelope.payloadType)} is not an extensible peer record (0301)`)
  }
  if (!verifySync(envelope.publicKey, signaturePayload(XPR_DOMAIN, envelope.payloadType, envelope.payload), envelope.signature)) {
    throw new InvalidAdvertisementError('advertisement signature is invalid')
  }
  let record: ExtensiblePeerRecord
  try {
    record = decodeXpr(envelope.payload)
  } catch (err) {
    throw new InvalidAdvertisementError('advertisement payload is not an extensible peer record', { cause: err })
  }
  const signer = peerIdFromPublicKey(envelope.publicKey)
  if (!bytesEqual(signer.toMultihash().bytes, record.peerId)) {
    throw new InvalidAdvertisementError('advertisement is signed by a key other than its peer id')
  }
  for (const s of record.services) {
    if (s.data !== undefined && s.data.byteLength > MAX_SERVICE_DATA) {
      throw new InvalidAdvertisementError(`service data of ${s.data.byteLength} bytes exceeds ${MAX_SERVICE_DATA}`)
    }
  }
  return { ...record, bytes, peerIdString: signer.toString() }
}

/** Whether the ad lists a service whose SHA-256 is `serviceId` (the signature-binding check of the spec). */
export function advertisesService (ad: ExtensiblePeerRecord, serviceId: Key): ServiceInfo | undefined {
  return ad.services.find(s => bytesEqual(serviceIdOf(s.id), serviceId))
}

/**
 * openAdvertisement with a bounded cache of verified bytes: an advertiser retries with the same bytes until it is
 * admitted, and the same ad reaches a discoverer from several registrars, so each distinct ad is verified once.
 */
export class AdvertisementVerifier {
  private readonly cache: LruMap<string, Advertisement>

  constructor (capacity: number = VERIFY_CACHE_SIZE) {
    this.cache = new LruMap(capacity)
  }

  /** Verified advertisements remembered now. */
  get size (): number {
    return this.cache.size
  }

  open (bytes: Uint8Array): Advertisement {
    const k = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')
    const hit = this.cache.get(k)
    if (hit !== undefined) return hit
    const ad = openAdvertisement(bytes)
    this.cache.set(k, ad)
    return ad
  }

  /** Opens `bytes` and checks it advertises `serviceId`; throws InvalidAdvertisementError otherwise. */
  openFor (bytes: Uint8Array, serviceId: Key): { ad: Advertisement, service: ServiceInfo } {
    const ad = this.open(bytes)
    const service = advertisesService(ad, serviceId)
    if (service === undefined) throw new InvalidAdvertisementError('advertisement does not list the requested service')
    return { ad, service }
  }
}
