import { DEFAULT_USER_MESSAGE_LIMIT, Rln, RlnDuplicateMessageError, RlnSpamDetectedError } from '../../crypto/rln/index.ts'
import type { MessageShare, RlnOptions } from '../../crypto/rln/index.ts'
import { MIX_RLN_PRECOMPUTE, MIX_RLN_PROVER, RATE_LIMIT_PROOF_BYTES } from './constants.ts'
import { decodeMessagingMetadata, encodeMessagingMetadata } from './messaging-metadata.ts'
import type { MetadataEntry } from './messaging-metadata.ts'
import { decodeRateLimitProof, encodeRateLimitProof, fromRlnProof, toRlnProof } from './rate-limit-proof.ts'

/**
 * The mixnet's spam-protection hook (the shape src/net/mix/spam-protection.ts declares; restated here so the two
 * areas stay independent): a proof of `proofLength` bytes appended to each packet per hop, made over the outgoing
 * packet and checked on the incoming one.
 */
export interface MixSpamProtection {
  readonly proofLength: number
  generateProof: (packet: Uint8Array, options?: { signal?: AbortSignal }) => Promise<Uint8Array>
  verifyProof: (packet: Uint8Array, proof: Uint8Array, options?: { signal?: AbortSignal }) => Promise<void>
  /** Called at each new epoch (mix-dos-protection.md 8.2.3), so the mixnet can align its slot budget; returns an unsubscribe. */
  onEpochChange?: (callback: (epoch: bigint) => void) => () => void
  /** R: the packets this node may emit per epoch (its user_message_limit). */
  readonly slotsPerEpoch?: number
  /** P: the epoch length in ms. */
  readonly epochMs?: number
}

/**
 * What the RLN hook adds to the shape, for the coordination layer of mix-spam-protection-rln.md: the metadata of
 * validated messages, to broadcast, and the metadata of other nodes, to import. Optional for a mixnet to use.
 */
export interface MixSpamMetadataExchange {
  exportMetadata: (epoch?: bigint) => Uint8Array
  importMetadata: (bytes: Uint8Array) => { recorded: number, spam: number }
}

export interface RlnSpamProtectionInit {
  /** Emit a 'share' event after each validated packet (default true). */
  emitShares?: boolean
}

/**
 * RLN spam protection for the libp2p mix protocol (logos-lips docs/anoncomms/raw/mix-spam-protection-rln.md,
 * "per-hop generated proofs"): the signal is the whole outgoing Sphinx packet (alpha' | beta' | gamma' | delta'), so a
 * proof cannot be moved to another packet; x = keccak256(packet) mod p. Validation follows "Message validation":
 * epoch gap, root window, zkSNARK, then spam detection with slashing. Proofs are made and checked in the RLN
 * library's worker threads: the mix node's event loop only awaits them.
 *
 * Events: 'share' (CustomEvent<MessageShare>) after each validated packet, for a coordination layer.
 */
export class RlnSpamProtection extends EventTarget implements MixSpamProtection, MixSpamMetadataExchange {
  readonly proofLength = RATE_LIMIT_PROOF_BYTES
  readonly rln: Rln
  private readonly emitShares: boolean
  private readonly ownsRln: boolean
  private readonly epochListeners = new Set<(epoch: bigint) => void>()
  private epochTimer: ReturnType<typeof setTimeout> | undefined

  constructor (rln: Rln, init: RlnSpamProtectionInit = {}, ownsRln = false) {
    super()
    this.rln = rln
    this.emitShares = init.emitShares ?? true
    this.ownsRln = ownsRln
  }

  /** Stops the epoch timer, and the RLN instance if this hook made it (createRlnSpamProtection). */
  async stop (): Promise<void> {
    this.epochListeners.clear()
    if (this.epochTimer !== undefined) clearTimeout(this.epochTimer)
    this.epochTimer = undefined
    if (this.ownsRln) await this.rln.stop()
  }

  /** This node's rate limit: its user_message_limit once it is a member. */
  get slotsPerEpoch (): number {
    return this.rln.membership?.userMessageLimit ?? DEFAULT_USER_MESSAGE_LIMIT
  }

  get epochMs (): number {
    return this.rln.clock.periodSeconds * 1000
  }

  /** Calls `callback` at the start of every epoch of the RLN clock (one timer, unref'd, while anyone listens). */
  onEpochChange (callback: (epoch: bigint) => void): () => void {
    this.epochListeners.add(callback)
    if (this.epochTimer === undefined) this.scheduleEpochTick()
    return () => {
      this.epochListeners.delete(callback)
      if (this.epochListeners.size === 0 && this.epochTimer !== undefined) {
        clearTimeout(this.epochTimer)
        this.epochTimer = undefined
      }
    }
  }

