import { decodeEpoch, encodeEpoch, fieldFromBytes, toBytesLE } from '../../crypto/rln/index.ts'
import { MAX_METADATA_SHARES } from './constants.ts'
import { MixRlnWireError } from './errors.ts'
import { readFields, writeBytesField } from './protobuf.ts'

/**
 * MessagingMetadata, what mix nodes share on the coordination layer (mix-spam-protection-rln.md "Messaging
 * Metadata"):
 *   message ExternalNullifier { bytes internal_nullifier = 1; repeated bytes x_shares = 2; repeated bytes y_shares = 3; }
 *   message MessagingMetadata { repeated ExternalNullifier nullifiers = 1; bytes epoch = 2; }
 * The spec's message does not say which epoch its nullifiers belong to, without which a receiver cannot place
 * them; we add field 2, epoch (32 bytes, as in RateLimitProof). A parser that ignores unknown fields still reads
 * the spec's part. One message carries one epoch (a node batches once per epoch, as the spec allows).
 */
export interface MetadataEntry {
  nullifier: bigint
  shares: Array<{ x: bigint, y: bigint }>
}

export interface MessagingMetadata {
  epoch: bigint
  entries: MetadataEntry[]
}

export function encodeMessagingMetadata (m: MessagingMetadata): Uint8Array {
  const out: number[] = []
  for (const entry of m.entries) {
    const inner: number[] = []
    writeBytesField(inner, 1, toBytesLE(entry.nullifier))
    for (const s of entry.shares) writeBytesField(inner, 2, toBytesLE(s.x))
    for (const s of entry.shares) writeBytesField(inner, 3, toBytesLE(s.y))
    writeBytesField(out, 1, Uint8Array.from(inner))
  }
  writeBytesField(out, 2, encodeEpoch(m.epoch))
  return Uint8Array.from(out)
}

export function decodeMessagingMetadata (bytes: Uint8Array): MessagingMetadata {
  let epoch: bigint | undefined
  const entries: MetadataEntry[] = []
  let shares = 0
  try {
    for (const { field, value } of readFields(bytes, MAX_METADATA_SHARES + 1)) {
      if (field === 2) {
        if (epoch !== undefined) throw new MixRlnWireError('epoch appears twice')
        epoch = decodeEpoch(value)
      } else if (field === 1) {
        let nullifier: bigint | undefined
        const xs: bigint[] = []
        const ys: bigint[] = []
        for (const inner of readFields(value, 2 * MAX_METADATA_SHARES + 1)) {
          if (inner.field === 1) nullifier = fieldFromBytes(inner.value, 'internal_nullifier')
          else if (inner.field === 2) xs.push(fieldFromBytes(inner.value, 'x_share'))
          else if (inner.field === 3) ys.push(fieldFromBytes(inner.value, 'y_share'))
        }
        if (nullifier === undefined) throw new MixRlnWireError('an entry has no internal_nullifier')
        if (xs.length !== ys.length) throw new MixRlnWireError('an entry has unequal numbers of x and y shares')
        shares += xs.length
        if (shares > MAX_METADATA_SHARES) throw new MixRlnWireError(`more than ${MAX_METADATA_SHARES} shares`)
        entries.push({ nullifier, shares: xs.map((x, i) => ({ x, y: ys[i] as bigint })) })
      }
      // Other fields are skipped, as protobuf readers do.
    }
  } catch (err) {
    if (err instanceof MixRlnWireError) throw err
    throw new MixRlnWireError(`bad MessagingMetadata: ${(err as Error).message}`, { cause: err })
  }
  if (epoch === undefined) throw new MixRlnWireError('MessagingMetadata has no epoch')
  return { epoch, entries }
}
