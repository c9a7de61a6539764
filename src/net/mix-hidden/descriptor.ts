import { randomBytes } from 'node:crypto'
import { publicKeyFromProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromMultihash, peerIdFromPublicKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { ED25519_KEY_LENGTH, ED25519_SIGNATURE_LENGTH, blindPublicKey, sha256, sign, verifySignature } from './blinding.ts'
import type { SigningKey } from './blinding.ts'
import { Reader, Writer, concat, equalBytes, label, u64 } from './bytes.ts'
import {
  CLIENT_AUTH_PAD, DESCRIPTOR_SALT_LENGTH, EPOCH_LENGTH_MS, INNER_PAD_BLOCK, MAX_AUTHORIZED_CLIENTS, MAX_DESCRIPTOR_BYTES,
  MAX_VALIDITY_S, MIN_VALIDITY_S
} from './constants.ts'
import { MAC_LENGTH, X25519_KEY_LENGTH, checkDhPublicKey, dh, generateDhKey, kdf, mac16, streamCipher } from './dh.ts'
import { HiddenDescriptorInvalidError, HiddenKeyError, HiddenMalformedError, HiddenUnauthorizedError } from './errors.ts'

/**
 * Hidden-service descriptors (hs 8). A descriptor is the outer layer, which directory nodes check, around an
 * encrypted inner layer only holders of the address (or, in restricted mode, authorised clients) can read.
 *
 * Outer layer (hs 8.5), signed by the epoch's blinded key bk_i (hs 8.4: "we can simply sign the descriptor with the
 * blinded key"):
 *
 *   validity (u32, seconds) | revision_counter (u64) | inner_layer | signing_key (32, = bk_i) | sig (64)
 *   inner_layer = salt (16) | blob length (u16) | blob | mac (16)                       EncryptedBlob
 *   sig = Sig.Sign(bk_i, "mix-hs-desc-outer" || validity || revision_counter || inner_layer)
 *
 * Inner layer keys (hs 8.5; each SHA-256 output truncated to 128 bits, as hs says of this KDF):
 *
 *   secret_input = "inner layer" || salt || hs_id || bk_i || revision_counter
 *   enc_key = H("blob encryption key" || secret_input), enc_iv = H("blob iv" || ...), mac_key = H("blob mac key" || ...)
 *   blob = AES-128-CTR(enc_key, enc_iv, plaintext), mac = HMAC(mac_key, salt || blob)[:16]
 *
 * Inner plaintext, zero-padded to a multiple of 256 bytes:
 *
 *   mode 0 (open):       0x00 | count (u8) | IntroPoint x count
 *   mode 1 (restricted): 0x01 | ephemeral key (32) | entries (u8) | (client_id (8) | encrypted cookie (32)) x entries
 *                        | restricted blob: an EncryptedBlob as above whose plaintext is the open form, with
 *                          secret_input = "restricted inner layer" || salt || hs_id || bk_i || revision_counter || cookie
 *   IntroPoint (hs 8.5)  peer id (u8 length, multihash) | multiaddr (u16 length, binary) | mix_pk (32) | auth_key (32)
 *                        | service_key (32)
 *
 * Client authorisation (hs 8.6 "Restricted discovery mode" is a TODO; decision, after Tor's rend-spec-v3 client
 * authorisation): a random 32-byte descriptor cookie keys the restricted blob; for each authorised client X25519
 * key C the service computes S = X25519(e, C) with a fresh ephemeral e and writes client_id = H("client auth id" ||
 * S || E)[:8] and the cookie under AES-128-CTR with H("client auth cookie key" || S || E)[:16] and
 * H("client auth cookie iv" || S || E)[:16] (E = e's public key). Random entries pad the list to a multiple of 8.
 */

/** One introduction point as the descriptor lists it (hs 8.5 IntroPoint with MixPubInfo). */
export interface IntroPointEntry {
  peerId: PeerId
  multiaddr: Multiaddr
  /** The intro point's X25519 mix key when the descriptor was made (clients prefer a fresher one from discovery). */
  mixPublicKey: Uint8Array
  /** The Ed25519 auth_key the service registered there. */
  authKey: Uint8Array
  /** The X25519 service_key clients encrypt their introductions to. */
  serviceKey: Uint8Array
}

export interface EncryptedBlob {
  salt: Uint8Array
  blob: Uint8Array
  mac: Uint8Array
}

export interface OuterLayer {
  /** Seconds the descriptor stays valid after a directory stores it. */
  validity: number
  revisionCounter: bigint
  innerLayer: EncryptedBlob
  /** bk_i. */
  signingKey: Uint8Array
  signature: Uint8Array
}

export interface BuildDescriptorInput {
  hsId: Uint8Array
  /** The epoch's blinded signing key (blindSigningKey). */
  blindedKey: SigningKey
  revisionCounter: bigint
  validity: number
  introPoints: IntroPointEntry[]
  /** X25519 public keys of the clients allowed to read the inner layer; none or empty: open mode. */
  authorizedClients?: Uint8Array[]
}

// ---------------------------------------------------------------------------------------------------------------
// Epochs and keys (hs 8.3, 8.4)
// ---------------------------------------------------------------------------------------------------------------

/** interval_num = floor(t / L) (hs 8.3). */
export function epochOf (nowMs: number, lengthMs = EPOCH_LENGTH_MS): bigint {
  return BigInt(Math.floor(nowMs / lengthMs))
}

/**
 * get_public_entropy(epoch) (hs 8.4 names a randomness beacon or a block hash). Decision: the network has no agreed
 * source of public randomness yet, so the default is H("mix-hs-public-entropy" || epoch), which every node can
 * compute; a deployment with a beacon passes its own function (HiddenServicesInit.publicEntropy).
 */
export function defaultPublicEntropy (epoch: bigint): Uint8Array {
  return sha256(label('mix-hs-public-entropy'), u64(epoch))
}

/** disc_key = H("discovery key" || bk_i || e_i) (hs 8.4). */
export function discoveryKey (blindedKey: Uint8Array, entropy: Uint8Array): Uint8Array {
  return sha256(label('discovery key'), blindedKey, entropy)
}

// ---------------------------------------------------------------------------------------------------------------
// Outer layer
// ---------------------------------------------------------------------------------------------------------------

function encodeBlob (b: EncryptedBlob): Uint8Array {
  return new Writer().bytes(b.salt).var16(b.blob).bytes(b.mac).finish()
}

function readBlob (r: Reader): EncryptedBlob {
  return { salt: r.bytes(DESCRIPTOR_SALT_LENGTH), blob: r.var16(), mac: r.bytes(MAC_LENGTH) }
}

function signedPart (validity: number, revisionCounter: bigint, inner: EncryptedBlob): Uint8Array {
  return new Writer().bytes(label('mix-hs-desc-outer')).u32(validity).u64(revisionCounter).bytes(encodeBlob(inner)).finish()
}

export function encodeOuter (outer: OuterLayer): Uint8Array {
  return new Writer().u32(outer.validity).u64(outer.revisionCounter).bytes(encodeBlob(outer.innerLayer))
    .bytes(outer.signingKey).bytes(outer.signature).finish()
}

export function decodeOuter (bytes: Uint8Array): OuterLayer {
  if (bytes.length > MAX_DESCRIPTOR_BYTES) throw new HiddenMalformedError(`descriptor of ${bytes.length} bytes exceeds ${MAX_DESCRIPTOR_BYTES}`)
  const r = new Reader(bytes)
  const outer: OuterLayer = {
    validity: r.u32(),
    revisionCounter: r.u64(),
    innerLayer: readBlob(r),
    signingKey: r.bytes(ED25519_KEY_LENGTH),
    signature: r.bytes(ED25519_SIGNATURE_LENGTH)
  }
  r.end()
  return outer
}

export interface OuterCheck {
  /** The discovery key the descriptor was published or fetched under. */
  discKey: Uint8Array
  /** The epochs whose discovery keys are accepted, with their public entropy. */
  epochs: Array<{ epoch: bigint, entropy: Uint8Array }>
}

/**
 * The checks of hs 8.6 "Discovery Node Processing" that need no stored state: well-formed, validity within 30 to
 * 720 minutes, disc_key derived from the signing key (for one of the given epochs), signature valid. The revision
 * counter is the store's business. Returns the parsed outer layer and the epoch that matched.
 */
export function verifyOuter (bytes: Uint8Array, check: OuterCheck): { outer: OuterLayer, epoch: bigint } {
  const outer = decodeOuter(bytes)
  if (outer.validity < MIN_VALIDITY_S || outer.validity > MAX_VALIDITY_S) {
    throw new HiddenDescriptorInvalidError(`validity of ${outer.validity} s is outside ${MIN_VALIDITY_S}..${MAX_VALIDITY_S} s`)
  }
  const match = check.epochs.find(e => equalBytes(discoveryKey(outer.signingKey, e.entropy), check.discKey))
  if (match === undefined) throw new HiddenDescriptorInvalidError('the discovery key is not derived from the signing key')
  if (!verifySignature(outer.signingKey, signedPart(outer.validity, outer.revisionCounter, outer.innerLayer), outer.signature)) {
    throw new HiddenDescriptorInvalidError('bad outer signature')
  }
  return { outer, epoch: match.epoch }
}

// ---------------------------------------------------------------------------------------------------------------
// Inner layer
// ---------------------------------------------------------------------------------------------------------------

function blobKeys (secretInput: Uint8Array): { encKey: Uint8Array, encIv: Uint8Array, macKey: Uint8Array } {
  return {
    encKey: kdf('blob encryption key', secretInput).slice(0, 16),
    encIv: kdf('blob iv', secretInput).slice(0, 16),
    macKey: kdf('blob mac key', secretInput).slice(0, 16)
  }
}

function secretInput (name: string, salt: Uint8Array, hsId: Uint8Array, bk: Uint8Array, revision: bigint, extra?: Uint8Array): Uint8Array {
  return concat([label(name), salt, hsId, bk, u64(revision), ...(extra === undefined ? [] : [extra])])
}

function seal (plaintext: Uint8Array, input: (salt: Uint8Array) => Uint8Array): EncryptedBlob {
  const salt = randomBytes(DESCRIPTOR_SALT_LENGTH)
  const k = blobKeys(input(salt))
  const blob = streamCipher(k.encKey, k.encIv, plaintext)
  return { salt, blob, mac: mac16(k.macKey, concat([salt, blob])) }
}

function open (b: EncryptedBlob, input: (salt: Uint8Array) => Uint8Array): Uint8Array | undefined {
  const k = blobKeys(input(b.salt))
  if (!equalBytes(mac16(k.macKey, concat([b.salt, b.blob])), b.mac)) return undefined
  return streamCipher(k.encKey, k.encIv, b.blob)
}

function peerIdBytes (peerId: PeerId): Uint8Array {
  return peerId.toMultihash().bytes
}

function peerIdFromBytes (b: Uint8Array): PeerId {
  try {
    if (b[0] === 0x00 && b[1] === b.length - 2) return peerIdFromPublicKey(publicKeyFromProtobuf(b.subarray(2)))
    if (b[0] === 0x12 && b[1] === 0x20 && b.length === 34) return peerIdFromMultihash({ code: 0x12, size: 32, digest: new Uint8Array(b.slice(2)), bytes: new Uint8Array(b) })
  } catch (err) {
    throw new HiddenMalformedError('bad peer id', { cause: err })
  }
  throw new HiddenMalformedError('unsupported peer id multihash')
}

function encodeIntroPoints (points: IntroPointEntry[]): Uint8Array {
  const w = new Writer().u8(0).u8(points.length)
  for (const p of points) {
    w.var8(peerIdBytes(p.peerId)).var16(p.multiaddr.bytes).bytes(p.mixPublicKey).bytes(p.authKey).bytes(p.serviceKey)
  }
  return w.finish()
}

function readIntroPoints (r: Reader): IntroPointEntry[] {
  const n = r.u8()
  const out: IntroPointEntry[] = []
  for (let i = 0; i < n; i++) {
    const peerId = peerIdFromBytes(r.var8())
    let addr: Multiaddr
    try {
      addr = multiaddr(r.var16())
    } catch (err) {
      throw new HiddenMalformedError('bad multiaddr', { cause: err })
    }
    out.push({ peerId, multiaddr: addr, mixPublicKey: r.bytes(X25519_KEY_LENGTH), authKey: r.bytes(ED25519_KEY_LENGTH), serviceKey: r.bytes(X25519_KEY_LENGTH) })
  }
  return out
}

function pad (b: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(Math.max(1, b.length) / INNER_PAD_BLOCK) * INNER_PAD_BLOCK)
  out.set(b, 0)
  return out
}