  private scheduleEpochTick (): void {
    // A millisecond past the boundary, so the clock already reads the new epoch.
    this.epochTimer = setTimeout(() => {
      const epoch = this.rln.clock.current()
      for (const listener of [...this.epochListeners]) {
        try { listener(epoch) } catch { /* a listener's failure is its own */ }
      }
      if (this.epochListeners.size > 0) this.scheduleEpochTick()
      else this.epochTimer = undefined
    }, this.rln.clock.msUntilNext() + 1)
    this.epochTimer.unref?.()
  }

  /** "Proof Generation": the node's secret, the current epoch, the current root, the outgoing packet as signal. */
  async generateProof (packet: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    const { proof, epoch } = await this.rln.prove(packet, { signal: options.signal })
    return encodeRateLimitProof(fromRlnProof(proof, epoch))
  }

  /**
   * Throws a typed error when the packet must be dropped: MixRlnWireError (malformed), RlnEpochOutOfRangeError,
   * RlnUnknownRootError, RlnInvalidProofError, RlnDuplicateMessageError, RlnSpamDetectedError (the sender was
   * slashed).
   */
  async verifyProof (packet: Uint8Array, proof: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<void> {
    const wire = decodeRateLimitProof(proof)
    this.rln.clock.check(wire.epoch)
    const rlnProof = toRlnProof(wire, this.rln.externalNullifier(wire.epoch))
    await this.rln.verify(packet, rlnProof, { epoch: wire.epoch, signal: options.signal })
    if (this.emitShares) {
      const share: MessageShare = { epoch: wire.epoch, externalNullifier: rlnProof.externalNullifier, nullifier: wire.nullifier, x: wire.shareX, y: wire.shareY }
      this.dispatchEvent(new CustomEvent<MessageShare>('share', { detail: share }))
    }
  }

  /** The shares of validated messages of one epoch (default: the current one), as MessagingMetadata. */
  exportMetadata (epoch: bigint = this.rln.clock.current()): Uint8Array {
    const byNullifier = new Map<bigint, MetadataEntry>()
    for (const s of this.rln.nullifiers.shares(epoch)) {
      if (s.externalNullifier !== this.rln.externalNullifier(epoch)) continue
      const entry = byNullifier.get(s.nullifier) ?? { nullifier: s.nullifier, shares: [] }
      entry.shares.push({ x: s.x, y: s.y })
      byNullifier.set(s.nullifier, entry)
    }
    return encodeMessagingMetadata({ epoch, entries: [...byNullifier.values()] })
  }

  /**
   * Adds another node's metadata to the nullifier log: a share that conflicts with one seen here reveals the
   * sender, who is slashed. Epochs outside the gap are ignored. Returns how many shares were new and how many
   * revealed spam.
   */
  importMetadata (bytes: Uint8Array): { recorded: number, spam: number } {
    const metadata = decodeMessagingMetadata(bytes)
    const result = { recorded: 0, spam: 0 }
    try {
      this.rln.clock.check(metadata.epoch)
    } catch {
      return result
    }
    const externalNullifier = this.rln.externalNullifier(metadata.epoch)
    for (const entry of metadata.entries) {
      for (const s of entry.shares) {
        try {
          this.rln.record({ epoch: metadata.epoch, externalNullifier, nullifier: entry.nullifier, x: s.x, y: s.y }, false)
          result.recorded++
        } catch (err) {
          if (err instanceof RlnSpamDetectedError) result.spam++
          else if (!(err instanceof RlnDuplicateMessageError)) throw err
        }
      }
    }
    return result
  }
}

/** The hook over an RLN instance (membership, key and worker threads are the RLN instance's, and so is its prover). */
export function rlnSpamProtection (rln: Rln, init: RlnSpamProtectionInit = {}): RlnSpamProtection {
  return new RlnSpamProtection(rln, init)
}

/**
 * An RLN instance with the mixnet's defaults and the hook over it: the split prover with one precomputed proof
 * (MIX_RLN_PROVER, MIX_RLN_PRECOMPUTE: a hop's proof then takes milliseconds) unless `prover` or `precompute` say
 * otherwise, zerokit's verifier. The hook's `stop()` stops the instance.
 */
export async function createRlnSpamProtection (options: RlnOptions & RlnSpamProtectionInit = {}): Promise<RlnSpamProtection> {
  const { emitShares, ...rlnOptions } = options
  const rln = await Rln.create({ ...rlnOptions, prover: options.prover ?? MIX_RLN_PROVER, precompute: options.precompute ?? MIX_RLN_PRECOMPUTE })
  return new RlnSpamProtection(rln, { emitShares }, true)
}
