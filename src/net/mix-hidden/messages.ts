import { SURB_LENGTH } from '../../crypto/sphinx/index.ts'
import { ED25519_KEY_LENGTH, ED25519_SIGNATURE_LENGTH, sign, verifySignature } from './blinding.ts'
import type { SigningKey } from './blinding.ts'
import { Reader, Writer, concat, equalBytes, label } from './bytes.ts'
import { RENDEZVOUS_INNER_LENGTH } from './constants.ts'
import { MAC_LENGTH, X25519_KEY_LENGTH, kdf, mac16, streamCipher } from './dh.ts'
import { HiddenIntroAuthError, HiddenIntroMacError, HiddenMalformedError } from './errors.ts'

/**
 * The messages of the hidden-service protocol (hs 7, 8, 9, 10.1). Each begins with a type byte (hs names the
 * messages but gives no encoding; decision: one byte, the values below). Messages to an exit travel as the data of a
 * `/mix/hiddenservices/1.0.0` forward message, one packet each; answers come back through SURBs as m (3968 bytes),
 * the message followed by zero padding. What a rendezvous node relays is the exception: the SURB carries the
 * Rendezvous inner payload as it is (hs 10.1), so it has no type byte.
 */
export const MSG = {
  /** service -> intro point (hs 7.1) */
  establishIntro: 0x01,
  /** intro point -> service, through an intro-SURB (hs 7.2) */
  introEstablished: 0x02,
  /** service -> intro point: more intro-SURBs (hs 7.1 "may request more SURBs"; our encoding) */
  introSurbs: 0x03,
  /** client -> intro point (hs 9.1) */
  introduce1: 0x04,
  /** intro point -> service, through an intro-SURB (hs 9.1) */
  introduce2: 0x05,
  /** intro point -> client, through the client's ack SURB (hs 9.1) */
  introduceAck: 0x06,
  /** SURB user -> rendezvous node (hs 10.1) */
  rendezvous: 0x07,
  /** service -> directory node (hs 8.6, "publish_descriptor()" of hs 4.3) */
  publishDescriptor: 0x08,
  /** directory node -> service */
  publishAck: 0x09,
  /** client -> directory node */
  fetchDescriptor: 0x0a,
  /** directory node -> client */
  descriptorResult: 0x0b
} as const

/** IntroStatus (hs 7.2): only Ok is ever sent; a failure is a silent drop. */
export const INTRO_STATUS_OK = 0
/** Publish results (our encoding): stored, or refused as not newer than the stored one, or invalid. */
export const PUBLISH_STATUS = { stored: 0, stale: 1, invalid: 2 } as const
/** Fetch results. */
export const FETCH_STATUS = { found: 0, notFound: 1 } as const

export function messageType (data: Uint8Array): number {
  if (data.length === 0) throw new HiddenMalformedError('empty message')
  return data[0] as number
}

// ---------------------------------------------------------------------------------------------------------------
// EstablishIntro (hs 7.1) and the intro-SURB refill
// ---------------------------------------------------------------------------------------------------------------

/**
 * EstablishIntro { auth_key, surb_max, auth_mac, sig } (hs 7.1):
 *   0x01 | auth_key (32) | surb_max (u16) | auth_mac (16) | sig (64)
 *   auth_mac = HMAC-SHA256(s, auth_key || surb_max)[:16], keyed with s, the exit's Sphinx secret with the sender
 *   sig = Sig.Sign(auth_key, "establish intro signature" || auth_key || surb_max || auth_mac)
 * The intro-SURBs travel in the packet's SURB field.
 *
 * IntroSurbs, our refill (hs 7.1 lets the intro point keep its supply near surb_max "through the transport layer";
 * we have the service push it):
 *   0x03 | auth_key (32) | replace (u8: 1 drops the SURBs held before) | auth_mac (16) | sig (64)
 *   auth_mac = HMAC-SHA256(s, auth_key || replace)[:16], sig over "intro surbs signature" || auth_key || replace || auth_mac
 */
export interface EstablishIntro {
  authKey: Uint8Array
  surbMax: number
  authMac: Uint8Array
  sig: Uint8Array
}

export interface IntroSurbs {
  authKey: Uint8Array
  replace: boolean
  authMac: Uint8Array
  sig: Uint8Array
}

const ESTABLISH_DOMAIN = label('establish intro signature')
const REFILL_DOMAIN = label('intro surbs signature')

export function encodeEstablishIntro (authKey: SigningKey, surbMax: number, exitSecret: Uint8Array): Uint8Array {
  const head = new Writer().bytes(authKey.publicKey).u16(surbMax).finish()
  const authMac = mac16(exitSecret, head)
  const sig = sign(authKey, concat([ESTABLISH_DOMAIN, head, authMac]))
  return new Writer().u8(MSG.establishIntro).bytes(head).bytes(authMac).bytes(sig).finish()
}