interface ClientAuthKeys { id: Uint8Array, key: Uint8Array, iv: Uint8Array }

function clientAuthKeys (shared: Uint8Array, ephemeral: Uint8Array): ClientAuthKeys {
  return {
    id: kdf('client auth id', shared, ephemeral).slice(0, 8),
    key: kdf('client auth cookie key', shared, ephemeral).slice(0, 16),
    iv: kdf('client auth cookie iv', shared, ephemeral).slice(0, 16)
  }
}

/** Builds and signs a descriptor (hs 8.6 "Creating descriptors", steps 3-5). */
export function buildDescriptor (input: BuildDescriptorInput): Uint8Array {
  const { hsId, blindedKey, revisionCounter, validity } = input
  const bk = blindedKey.publicKey
  const openForm = encodeIntroPoints(input.introPoints)
  const clients = input.authorizedClients ?? []
  let plaintext: Uint8Array
  if (clients.length === 0) {
    plaintext = openForm
  } else {
    if (clients.length > MAX_AUTHORIZED_CLIENTS) throw new HiddenMalformedError(`at most ${MAX_AUTHORIZED_CLIENTS} authorised clients fit a descriptor`)
    const cookie = randomBytes(32)
    const eph = generateDhKey()
    const w = new Writer().u8(1).bytes(eph.publicKey)
    const entries: Uint8Array[] = clients.map(c => {
      const k = clientAuthKeys(dh(eph.privateKey, c), eph.publicKey)
      return concat([k.id, streamCipher(k.key, k.iv, cookie)])
    })
    while (entries.length % CLIENT_AUTH_PAD !== 0) entries.push(randomBytes(40))
    // Shuffle, so the position of an entry says nothing.
    for (let i = entries.length - 1; i > 0; i--) {
      const j = randomBytes(4).readUInt32BE(0) % (i + 1)
      const t = entries[i] as Uint8Array
      entries[i] = entries[j] as Uint8Array
      entries[j] = t
    }
    w.u8(entries.length)
    for (const e of entries) w.bytes(e)
    w.bytes(encodeBlob(seal(openForm, salt => secretInput('restricted inner layer', salt, hsId, bk, revisionCounter, cookie))))
    plaintext = w.finish()
  }
  const innerLayer = seal(pad(plaintext), salt => secretInput('inner layer', salt, hsId, bk, revisionCounter))
  const signature = sign(blindedKey, signedPart(validity, revisionCounter, innerLayer))
  const bytes = encodeOuter({ validity, revisionCounter, innerLayer, signingKey: bk, signature })
  if (bytes.length > MAX_DESCRIPTOR_BYTES) throw new HiddenMalformedError(`descriptor of ${bytes.length} bytes exceeds ${MAX_DESCRIPTOR_BYTES}`)
  return bytes
}

