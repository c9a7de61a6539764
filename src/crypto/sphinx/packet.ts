import { timingSafeEqual } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import {
  AES_IV_LENGTH, AES_KEY_LENGTH, ADDRESS_LENGTH, ALPHA_LENGTH, BETA_LENGTH, DELAY_LENGTH, HEADER_LENGTH,
  INTEGRITY_PREFIX_LENGTH, KAPPA, LABEL_AES_KEY, LABEL_IV, LABEL_MAC_KEY, LABEL_PAYLOAD_KEY, MAC_KEY_LENGTH, MAX_DELAY_MS,
  MAX_HOPS, MESSAGE_LENGTH, PACKET_LENGTH, PAYLOAD_LENGTH, ROUTING_BLOCK_LENGTH, SURB_ID_LENGTH, T
} from './constants.ts'
import { SphinxLengthError, SphinxMacError, SphinxPathError, SphinxPayloadIntegrityError, SphinxReplayError } from './errors.ts'
import { kdf, mac, sha256 } from './kdf.ts'
import { lionessDecrypt, lionessEncrypt, lionessKeys } from './lioness.ts'
import type { LionessKeys } from './lioness.ts'
import { computePathSecrets } from './secrets.ts'
import type { PathKey } from './secrets.ts'
import { aesCtr } from './stream-cipher.ts'
import { assertPoint, importPoint, importScalar, x25519 } from './x25519.ts'

/**
 * Sphinx header construction (mix.md 8.5.2) and per-hop processing (mix.md 8.6), with the payload under LIONESS
 * (mix-lioness.md 6 and 7).
 *
 * Decision (mix.md 8.6.2 versus the nim code): a hop is the exit when the delay field of its routing block is zero,
 * as the spec says; the nim code instead looks for zero padding. So a sender never puts a zero delay on an
 * intermediate hop (`buildHeader` refuses one).
 */

/** The keys a hop derives from its shared secret s (mix.md 8.2). */
export interface HopKeys {
  aesKey: Buffer
  iv: Buffer
  macKey: Buffer
  /** delta_key = KDF("payload_enc_key", s), the LIONESS seed (mix-lioness.md 6.2.1). */
  payloadKey: Buffer
}

export function hopKeys (s: Uint8Array): HopKeys {
  return {
    aesKey: kdf(LABEL_AES_KEY, s).subarray(0, AES_KEY_LENGTH),
    iv: kdf(LABEL_IV, s).subarray(0, AES_IV_LENGTH),
    macKey: kdf(LABEL_MAC_KEY, s).subarray(0, MAC_KEY_LENGTH),
    payloadKey: kdf(LABEL_PAYLOAD_KEY, s)
  }
}

/** One hop of a path to build: its public key and the 94-byte address other hops use to reach it. */
export interface PathHop extends PathKey {
  address: Uint8Array
}

/** What the exit's routing block carries: a destination (all zeros: deliver at the exit) or a SURB identifier. */
export type ExitInstruction = { destination: Uint8Array } | { surbId: Uint8Array }

export interface HeaderInput {
  /** The path, first hop first (1 to r hops; the protocol uses at least 3). */
  hops: readonly PathHop[]
  /** The mean delay in ms each intermediate hop applies: hops.length - 1 values in 1..65535. */
  delays: readonly number[]
  exit: ExitInstruction
  /** x, the ephemeral secret: 32 random bytes. */
  ephemeral: Uint8Array
}

export interface BuiltHeader {
  /** alpha || beta || gamma, 624 bytes. */
  header: Uint8Array
  /** s_0 ... s_{L-1}, for payload encryption and SURB reply recovery. */
  secrets: Uint8Array[]
  keys: HopKeys[]
}

function writeDelay (out: Uint8Array, offset: number, ms: number): void {
  out[offset] = ms >> 8
  out[offset + 1] = ms & 0xff
}

