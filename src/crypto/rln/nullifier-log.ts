import { DEFAULT_MAX_SHARES_PER_EPOCH } from './constants.ts'
import { RlnBusyError } from './errors.ts'
import { inverse, mod } from './field.ts'

/** What a verifier keeps of each message (rln-v1.md "Notes from Implementation": messaging metadata). */
export interface MessageShare {
  epoch: bigint
  externalNullifier: bigint
  nullifier: bigint
  x: bigint
  y: bigint
}

export type Observation =
  | { kind: 'new' }
  /** The same share again: a replay or a re-broadcast of one message. */
  | { kind: 'duplicate' }
  /** Two shares on one line: double signalling, and `secret` is the sender's a0. */
  | { kind: 'double-signal', secret: bigint, first: MessageShare, second: MessageShare }

export interface NullifierLogOptions {
  /** Epochs before the current one to keep (mix-spam-protection-rln.md: clear epochs older than max_epoch_gap). */
  keepEpochs: number
  /** Shares kept per epoch before new ones are refused. */
  maxSharesPerEpoch?: number
}

interface EpochShares {
  epoch: bigint
  count: number
  /** external_nullifier -> nullifier -> the first share seen. */
  byNullifier: Map<bigint, Map<bigint, MessageShare>>
}

/**
 * Recovers a0 from two points of the line y = a0 + x * a1 (Shamir with threshold 2; rln-v1.md "Slashing"):
 * a1 = (y2 - y1) / (x2 - x1), a0 = y1 - x1 * a1.
 */
export function recoverSecret (s1: { x: bigint, y: bigint }, s2: { x: bigint, y: bigint }): { a0: bigint, a1: bigint } {
  if (mod(s1.x - s2.x) === 0n) throw new RangeError('two shares with the same x do not determine the line')
  const a1 = mod((s2.y - s1.y) * inverse(s2.x - s1.x))
  return { a0: mod(s1.y - s1.x * a1), a1 }
}

/**
 * The per-epoch log of shares that catches double signalling: a member who sends two different messages with the
 * same message_id in one epoch gives two shares with one nullifier, and those reveal its secret
 * (mix-spam-protection-rln.md "Spam detection and Slashing"). Old epochs are forgotten.
 */
export class NullifierLog {
  private readonly keepEpochs: number
  private readonly maxShares: number
  private readonly epochs = new Map<bigint, EpochShares>()

  constructor (options: NullifierLogOptions) {
    this.keepEpochs = options.keepEpochs
    this.maxShares = options.maxSharesPerEpoch ?? DEFAULT_MAX_SHARES_PER_EPOCH
  }

  /** Records a verified message's share; says whether it is new, a duplicate, or double signalling. */
  observe (share: MessageShare): Observation {
    let bucket = this.epochs.get(share.epoch)
    if (bucket === undefined) {
      bucket = { epoch: share.epoch, count: 0, byNullifier: new Map() }
      this.epochs.set(share.epoch, bucket)
    }
    let byNullifier = bucket.byNullifier.get(share.externalNullifier)
    if (byNullifier === undefined) {
      byNullifier = new Map()
      bucket.byNullifier.set(share.externalNullifier, byNullifier)
    }
    const first = byNullifier.get(share.nullifier)
    if (first === undefined) {
      if (bucket.count >= this.maxShares) throw new RlnBusyError(`the nullifier log holds ${bucket.count} shares for epoch ${share.epoch}, its bound`)
      byNullifier.set(share.nullifier, { ...share })
      bucket.count++
      return { kind: 'new' }
    }
    if (first.x === share.x && first.y === share.y) return { kind: 'duplicate' }
    if (first.x === share.x) {
      // Same x, different y cannot come from valid proofs of one member; callers log only verified shares.
      return { kind: 'duplicate' }
    }
    const { a0 } = recoverSecret(first, share)
    return { kind: 'double-signal', secret: a0, first: { ...first }, second: { ...share } }
  }

  /** Puts `share` in place of the share stored under its nullifier (see Rln.record). */
  replace (share: MessageShare): void {
    const byNullifier = this.epochs.get(share.epoch)?.byNullifier.get(share.externalNullifier)
    if (byNullifier?.has(share.nullifier) === true) byNullifier.set(share.nullifier, { ...share })
  }

  /** Forgets epochs older than current - keepEpochs. */
  prune (currentEpoch: bigint): void {
    for (const epoch of this.epochs.keys()) {
      if (epoch < currentEpoch - BigInt(this.keepEpochs)) this.epochs.delete(epoch)
    }
  }

  /** The shares of one epoch (for sharing on a coordination layer). */
  shares (epoch: bigint): MessageShare[] {
    const bucket = this.epochs.get(epoch)
    if (bucket === undefined) return []
    const out: MessageShare[] = []
    for (const m of bucket.byNullifier.values()) for (const s of m.values()) out.push({ ...s })
    return out
  }

  get epochsKept (): bigint[] {
    return [...this.epochs.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  }

  get size (): number {
    let n = 0
    for (const b of this.epochs.values()) n += b.count
    return n
  }
}
