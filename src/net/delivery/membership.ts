import { ed25519 } from '@noble/curves/ed25519.js'
import { DeliveryMembershipError } from './errors.ts'

/**
 * The devnet membership registry's wire format (ours: no Logos or Vac spec covers RLN membership without a
 * contract). It travels on its own relay topic, MEMBERSHIP_TOPIC, outside the RLN-protected shards: a node that is
 * not yet a member cannot make RLN proofs. Integers are big-endian; every message starts with a version byte.
 *
 * | type | name | body |
 * | --- | --- | --- |
 * | 1 | snapshot | `u64 seq, u32 n, n × (32B commitment, u32 user_message_limit, u8 removed), 32B registrar key, 64B signature` |
 * | 2 | join | `32B commitment, u32 user_message_limit` |
 * | 3 | slashing | `u32 length, JSON of the slashing evidence` (the RLN library's evidenceToJson) |
 *
 * A snapshot lists every member in tree order (removed ones flagged) and is signed (Ed25519) by the registrar over
 * `"logos-delivery/membership/v1" || the message up to the key`. Commitments are 32-byte little-endian field elements.
 */

export const MEMBERSHIP_TOPIC = '/logos/delivery/1/rln-membership/proto'

export const MEMBERSHIP_VERSION = 1

/** Members one snapshot can carry: 37 bytes each keeps the largest snapshot near 150 KiB, the relay's message size. */
export const MAX_SNAPSHOT_MEMBERS = 4_000

/** Largest slashing evidence JSON accepted (the evidence is a few hundred bytes). */
export const MAX_EVIDENCE_BYTES = 4_096

const SIGNING_CONTEXT = new TextEncoder().encode('logos-delivery/membership/v1')

export interface SnapshotMember {
  commitment: Uint8Array
  userMessageLimit: number
  removed: boolean
}

export type MembershipMessage =
  | { type: 'snapshot', seq: bigint, members: SnapshotMember[], registrarKey: Uint8Array, signature: Uint8Array }
  | { type: 'join', commitment: Uint8Array, userMessageLimit: number }
  | { type: 'slashing', evidenceJson: string }

function snapshotBody (seq: bigint, members: SnapshotMember[], registrarKey: Uint8Array): Uint8Array {
  if (members.length > MAX_SNAPSHOT_MEMBERS) throw new DeliveryMembershipError(`a snapshot holds at most ${MAX_SNAPSHOT_MEMBERS} members`)
  const out = new Uint8Array(2 + 8 + 4 + members.length * 37 + 32)
  const v = new DataView(out.buffer)
  out[0] = MEMBERSHIP_VERSION
  out[1] = 1
  v.setBigUint64(2, seq)
  v.setUint32(10, members.length)
  let o = 14
  for (const m of members) {
    if (m.commitment.length !== 32) throw new DeliveryMembershipError('a commitment is 32 bytes')
    out.set(m.commitment, o)
    v.setUint32(o + 32, m.userMessageLimit)
    out[o + 36] = m.removed ? 1 : 0
    o += 37
  }
  out.set(registrarKey, o)
  return out
}

/** A signed snapshot of the membership, by the registrar holding `secretKey` (32-byte Ed25519 seed). */
export function encodeSnapshot (seq: bigint, members: SnapshotMember[], secretKey: Uint8Array): Uint8Array {
  const key = ed25519.getPublicKey(secretKey)
  const body = snapshotBody(seq, members, key)
  const sig = ed25519.sign(concat(SIGNING_CONTEXT, body), secretKey)
  return concat(body, sig)
}

export function encodeJoin (commitment: Uint8Array, userMessageLimit: number): Uint8Array {
  if (commitment.length !== 32) throw new DeliveryMembershipError('a commitment is 32 bytes')
  const out = new Uint8Array(2 + 32 + 4)
  out[0] = MEMBERSHIP_VERSION
  out[1] = 2
  out.set(commitment, 2)
  new DataView(out.buffer).setUint32(34, userMessageLimit)
  return out
}

export function encodeSlashing (evidenceJson: string): Uint8Array {
  const json = new TextEncoder().encode(evidenceJson)
  if (json.length > MAX_EVIDENCE_BYTES) throw new DeliveryMembershipError('slashing evidence too large')
  const out = new Uint8Array(2 + 4 + json.length)
  out[0] = MEMBERSHIP_VERSION
  out[1] = 3
  new DataView(out.buffer).setUint32(2, json.length)
  out.set(json, 6)
  return out
}

/** Decodes a membership message; a snapshot's signature is checked here (it must verify under its own key). */
export function decodeMembership (bytes: Uint8Array): MembershipMessage {
  const fail = (why: string): never => { throw new DeliveryMembershipError(`membership message: ${why}`) }
  if (bytes.length < 2) fail('truncated')
  if (bytes[0] !== MEMBERSHIP_VERSION) fail(`version ${bytes[0] as number} is not ${MEMBERSHIP_VERSION}`)
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  switch (bytes[1]) {
    case 1: {
      if (bytes.length < 14) fail('truncated snapshot')
      const seq = v.getBigUint64(2)
      const n = v.getUint32(10)
      if (n > MAX_SNAPSHOT_MEMBERS) fail(`more than ${MAX_SNAPSHOT_MEMBERS} members`)
      const end = 14 + n * 37
      if (bytes.length !== end + 32 + 64) fail('snapshot length does not match its member count')
      const members: SnapshotMember[] = []
      for (let o = 14; o < end; o += 37) {
        const removed = bytes[o + 36] as number
        if (removed > 1) fail('bad removed flag')
        members.push({ commitment: bytes.slice(o, o + 32), userMessageLimit: v.getUint32(o + 32), removed: removed === 1 })
      }
      const registrarKey = bytes.slice(end, end + 32)
      const signature = bytes.slice(end + 32)
      let ok = false
      try {
        ok = ed25519.verify(signature, concat(SIGNING_CONTEXT, bytes.subarray(0, end + 32)), registrarKey)
      } catch {
        ok = false
      }
      if (!ok) fail('bad snapshot signature')
      return { type: 'snapshot', seq, members, registrarKey, signature }
    }
    case 2:
      if (bytes.length !== 38) fail('a join is 38 bytes')
      return { type: 'join', commitment: bytes.slice(2, 34), userMessageLimit: v.getUint32(34) }
    case 3: {
      if (bytes.length < 6) fail('truncated slashing notice')
      const len = v.getUint32(2)
      if (len > MAX_EVIDENCE_BYTES || bytes.length !== 6 + len) fail('slashing notice length')
      let evidenceJson = ''
      try {
        evidenceJson = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(6))
      } catch {
        fail('slashing notice is not UTF-8')
      }
      return { type: 'slashing', evidenceJson }
    }
    default:
      return fail(`unknown type ${bytes[1] as number}`)
  }
}

/** A fresh registrar key (Ed25519 seed) and its public key. */
export function generateRegistrarKey (): { secretKey: Uint8Array, publicKey: Uint8Array } {
  const secretKey = ed25519.utils.randomSecretKey()
  return { secretKey, publicKey: ed25519.getPublicKey(secretKey) }
}

export function registrarPublicKey (secretKey: Uint8Array): Uint8Array {
  return ed25519.getPublicKey(secretKey)
}

function concat (a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length)
  out.set(a)
  out.set(b, a.length)
  return out
}
