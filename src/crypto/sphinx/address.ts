import { publicKeyFromProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromMultihash, peerIdFromPublicKey, peerIdFromString } from '@libp2p/peer-id'
import { CODE_IP4, CODE_P2P, CODE_P2P_CIRCUIT, CODE_QUIC_V1, CODE_TCP, CODE_UDP, multiaddr } from '@multiformats/multiaddr'
import type { PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { ADDRESS_LENGTH } from './constants.ts'
import { SphinxAddressError } from './errors.ts'

/**
 * The 94-byte hop address of mix.md 8.4, in the recommended layout (the nim code's):
 *
 *   ipv4 (4) | transport (1: 0 = TCP, 1 = UDP/QUIC-v1) | port (2, big-endian) | peer id (39) | peer id (39) | 0 (5)
 *
 * For a circuit-relay address `/ip4/../tcp/../p2p/<relay>/p2p-circuit/p2p/<peer>` the first peer id is the relay's
 * and the second the relayed peer's; for a direct address the second is all zeros.
 * Decision (the spec fixes 39 bytes, the size of a secp256k1 identity multihash, and nim accepts only those): a peer
 * id field holds the peer id's multihash left-aligned and zero-padded, so Ed25519 ids (38 bytes, js-libp2p's
 * default) and sha2-256 ids (34 bytes) fit too; the decoder reads the multihash's own length and requires zeros
 * after it. An all-zero address means "no address" (the exit itself, or a SURB reply, mix.md 8.6.4).
 */

const PEER_ID_FIELD = 39
const IP_OFFSET = 0
const TRANSPORT_OFFSET = 4
const PORT_OFFSET = 5
const PEER1_OFFSET = 7
const PEER2_OFFSET = PEER1_OFFSET + PEER_ID_FIELD
const USED = PEER2_OFFSET + PEER_ID_FIELD
const TRANSPORT_TCP = 0
const TRANSPORT_QUIC = 1

/** A decoded hop address: the peer and a multiaddr to dial it (without the trailing /p2p/<peer>). */
export interface HopAddress {
  peerId: PeerId
  multiaddr: Multiaddr
}

/** True when all 94 bytes are zero. */
export function isZeroAddress (bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) return false
  return true
}

/**
 * Encodes `peerId` reachable at `addr` (`/ip4/<ip>/tcp/<port>` or `/ip4/<ip>/udp/<port>/quic-v1`, optionally
 * through `/p2p/<relay>/p2p-circuit`; a trailing `/p2p/<peerId>` is allowed and must match).
 */
export function encodeAddress (peerId: PeerId, addr: Multiaddr): Uint8Array {
  const components = addr.getComponents()
  let i = 0
  const next = (): { code: number, value?: string } | undefined => components[i++]
  const ip = next()
  if (ip?.code !== CODE_IP4 || ip.value === undefined) throw new SphinxAddressError(`only /ip4 addresses fit in ${ADDRESS_LENGTH} bytes: ${addr.toString()}`)
  const transport = next()
  let transportByte: number
  if (transport?.code === CODE_TCP) transportByte = TRANSPORT_TCP
  else if (transport?.code === CODE_UDP && components[i]?.code === CODE_QUIC_V1) {
    transportByte = TRANSPORT_QUIC
    i++
  } else throw new SphinxAddressError(`only TCP and QUIC-v1 transports are encodable: ${addr.toString()}`)
  const port = Number(transport.value)
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw new SphinxAddressError(`bad port in ${addr.toString()}`)

  let relay: PeerId | undefined
  const rest = components.slice(i)
  if (rest.length >= 2 && rest[0]?.code === CODE_P2P && rest[1]?.code === CODE_P2P_CIRCUIT) {
    relay = parsePeerIdString(rest[0].value)
    rest.splice(0, 2)
  }
  if (rest.length === 1 && rest[0]?.code === CODE_P2P) {
    if (rest[0].value !== peerId.toString()) throw new SphinxAddressError(`address ${addr.toString()} names another peer than ${peerId.toString()}`)
    rest.splice(0, 1)
  }
  if (rest.length !== 0) throw new SphinxAddressError(`unsupported multiaddr components in ${addr.toString()}`)

  const out = new Uint8Array(ADDRESS_LENGTH)
  const octets = ip.value.split('.').map(Number)
  out.set(octets, IP_OFFSET)
  out[TRANSPORT_OFFSET] = transportByte
  out[PORT_OFFSET] = port >> 8
  out[PORT_OFFSET + 1] = port & 0xff
  if (relay !== undefined) {
    writePeerId(out, PEER1_OFFSET, relay)
    writePeerId(out, PEER2_OFFSET, peerId)
  } else {
    writePeerId(out, PEER1_OFFSET, peerId)
  }
  return out
}

