import { DEFAULT_EPOCH_PERIOD_SECONDS, DEFAULT_MAX_EPOCH_GAP, FIELD_BYTES } from './constants.ts'
import { RlnEncodingError, RlnEpochOutOfRangeError } from './errors.ts'
import { fieldFromBytesReduced, fromBytesLE } from './field.ts'
import { poseidon } from './poseidon.ts'

export interface EpochOptions {
  /** Epoch length in seconds. */
  periodSeconds?: number
  /** How many epochs a message may differ from ours (the clock-skew bound). */
  maxGap?: number
  /** The clock, ms since the Unix epoch (tests set it). */
  now?: () => number
}

/**
 * RLN epochs: epoch = floor(unix_time / period) (rln-v1.md "External nullifier"; the mix RLN plugin of logos-co and
 * Waku use floor too, while mix-spam-protection-rln.md "Messaging Rate" writes a ceiling. Peers must agree, so we
 * follow the implementations; the allowed gap absorbs the difference of one either way.)
 */
export class EpochClock {
  readonly periodSeconds: number
  readonly maxGap: number
  private readonly now: () => number

  constructor (options: EpochOptions = {}) {
    this.periodSeconds = options.periodSeconds ?? DEFAULT_EPOCH_PERIOD_SECONDS
    this.maxGap = options.maxGap ?? DEFAULT_MAX_EPOCH_GAP
    this.now = options.now ?? Date.now
    if (!(this.periodSeconds > 0)) throw new RangeError('periodSeconds must be positive')
    if (!Number.isInteger(this.maxGap) || this.maxGap < 0) throw new RangeError('maxGap must be a non-negative integer')
  }

  /** The current epoch number. */
  current (): bigint {
    return epochAt(this.now(), this.periodSeconds)
  }

  /** Milliseconds until the next epoch starts. */
  msUntilNext (): number {
    const periodMs = this.periodSeconds * 1000
    const t = this.now()
    return periodMs - (t % periodMs)
  }

  /** Throws RlnEpochOutOfRangeError unless |epoch - current| <= maxGap (mix-spam-protection-rln.md, validation 1). */
  check (epoch: bigint): void {
    const current = this.current()
    const gap = epoch > current ? epoch - current : current - epoch
    if (gap > BigInt(this.maxGap)) {
      throw new RlnEpochOutOfRangeError(`epoch ${epoch} is ${gap} epochs from ours (${current}); at most ${this.maxGap} allowed`, {
        data: { epoch: epoch.toString(), current: current.toString(), maxGap: this.maxGap }
      })
    }
  }
}

/** floor(ms / 1000 / period) as a bigint. */
export function epochAt (unixMs: number, periodSeconds: number): bigint {
  return BigInt(Math.floor(unixMs / 1000 / periodSeconds))
}

/**
 * The 32-byte wire form of an epoch: the number as a little-endian u64 in the first 8 bytes, the rest zero (as the
 * mix RLN plugin and Waku encode it; mix-spam-protection-rln.md "RateLimitProof" gives 32 bytes).
 */
export function encodeEpoch (epoch: bigint): Uint8Array {
  if (epoch < 0n || epoch >= 1n << 64n) throw new RangeError('epoch must fit in a u64')
  const out = new Uint8Array(FIELD_BYTES)
  new DataView(out.buffer).setBigUint64(0, epoch, true)
  return out
}

/** Reads the 32-byte epoch; the upper 24 bytes must be zero. */
export function decodeEpoch (bytes: Uint8Array): bigint {
  if (bytes.length !== FIELD_BYTES) throw new RlnEncodingError(`epoch must be ${FIELD_BYTES} bytes`)
  for (let i = 8; i < FIELD_BYTES; i++) if (bytes[i] !== 0) throw new RlnEncodingError('epoch does not fit in a u64')
  return fromBytesLE(bytes.subarray(0, 8))
}

/** The RLN identifier as a field element: its UTF-8 bytes, zero padded to 32, read little-endian (see constants). */
export function rlnIdentifierField (identifier: string | Uint8Array): bigint {
  const bytes = typeof identifier === 'string' ? new TextEncoder().encode(identifier) : identifier
  if (bytes.length > FIELD_BYTES) throw new RlnEncodingError(`the RLN identifier must be at most ${FIELD_BYTES} bytes`)
  const padded = new Uint8Array(FIELD_BYTES)
  padded.set(bytes)
  return fieldFromBytesReduced(padded)
}

/** external_nullifier = Poseidon(epoch, rln_identifier) (rln-v1.md "External nullifier"). */
export function externalNullifier (epoch: bigint, rlnIdentifier: bigint): bigint {
  return poseidon([fieldFromBytesReduced(encodeEpoch(epoch)), rlnIdentifier])
}
