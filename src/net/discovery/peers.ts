import { peerIdFromMultihash } from '@libp2p/peer-id'
import { peerKeyOf } from './keyspace.ts'
import type { WirePeer } from './message.ts'
import type { PeerRef } from './routing-table.ts'

type MultihashDigest = Parameters<typeof peerIdFromMultihash>[0]

function readVarint (bytes: Uint8Array, at: number): [number, number] | undefined {
  let value = 0
  let shift = 0
  for (let i = at; i < bytes.length && i < at + 4; i++) {
    const b = bytes[i] as number
    value += (b & 0x7f) * 2 ** shift
    if ((b & 0x80) === 0) return [value, i + 1]
    shift += 7
  }
  return undefined
}

/** Parses multihash bytes (varint code, varint length, digest) into the digest object js-libp2p's peer ids take. */
export function multihashFromBytes (input: Uint8Array): MultihashDigest | undefined {
  const bytes = new Uint8Array(input)
  const code = readVarint(bytes, 0)
  if (code === undefined) return undefined
  const size = readVarint(bytes, code[1])
  if (size === undefined || size[1] + size[0] !== bytes.length) return undefined
  return { code: code[0], size: size[0], digest: bytes.subarray(size[1]), bytes }
}

/** The peer id string of a wire peer id, or undefined when the bytes are not a valid peer id. */
export function peerIdStringOf (idBytes: Uint8Array): string | undefined {
  const mh = multihashFromBytes(idBytes)
  if (mh === undefined) return undefined
  try {
    return peerIdFromMultihash(mh).toString()
  } catch {
    return undefined
  }
}

/** A PeerRef from a `Message.Peer`, or undefined when its id is not a peer id. */
export function peerFromWire (p: WirePeer): PeerRef | undefined {
  const id = peerIdStringOf(p.id)
  if (id === undefined) return undefined
  return { id, idBytes: p.id, key: peerKeyOf(p.id), addrs: p.addrs }
}