/** mix.md 8.5.2 steps 3.a to 3.c. */
export function buildHeader (input: HeaderInput): BuiltHeader {
  const { hops, delays, exit, ephemeral } = input
  const L = hops.length
  if (L < 1 || L > MAX_HOPS) throw new SphinxPathError(`a path has 1 to ${MAX_HOPS} hops, got ${L}`)
  if (delays.length !== L - 1) throw new SphinxPathError(`expected ${L - 1} delays, got ${delays.length}`)
  for (const d of delays) {
    if (!Number.isInteger(d) || d < 1 || d > MAX_DELAY_MS) throw new SphinxPathError(`an intermediate hop's mean delay is 1..${MAX_DELAY_MS} ms (0 marks the exit), got ${d}`)
  }
  for (const h of hops) if (h.address.length !== ADDRESS_LENGTH) throw new SphinxLengthError('hop address', ADDRESS_LENGTH, h.address.length)
  if (ephemeral.length !== 32) throw new SphinxLengthError('ephemeral scalar', 32, ephemeral.length)

  const { alpha, secrets } = computePathSecrets(hops, ephemeral)
  const keys = secrets.map(hopKeys)

  // Step 3.b: the filler strings. Phi_i = AES-CTR'_{i-1}(Phi_{i-1} | 0_{(t+1)kappa}) with the keystream of hop i-1
  // starting at ((t+1)(r-i)+t+2)kappa, the place where that hop's decryption meets these bytes.
  let filler: Uint8Array = new Uint8Array(0)
  for (let i = 1; i < L; i++) {
    const k = keys[i - 1] as HopKeys
    const padded = new Uint8Array(filler.length + ROUTING_BLOCK_LENGTH)
    padded.set(filler, 0)
    filler = aesCtr(k.aesKey, k.iv, padded, ((T + 1) * (MAX_HOPS - i) + T + 2) * KAPPA)
  }

  // Step 3.c: beta and gamma from the exit back to the first hop.
  let beta: Uint8Array = new Uint8Array(0)
  let gamma: Uint8Array = new Uint8Array(0)
  for (let i = L - 1; i >= 0; i--) {
    const k = keys[i] as HopKeys
    if (i === L - 1) {
      const plain = new Uint8Array(BETA_LENGTH - filler.length)
      if ('destination' in exit) {
        if (exit.destination.length !== ADDRESS_LENGTH) throw new SphinxLengthError('destination address', ADDRESS_LENGTH, exit.destination.length)
        plain.set(exit.destination, 0)
      } else {
        if (exit.surbId.length !== SURB_ID_LENGTH) throw new SphinxLengthError('SURB identifier', SURB_ID_LENGTH, exit.surbId.length)
        if (exit.surbId.every(b => b === 0)) throw new SphinxPathError('a SURB identifier must not be all zeros')
        plain.set(exit.surbId, ADDRESS_LENGTH + DELAY_LENGTH)
      }
      // The delay field stays zero: that marks the exit (mix.md 8.6.2).
      const enc = aesCtr(k.aesKey, k.iv, plain)
      beta = concat(enc, filler)
    } else {
      const plain = new Uint8Array(BETA_LENGTH)
      plain.set((hops[i + 1] as PathHop).address, 0)
      writeDelay(plain, ADDRESS_LENGTH, delays[i] as number)
      plain.set(gamma, ADDRESS_LENGTH + DELAY_LENGTH)
      plain.set(beta.subarray(0, BETA_LENGTH - ROUTING_BLOCK_LENGTH), ROUTING_BLOCK_LENGTH)
      beta = aesCtr(k.aesKey, k.iv, plain)
    }
    gamma = mac(k.macKey, beta)
  }
  const header = new Uint8Array(HEADER_LENGTH)
  header.set(alpha, 0)
  header.set(beta, ALPHA_LENGTH)
  header.set(gamma, ALPHA_LENGTH + BETA_LENGTH)
  return { header, secrets, keys }
}

/** mix.md 8.5.2 step 3.d: delta = LIONESS layers over 0_kappa | m, innermost for the exit. */
export function encryptPayload (keys: readonly HopKeys[], message: Uint8Array): Buffer {
  if (message.length !== MESSAGE_LENGTH) throw new SphinxLengthError('padded message', MESSAGE_LENGTH, message.length)
  let delta: Buffer = Buffer.alloc(PAYLOAD_LENGTH)
  delta.set(message, INTEGRITY_PREFIX_LENGTH)
  for (let i = keys.length - 1; i >= 0; i--) delta = lionessEncrypt((keys[i] as HopKeys).payloadKey, delta)
  return delta
}

export interface BuildPacketInput extends HeaderInput {
  /** m, the padded message: exactly 3968 bytes (see payload.ts). */
  message: Uint8Array
}

/** A whole forward packet: header and payload (mix.md 8.5.2 step 3.e). */
export function buildPacket (input: BuildPacketInput): { packet: Uint8Array, secrets: Uint8Array[] } {
  const { header, secrets, keys } = buildHeader(input)
  const delta = encryptPayload(keys, input.message)
  return { packet: concat(header, delta), secrets }
}

// -------------------------------------------------------------------------------------------------------------
// Processing at a hop (mix.md 8.6)
// -------------------------------------------------------------------------------------------------------------

/**
 * The replay table of one mix key (mix.md 8.6.1 step 2). Decision: the tag is H(s), as the spec says, not the nim
 * code's H(alpha || s), which a replay with alpha's ignored top bit flipped would get past. It is looked up before
 * the MAC check (a replay costs no more work) but stored only after the MAC verified, so a forged packet cannot
 * plant the tag of a genuine one still in flight.
 */
export interface ReplayGuard {
  has: (tag: Uint8Array) => boolean
  add: (tag: Uint8Array) => void
}

/** A mix key able to process packets: the imported private key and its replay table. */
export interface ProcessingKey {
  privateKey: KeyObject
  replay: ReplayGuard
}

export type ProcessResult =
  /** An intermediary hop: send `packet` to `nextHop` after a delay with mean `delayMs`. */
  | { type: 'forward', nextHop: Uint8Array, delayMs: number, packet: Uint8Array, tag: Uint8Array, keyIndex: number }
  /** The exit of a forward packet: `message` is m (3968 bytes); `destination` all zeros means "deliver here". */
  | { type: 'exit', destination: Uint8Array, message: Uint8Array, tag: Uint8Array, keyIndex: number }
  /** The last hop of a SURB's return path: hand `payload` (delta') to the SURB's creator, which is this node. */
  | { type: 'reply', surbId: Uint8Array, payload: Uint8Array, tag: Uint8Array, keyIndex: number }