/** Decodes a non-zero 94-byte address; throws SphinxAddressError on anything malformed. */
export function decodeAddress (bytes: Uint8Array): HopAddress {
  if (bytes.length !== ADDRESS_LENGTH) throw new SphinxAddressError(`an address is ${ADDRESS_LENGTH} bytes, got ${bytes.length}`)
  for (let i = USED; i < ADDRESS_LENGTH; i++) if (bytes[i] !== 0) throw new SphinxAddressError('non-zero trailing bytes')
  const transport = bytes[TRANSPORT_OFFSET]
  if (transport !== TRANSPORT_TCP && transport !== TRANSPORT_QUIC) throw new SphinxAddressError(`unknown transport ${String(transport)}`)
  const ip = `${bytes[0] as number}.${bytes[1] as number}.${bytes[2] as number}.${bytes[3] as number}`
  const port = ((bytes[PORT_OFFSET] as number) << 8) | (bytes[PORT_OFFSET + 1] as number)
  const first = readPeerId(bytes, PEER1_OFFSET)
  const secondField = bytes.subarray(PEER2_OFFSET, PEER2_OFFSET + PEER_ID_FIELD)
  const base = transport === TRANSPORT_TCP ? `/ip4/${ip}/tcp/${port}` : `/ip4/${ip}/udp/${port}/quic-v1`
  if (isZeroAddress(secondField)) return { peerId: first, multiaddr: multiaddr(base) }
  const target = readPeerId(bytes, PEER2_OFFSET)
  return { peerId: target, multiaddr: multiaddr(`${base}/p2p/${first.toString()}/p2p-circuit`) }
}

function writePeerId (out: Uint8Array, offset: number, peerId: PeerId): void {
  const mh = peerId.toMultihash().bytes
  if (mh.length > PEER_ID_FIELD) throw new SphinxAddressError(`peer id ${peerId.toString()} is ${mh.length} bytes, more than ${PEER_ID_FIELD}`)
  out.set(mh, offset)
}

/** Known peer id multihash prefixes: identity(36) Ed25519, identity(37) secp256k1, sha2-256(32). */
function readPeerId (bytes: Uint8Array, offset: number): PeerId {
  const field = bytes.subarray(offset, offset + PEER_ID_FIELD)
  const code = field[0]
  const size = field[1] as number
  let length: number
  if (code === 0x00 && (size === 36 || size === 37)) length = 2 + size
  else if (code === 0x12 && size === 32) length = 34
  else throw new SphinxAddressError('unsupported peer id multihash')
  for (let i = length; i < PEER_ID_FIELD; i++) if (field[i] !== 0) throw new SphinxAddressError('non-zero bytes after the peer id')
  try {
    if (code === 0x00) return peerIdFromPublicKey(publicKeyFromProtobuf(field.slice(2, length)))
    return peerIdFromMultihash({ code: 0x12, size: 32, digest: field.slice(2, length), bytes: field.slice(0, length) })
  } catch (err) {
    throw new SphinxAddressError('peer id does not decode', { cause: err })
  }
}

function parsePeerIdString (value: string | undefined): PeerId {
  if (value === undefined) throw new SphinxAddressError('empty /p2p component')
  try {
    return peerIdFromString(value)
  } catch (err) {
    throw new SphinxAddressError(`bad peer id ${value}`, { cause: err })
  }
}
