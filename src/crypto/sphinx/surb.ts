import { ADDRESS_LENGTH, HEADER_LENGTH, INTEGRITY_PREFIX_LENGTH, MESSAGE_LENGTH, PAYLOAD_LENGTH, SURB_ID_LENGTH, SURB_KEY_LENGTH, SURB_LENGTH } from './constants.ts'
import { SphinxLengthError, SphinxPayloadIntegrityError } from './errors.ts'
import { lionessDecrypt, lionessEncrypt, lionessKeys } from './lioness.ts'
import type { LionessKeys } from './lioness.ts'
import { buildHeader, payloadRoundKeys } from './packet.ts'
import type { PathHop } from './packet.ts'

/**
 * Single-use reply blocks (mix.md 8.7, mix-lioness.md 6.2.2 and 7.3).
 *
 * Byte layout (mix.md 8.7.1 names the parts; decision: in that order, as the nim code has it):
 *   hop0 address (94) | alpha (32) | beta (576) | gamma (16) | reply key k~ (16)  = 734 bytes
 */

/** A SURB as the replier holds it. */
export interface Surb {
  /** The 94-byte address of the first node of the return path. */
  firstHop: Uint8Array
  /** alpha || beta || gamma for the return path, 624 bytes. */
  header: Uint8Array
  /** k~, the 16-byte key the replier encrypts the reply under (once, with LIONESS). */
  replyKey: Uint8Array
}

/** What the SURB's creator keeps to read the reply: k~ and the return path's payload keys (mix.md 8.7.2 step 4). */
export interface SurbSecrets {
  id: Uint8Array
  replyKey: Uint8Array
  /** LIONESS round keys of hop 0 ... L-1 of the return path. */
  hopKeys: LionessKeys[]
}

export interface SurbInput {
  /** The return path; its last hop is the creator itself (mix.md 8.7.2 step 1). */
  hops: readonly PathHop[]
  /** Mean delays of the intermediate return hops (hops.length - 1 values, each 1..65535 ms). */
  delays: readonly number[]
  /** A unique, non-zero 16-byte identifier. */
  id: Uint8Array
  /** k~: 16 random bytes. */
  replyKey: Uint8Array
  /** x for the return header: 32 random bytes. */
  ephemeral: Uint8Array
}

/** mix.md 8.7.2: builds the return header with the SURB identifier in the exit block. */
export function createSurb (input: SurbInput): { surb: Surb, secrets: SurbSecrets } {
  if (input.replyKey.length !== SURB_KEY_LENGTH) throw new SphinxLengthError('SURB reply key', SURB_KEY_LENGTH, input.replyKey.length)
  if (input.id.length !== SURB_ID_LENGTH) throw new SphinxLengthError('SURB identifier', SURB_ID_LENGTH, input.id.length)
  const { header, secrets } = buildHeader({ hops: input.hops, delays: input.delays, exit: { surbId: input.id }, ephemeral: input.ephemeral })
  const first = input.hops[0] as PathHop
  return {
    surb: { firstHop: Uint8Array.from(first.address), header, replyKey: Uint8Array.from(input.replyKey) },
    secrets: { id: Uint8Array.from(input.id), replyKey: Uint8Array.from(input.replyKey), hopKeys: payloadRoundKeys(secrets) }
  }
}

export function encodeSurb (surb: Surb): Uint8Array {
  const out = new Uint8Array(SURB_LENGTH)
  out.set(surb.firstHop, 0)
  out.set(surb.header, ADDRESS_LENGTH)
  out.set(surb.replyKey, ADDRESS_LENGTH + HEADER_LENGTH)
  return out
}

export function decodeSurb (bytes: Uint8Array): Surb {
  if (bytes.length !== SURB_LENGTH) throw new SphinxLengthError('SURB', SURB_LENGTH, bytes.length)
  return {
    firstHop: bytes.slice(0, ADDRESS_LENGTH),
    header: bytes.slice(ADDRESS_LENGTH, ADDRESS_LENGTH + HEADER_LENGTH),
    replyKey: bytes.slice(ADDRESS_LENGTH + HEADER_LENGTH)
  }
}

/** mix.md 8.7.3: the reply packet, delta = LIONESS.Enc(k~, 0_kappa | m), to be sent to `surb.firstHop`. */
export function useSurb (surb: Surb, message: Uint8Array): Uint8Array {
  if (message.length !== MESSAGE_LENGTH) throw new SphinxLengthError('padded message', MESSAGE_LENGTH, message.length)
  const block = new Uint8Array(PAYLOAD_LENGTH)
  block.set(message, INTEGRITY_PREFIX_LENGTH)
  const delta = lionessEncrypt(surb.replyKey, block)
  const packet = new Uint8Array(HEADER_LENGTH + PAYLOAD_LENGTH)
  packet.set(surb.header, 0)
  packet.set(delta, HEADER_LENGTH)
  return packet
}

/**
 * mix.md 8.7.5: undoes the L hop decryptions with LIONESS encryptions (last hop first), then decrypts under k~ and
 * checks the integrity prefix. Returns m (3968 bytes).
 */
export function recoverReply (secrets: SurbSecrets, payload: Uint8Array): Uint8Array {
  if (payload.length !== PAYLOAD_LENGTH) throw new SphinxLengthError('reply payload', PAYLOAD_LENGTH, payload.length)
  let delta: Uint8Array = payload
  for (let i = secrets.hopKeys.length - 1; i >= 0; i--) delta = lionessEncrypt(secrets.hopKeys[i] as LionessKeys, delta)
  const plain = lionessDecrypt(lionessKeys(secrets.replyKey), delta)
  for (let i = 0; i < INTEGRITY_PREFIX_LENGTH; i++) if (plain[i] !== 0) throw new SphinxPayloadIntegrityError()
  return plain.subarray(INTEGRITY_PREFIX_LENGTH)
}