export function decodeEstablishIntro (data: Uint8Array): EstablishIntro {
  const r = new Reader(data)
  if (r.u8() !== MSG.establishIntro) throw new HiddenMalformedError('not an EstablishIntro')
  const m = { authKey: r.bytes(ED25519_KEY_LENGTH), surbMax: r.u16(), authMac: r.bytes(MAC_LENGTH), sig: r.bytes(ED25519_SIGNATURE_LENGTH) }
  r.end()
  return m
}

/** hs 7.2: the signature under auth_key and the MAC under the exit secret; throws HiddenIntroAuthError. */
export function verifyEstablishIntro (m: EstablishIntro, exitSecret: Uint8Array): void {
  const head = new Writer().bytes(m.authKey).u16(m.surbMax).finish()
  if (!equalBytes(mac16(exitSecret, head), m.authMac)) throw new HiddenIntroAuthError('auth_mac does not verify')
  if (!verifySignature(m.authKey, concat([ESTABLISH_DOMAIN, head, m.authMac]), m.sig)) throw new HiddenIntroAuthError('bad signature')
}

export function encodeIntroSurbs (authKey: SigningKey, replace: boolean, exitSecret: Uint8Array): Uint8Array {
  const head = new Writer().bytes(authKey.publicKey).u8(replace ? 1 : 0).finish()
  const authMac = mac16(exitSecret, head)
  const sig = sign(authKey, concat([REFILL_DOMAIN, head, authMac]))
  return new Writer().u8(MSG.introSurbs).bytes(head).bytes(authMac).bytes(sig).finish()
}

export function decodeIntroSurbs (data: Uint8Array): IntroSurbs {
  const r = new Reader(data)
  if (r.u8() !== MSG.introSurbs) throw new HiddenMalformedError('not an IntroSurbs')
  const authKey = r.bytes(ED25519_KEY_LENGTH)
  const replace = r.u8()
  if (replace > 1) throw new HiddenMalformedError('replace is 0 or 1')
  const m = { authKey, replace: replace === 1, authMac: r.bytes(MAC_LENGTH), sig: r.bytes(ED25519_SIGNATURE_LENGTH) }
  r.end()
  return m
}

export function verifyIntroSurbs (m: IntroSurbs, exitSecret: Uint8Array): void {
  const head = new Writer().bytes(m.authKey).u8(m.replace ? 1 : 0).finish()
  if (!equalBytes(mac16(exitSecret, head), m.authMac)) throw new HiddenIntroAuthError('auth_mac does not verify')
  if (!verifySignature(m.authKey, concat([REFILL_DOMAIN, head, m.authMac]), m.sig)) throw new HiddenIntroAuthError('bad signature')
}

/** A one-byte status answer (IntroEstablished, IntroduceAck, PublishAck). */
export function encodeStatus (type: number, status: number): Uint8Array {
  return Uint8Array.of(type, status)
}

/** The status of a padded SURB answer of the given type. */
export function decodeStatus (type: number, m: Uint8Array): number {
  const r = new Reader(m)
  if (r.u8() !== type) throw new HiddenMalformedError(`expected message type ${type}`)
  const status = r.u8()
  r.endPadded()
  return status
}

// ---------------------------------------------------------------------------------------------------------------
// Introduce1 / Introduce2 (hs 9.1, 9.2)
// ---------------------------------------------------------------------------------------------------------------

/**
 *   type (0x04 or 0x05) | auth_key (32) | client_key (32) | enc_payload (u16 length) | mac (16)
 *   enc_payload = AES-128-CTR(enc_key, enc_iv, Request), mac = HMAC(mac_key, auth_key || client_key || enc_payload)[:16]
 *   Request = client SURB count (u8) | client SURBs (734 each) | app_data
 * with enc_key, enc_iv = H("hs intro request encryption key" / "... iv" || s_intro)[:16] and
 * mac_key = H("hs intro request mac key" || s_intro) (hs 9.2 steps 3-6).
 */
export interface Introduce {
  authKey: Uint8Array
  clientKey: Uint8Array
  encPayload: Uint8Array
  mac: Uint8Array
}

export interface IntroRequest {
  appData: Uint8Array
  clientSurbs: Uint8Array[]
}

function introKeys (sIntro: Uint8Array): { encKey: Uint8Array, encIv: Uint8Array, macKey: Uint8Array } {
  return {
    encKey: kdf('hs intro request encryption key', sIntro).slice(0, 16),
    encIv: kdf('hs intro request encryption iv', sIntro).slice(0, 16),
    macKey: kdf('hs intro request mac key', sIntro)
  }
}

export function sealIntroduce (authKey: Uint8Array, clientKey: Uint8Array, sIntro: Uint8Array, request: IntroRequest): Introduce {
  const w = new Writer().u8(request.clientSurbs.length)
  for (const s of request.clientSurbs) {
    if (s.length !== SURB_LENGTH) throw new HiddenMalformedError(`a SURB is ${SURB_LENGTH} bytes`)
    w.bytes(s)
  }
  const plain = w.bytes(request.appData).finish()
  const k = introKeys(sIntro)
  const encPayload = streamCipher(k.encKey, k.encIv, plain)
  return { authKey, clientKey, encPayload, mac: mac16(k.macKey, concat([authKey, clientKey, encPayload])) }
}