export interface OpenedDescriptor {
  outer: OuterLayer
  epoch: bigint
  introPoints: IntroPointEntry[]
  restricted: boolean
}

export interface OpenDescriptorInput {
  hsId: Uint8Array
  /** The epoch the client fetched the descriptor for (its bk_i must be the signing key). */
  epoch: bigint
  entropy: Uint8Array
  /** This client's X25519 authorisation key, for restricted descriptors. */
  clientAuthKey?: Uint8Array
  /** bk_i if already derived. */
  blindedKey?: Uint8Array
}

/**
 * A client's processing (hs 8.6 "Client Processing"): the outer checks, signing_key == bk_i, the inner MAC, the
 * decryption, and (restricted mode) the client's cookie. Throws HiddenDescriptorInvalidError for anything forged or
 * tampered with, HiddenUnauthorizedError when the client is not on the list.
 */
export function openDescriptor (bytes: Uint8Array, input: OpenDescriptorInput): OpenedDescriptor {
  const bk = input.blindedKey ?? blindPublicKey(input.hsId, input.epoch)
  const discKey = discoveryKey(bk, input.entropy)
  const { outer } = verifyOuter(bytes, { discKey, epochs: [{ epoch: input.epoch, entropy: input.entropy }] })
  if (!equalBytes(outer.signingKey, bk)) throw new HiddenDescriptorInvalidError('not signed by this service\'s blinded key')
  const plain = open(outer.innerLayer, salt => secretInput('inner layer', salt, input.hsId, bk, outer.revisionCounter))
  if (plain === undefined) throw new HiddenDescriptorInvalidError('inner layer MAC does not verify')
  const r = new Reader(plain)
  const mode = r.u8()
  if (mode === 0) {
    const introPoints = readIntroPoints(r)
    r.endPadded()
    return { outer, epoch: input.epoch, introPoints, restricted: false }
  }
  if (mode !== 1) throw new HiddenMalformedError(`unknown inner layer mode ${mode}`)
  const ephemeral = r.bytes(X25519_KEY_LENGTH)
  const n = r.u8()
  const entries = Array.from({ length: n }, () => ({ id: r.bytes(8), cookie: r.bytes(32) }))
  const restricted = readBlob(r)
  r.endPadded()
  if (input.clientAuthKey === undefined) throw new HiddenUnauthorizedError()
  let k: ClientAuthKeys
  try {
    checkDhPublicKey(ephemeral)
    k = clientAuthKeys(dh(input.clientAuthKey, ephemeral), ephemeral)
  } catch (err) {
    if (err instanceof HiddenKeyError) throw new HiddenDescriptorInvalidError('bad client authorisation key', { cause: err })
    throw err
  }
  for (const e of entries) {
    if (!equalBytes(e.id, k.id)) continue
    const cookie = streamCipher(k.key, k.iv, e.cookie)
    const inner = open(restricted, salt => secretInput('restricted inner layer', salt, input.hsId, bk, outer.revisionCounter, cookie))
    if (inner === undefined) continue
    const ir = new Reader(inner)
    if (ir.u8() !== 0) throw new HiddenMalformedError('restricted blob is not an open-form list')
    const introPoints = readIntroPoints(ir)
    ir.end()
    return { outer, epoch: input.epoch, introPoints, restricted: true }
  }
  throw new HiddenUnauthorizedError()
}