/** beta || 0_{(t+1)kappa}; processPacket is synchronous, so one buffer serves every call (its tail stays zero). */
const betaScratch = new Uint8Array(BETA_LENGTH + ROUTING_BLOCK_LENGTH)

function isZero (bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) return false
  return true
}

/**
 * Processes one packet with this node's key(s): the current key first, then any older key still in its grace
 * period (key rotation). Throws a SphinxError subclass on every rejection.
 */
export function processPacket (packet: Uint8Array, keys: readonly ProcessingKey[]): ProcessResult {
  if (packet.length !== PACKET_LENGTH) throw new SphinxLengthError('Sphinx packet', PACKET_LENGTH, packet.length)
  const alpha = packet.subarray(0, ALPHA_LENGTH)
  const beta = packet.subarray(ALPHA_LENGTH, ALPHA_LENGTH + BETA_LENGTH)
  const gamma = packet.subarray(ALPHA_LENGTH + BETA_LENGTH, HEADER_LENGTH)
  const delta = packet.subarray(HEADER_LENGTH)
  assertPoint(alpha)
  const alphaKey = importPoint(alpha)

  // Steps 1 to 3: shared secret, replay tag, header MAC, for each key in turn.
  let s: Uint8Array | undefined
  let k: HopKeys | undefined
  let tag: Uint8Array | undefined
  let keyIndex = -1
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as ProcessingKey
    const secret = x25519(key.privateKey, alphaKey)
    const t = sha256(secret)
    if (key.replay.has(t)) throw new SphinxReplayError()
    const macKey = kdf(LABEL_MAC_KEY, secret).subarray(0, MAC_KEY_LENGTH)
    if (!timingSafeEqual(mac(macKey, beta), gamma)) continue
    key.replay.add(t)
    s = secret
    tag = t
    keyIndex = i
    k = { macKey, aesKey: kdf(LABEL_AES_KEY, secret).subarray(0, AES_KEY_LENGTH), iv: kdf(LABEL_IV, secret).subarray(0, AES_IV_LENGTH), payloadKey: kdf(LABEL_PAYLOAD_KEY, secret) }
    break
  }
  if (s === undefined || k === undefined || tag === undefined) throw new SphinxMacError()

  // Step 4: B = AES-CTR(beta | 0_{(t+1)kappa}).
  betaScratch.set(beta, 0)
  const B = aesCtr(k.aesKey, k.iv, betaScratch)
  // Step 5: one LIONESS layer off the payload.
  const deltaPrime = lionessDecrypt(k.payloadKey, delta)

  const delayMs = ((B[ADDRESS_LENGTH] as number) << 8) | (B[ADDRESS_LENGTH + 1] as number)
  const address = B.subarray(0, ADDRESS_LENGTH)
  if (delayMs === 0) {
    // Exit (mix.md 8.6.4): a zero address with a non-zero identifier is a SURB reply.
    const id = B.subarray(ADDRESS_LENGTH + DELAY_LENGTH, ROUTING_BLOCK_LENGTH)
    if (isZero(address) && !isZero(id)) {
      return { type: 'reply', surbId: Uint8Array.from(id), payload: deltaPrime, tag, keyIndex }
    }
    if (!isZero(deltaPrime.subarray(0, INTEGRITY_PREFIX_LENGTH))) throw new SphinxPayloadIntegrityError()
    return { type: 'exit', destination: Uint8Array.from(address), message: deltaPrime.subarray(INTEGRITY_PREFIX_LENGTH), tag, keyIndex }
  }

  // Intermediary (mix.md 8.6.3): alpha' = alpha^b with b = H(alpha | s).
  const b = sha256(alpha, s)
  const alphaPrime = x25519(importScalar(b), alphaKey)
  const out = new Uint8Array(PACKET_LENGTH)
  out.set(alphaPrime, 0)
  out.set(B.subarray(ROUTING_BLOCK_LENGTH, ROUTING_BLOCK_LENGTH + BETA_LENGTH), ALPHA_LENGTH)
  out.set(B.subarray(ADDRESS_LENGTH + DELAY_LENGTH, ROUTING_BLOCK_LENGTH), ALPHA_LENGTH + BETA_LENGTH)
  out.set(deltaPrime, HEADER_LENGTH)
  return { type: 'forward', nextHop: Uint8Array.from(address), delayMs, packet: out, tag, keyIndex }
}

/** The LIONESS round keys of each hop's payload key, for reply recovery. */
export function payloadRoundKeys (secrets: readonly Uint8Array[]): LionessKeys[] {
  return secrets.map(s => lionessKeys(kdf(LABEL_PAYLOAD_KEY, s)))
}

function concat (a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length)
  out.set(a, 0)
  out.set(b, a.length)
  return out
}