/** hs 9.4 steps 4-6: verify the MAC, then decrypt and parse the Request. */
export function openIntroduce (m: Introduce, sIntro: Uint8Array): IntroRequest {
  const k = introKeys(sIntro)
  if (!equalBytes(mac16(k.macKey, concat([m.authKey, m.clientKey, m.encPayload])), m.mac)) throw new HiddenIntroMacError()
  const r = new Reader(streamCipher(k.encKey, k.encIv, m.encPayload))
  const n = r.u8()
  const clientSurbs = Array.from({ length: n }, () => r.bytes(SURB_LENGTH))
  return { clientSurbs, appData: r.rest() }
}

export function encodeIntroduce (type: typeof MSG.introduce1 | typeof MSG.introduce2, m: Introduce): Uint8Array {
  return new Writer().u8(type).bytes(m.authKey).bytes(m.clientKey).var16(m.encPayload).bytes(m.mac).finish()
}

export function decodeIntroduce (type: typeof MSG.introduce1 | typeof MSG.introduce2, data: Uint8Array, padded = false): Introduce {
  const r = new Reader(data)
  if (r.u8() !== type) throw new HiddenMalformedError(`not an Introduce${type === MSG.introduce1 ? 1 : 2}`)
  const m = { authKey: r.bytes(ED25519_KEY_LENGTH), clientKey: r.bytes(X25519_KEY_LENGTH), encPayload: r.var16(), mac: r.bytes(MAC_LENGTH) }
  if (padded) r.endPadded()
  else r.end()
  return m
}

// ---------------------------------------------------------------------------------------------------------------
// Rendezvous (hs 10.1)
// ---------------------------------------------------------------------------------------------------------------

/** 0x07 | surb (734) | inner_payload (j = 3184) */
export function encodeRendezvous (surb: Uint8Array, innerPayload: Uint8Array): Uint8Array {
  if (surb.length !== SURB_LENGTH) throw new HiddenMalformedError(`a SURB is ${SURB_LENGTH} bytes`)
  if (innerPayload.length !== RENDEZVOUS_INNER_LENGTH) throw new HiddenMalformedError(`the inner payload is ${RENDEZVOUS_INNER_LENGTH} bytes`)
  return new Writer().u8(MSG.rendezvous).bytes(surb).bytes(innerPayload).finish()
}

export function decodeRendezvous (data: Uint8Array): { surb: Uint8Array, innerPayload: Uint8Array } {
  const r = new Reader(data)
  if (r.u8() !== MSG.rendezvous) throw new HiddenMalformedError('not a Rendezvous')
  const m = { surb: r.bytes(SURB_LENGTH), innerPayload: r.bytes(RENDEZVOUS_INNER_LENGTH) }
  r.end()
  return m
}

// ---------------------------------------------------------------------------------------------------------------
// Descriptor publication and lookup (hs 8.6, over the mixnet: hs 4.3 (2))
// ---------------------------------------------------------------------------------------------------------------

/** 0x08 | disc_key (32) | descriptor (u16 length); one SURB for the PublishAck. */
export function encodePublish (discKey: Uint8Array, descriptor: Uint8Array): Uint8Array {
  return new Writer().u8(MSG.publishDescriptor).bytes(discKey).var16(descriptor).finish()
}

export function decodePublish (data: Uint8Array): { discKey: Uint8Array, descriptor: Uint8Array } {
  const r = new Reader(data)
  if (r.u8() !== MSG.publishDescriptor) throw new HiddenMalformedError('not a PublishDescriptor')
  const m = { discKey: r.bytes(32), descriptor: r.var16() }
  r.end()
  return m
}

/** 0x0a | disc_key (32); one SURB for the DescriptorResult. */
export function encodeFetch (discKey: Uint8Array): Uint8Array {
  return new Writer().u8(MSG.fetchDescriptor).bytes(discKey).finish()
}

export function decodeFetch (data: Uint8Array): Uint8Array {
  const r = new Reader(data)
  if (r.u8() !== MSG.fetchDescriptor) throw new HiddenMalformedError('not a FetchDescriptor')
  const discKey = r.bytes(32)
  r.end()
  return discKey
}

/** 0x0b | status (u8) | descriptor (u16 length, empty unless found). */
export function encodeDescriptorResult (descriptor: Uint8Array | undefined): Uint8Array {
  return new Writer().u8(MSG.descriptorResult).u8(descriptor === undefined ? FETCH_STATUS.notFound : FETCH_STATUS.found).var16(descriptor ?? new Uint8Array(0)).finish()
}

export function decodeDescriptorResult (m: Uint8Array): Uint8Array | undefined {
  const r = new Reader(m)
  if (r.u8() !== MSG.descriptorResult) throw new HiddenMalformedError('not a DescriptorResult')
  const status = r.u8()
  const descriptor = r.var16()
  r.endPadded()
  return status === FETCH_STATUS.found ? descriptor : undefined
}
