import { join } from 'node:path'
import { throwIfAborted } from '../../common/index.ts'
import { DEFAULT_PRECOMPUTE, DEFAULT_RLN_IDENTIFIER, DEFAULT_USER_MESSAGE_LIMIT, PRECOMPUTE_LEAD_MS } from './constants.ts'
import { PROVER_KINDS, VERIFIER_KINDS } from './engine.ts'
import type { ProverKind, VerifierKind, WitnessInput } from './engine.ts'
import type { PrecomputedProof } from './split-prover.ts'
import { EpochClock, externalNullifier, rlnIdentifierField } from './epoch.ts'
import type { EpochOptions } from './epoch.ts'
import {
  RlnDuplicateMessageError, RlnEpochOutOfRangeError, RlnInvalidProofError, RlnMessageLimitError, RlnNotAMemberError,
  RlnSpamDetectedError, RlnUnknownRootError
} from './errors.ts'
import { fieldToHex, hashToField } from './field.ts'
import { MembershipGroup } from './group.ts'
import type { Member } from './group.ts'
import { createIdentity, loadIdentity, saveIdentity } from './identity.ts'
import type { RlnIdentity } from './identity.ts'
import { MessageIdAllocator } from './message-ids.ts'
import { NullifierLog } from './nullifier-log.ts'
import type { MessageShare } from './nullifier-log.ts'
import { ProverPool } from './pool.ts'
import { parseProof, serializeProof } from './proof.ts'
import type { RlnProof } from './proof.ts'
import { resolveResources } from './resources.ts'
import type { ResourceOptions, RlnResources } from './resources.ts'
import { buildEvidence } from './slashing.ts'
import type { SlashingEvidence } from './slashing.ts'

export interface RlnOptions {
  /** Resources already resolved; otherwise `resourceOptions` are used to find them. */
  resources?: RlnResources
  resourceOptions?: ResourceOptions
  /**
   * Where the identity (identity.json, mode 0600), the group (group.sqlite) and the used message_ids
   * (message-ids.sqlite) live; without it everything is in memory.
   */
  dataDir?: string
  /** This node's identity; by default loaded from dataDir, or created (and saved there). */
  identity?: RlnIdentity
  /** The application's RLN identifier (default: the mix spam-protection identifier). */
  rlnIdentifier?: string
  epoch?: EpochOptions
  rootWindow?: number
  /**
   * Which implementation proves (default 'zerokit'). 'split' precomputes the signal-independent part of proofs
   * ahead of time, so that a proof takes milliseconds once the message is known (see `precompute` and docs/rln.md).
   */
  prover?: ProverKind
  /**
   * How many precomputed proofs to keep ready (split prover only; default 1). With a stock, prove() only finalizes
   * (milliseconds) instead of proving (a second or more); each entry uses up one message_id of its epoch, and an
   * entry whose epoch passes unused is lost, so keep it small. 0: every proof is precomputed when asked for.
   */
  precompute?: number
  /** Which implementation checks the zkSNARK (default 'zerokit'). */
  verifier?: VerifierKind
  workers?: number
  lightWorkers?: number
  maxQueue?: number
  niceness?: number
  maxSharesPerEpoch?: number
  signal?: AbortSignal
}

export interface ProveOptions {
  /** The epoch to prove for (default: the current one). */
  epoch?: bigint
  /** The message_id (default: the lowest unused one of the epoch). */
  messageId?: number
  signal?: AbortSignal
}

export interface VerifyOptions {
  /** The epoch the sender states; without it, the epoch is found from the external nullifier within the gap. */
  epoch?: bigint
  signal?: AbortSignal
}

export interface ProvenMessage {
  proof: RlnProof
  epoch: bigint
  messageId: number
}

export interface VerifiedMessage {
  proof: RlnProof
  epoch: bigint
}

interface StockEntry {
  epoch: bigint
  messageId: number
  root: bigint
  ready: Promise<PrecomputedProof[]>
}

export interface SlashedEvent {
  /** The removed member, or undefined when its commitment is not in this node's group. */
  member: Member | undefined
  evidence: SlashingEvidence
}

/**
 * RLN v2 for one node: its identity, the membership group, proofs made and checked in worker threads, epochs with
 * a bounded gap, and the nullifier log that catches double signalling and slashes the offender.
 *
 * Events: 'slashed' (CustomEvent<SlashedEvent>) when double signalling is detected and proven.
 */
export class Rln extends EventTarget {
  readonly group: MembershipGroup
  readonly clock: EpochClock
  readonly identity: RlnIdentity
  readonly rlnIdentifier: bigint
  readonly prover: ProverKind
  readonly verifier: VerifierKind
  readonly nullifiers: NullifierLog
  private readonly pool: ProverPool
  private readonly messageIds: MessageIdAllocator
  private readonly extNullifiers = new Map<bigint, bigint>()
  private readonly precomputeDepth: number
  private stock: StockEntry[] = []
  private prunedAt = -1n
  private stopped = false

  private constructor (init: { group: MembershipGroup, clock: EpochClock, identity: RlnIdentity, rlnIdentifier: bigint, prover: ProverKind, verifier: VerifierKind, pool: ProverPool, messageIds: MessageIdAllocator, nullifiers: NullifierLog, precompute: number }) {
    super()
    this.group = init.group
    this.clock = init.clock
    this.identity = init.identity
    this.rlnIdentifier = init.rlnIdentifier
    this.prover = init.prover
    this.verifier = init.verifier
    this.pool = init.pool
    this.messageIds = init.messageIds
    this.nullifiers = init.nullifiers
    this.precomputeDepth = init.prover === 'split' ? init.precompute : 0
  }

  /**
   * Resolves the resources, opens the group, starts the proving threads. Each thread loads its key once, right
   * after it starts: `create` does not wait for that (zerokit's proving key takes seconds), the first proof does;
   * `loaded()` waits for it.
   */
  static async create (options: RlnOptions = {}): Promise<Rln> {
    const prover = options.prover ?? 'zerokit'
    const verifier = options.verifier ?? 'zerokit'
    if (!PROVER_KINDS.includes(prover)) throw new RangeError(`prover must be one of ${PROVER_KINDS.join(', ')}`)
    if (!VERIFIER_KINDS.includes(verifier)) throw new RangeError(`verifier must be one of ${VERIFIER_KINDS.join(', ')}`)
    const resources = options.resources ?? await resolveResources({ ...options.resourceOptions, signal: options.signal })
    const dataDir = options.dataDir
    let identity = options.identity
    if (identity === undefined && dataDir !== undefined) {
      const path = join(dataDir, 'identity.json')
      identity = await loadIdentity(path)
      if (identity === undefined) {
        identity = createIdentity()
        await saveIdentity(path, identity)
      }
    }
    identity ??= createIdentity()
    const clock = new EpochClock(options.epoch)
    const group = new MembershipGroup({ path: dataDir === undefined ? undefined : join(dataDir, 'group.sqlite'), rootWindow: options.rootWindow })
    const messageIds = new MessageIdAllocator(dataDir === undefined ? undefined : join(dataDir, 'message-ids.sqlite'))
    const pool = new ProverPool({ circuit: resources.circuit, zkey: resources.zkey }, {
      workers: options.workers,
      lightWorkers: options.lightWorkers,
      maxQueue: options.maxQueue,
      niceness: options.niceness,
      prover,
      verifier
    })
    try {
      await pool.start({ signal: options.signal })
    } catch (err) {
      await pool.stop()
      group.close()
      messageIds.close()
      throw err
    }
    return new Rln({
      group,
      clock,
      identity,
      rlnIdentifier: rlnIdentifierField(options.rlnIdentifier ?? DEFAULT_RLN_IDENTIFIER),
      prover,
      verifier,
      pool,
      messageIds,
      nullifiers: new NullifierLog({ keepEpochs: clock.maxGap, maxSharesPerEpoch: options.maxSharesPerEpoch }),
      precompute: options.precompute ?? DEFAULT_PRECOMPUTE
    })
  }

  /** This node's membership, if it joined and was not removed. */
  get membership (): Member | undefined {
    const m = this.group.memberByCommitment(this.identity.commitment)
    return m === undefined || m.removed ? undefined : m
  }

  /** Registers this node's identity in the group (once; later calls return the membership). */
  join (userMessageLimit = DEFAULT_USER_MESSAGE_LIMIT): Member {
    const member = this.membership ?? this.group.register(this.identity.commitment, userMessageLimit)
    this.refill()
    return member
  }

  /** external_nullifier of an epoch for this application (cached: verifiers compute it for every message). */
  externalNullifier (epoch: bigint): bigint {
    let v = this.extNullifiers.get(epoch)
    if (v === undefined) {
      v = externalNullifier(epoch, this.rlnIdentifier)
      if (this.extNullifiers.size > 64) this.extNullifiers.clear()
      this.extNullifiers.set(epoch, v)
    }
    return v
  }

  /**
   * Proves `signal` for this node: one of its message_ids of the epoch is used up (and remembered on disk) first.
   * The proof is made in a worker thread.
   */
  async prove (signal: Uint8Array, options: ProveOptions = {}): Promise<ProvenMessage> {
    throwIfAborted(options.signal)
    const member = this.membership
    if (member === undefined) throw new RlnNotAMemberError('this identity is not a member of the group: join first')
    if (options.messageId !== undefined && (!Number.isInteger(options.messageId) || options.messageId < 0 || options.messageId >= member.userMessageLimit)) {
      throw new RlnMessageLimitError(`message_id ${options.messageId} is outside [0, ${member.userMessageLimit}) (rln-v2 range check)`, {
        data: { messageId: options.messageId, limit: member.userMessageLimit }
      })
    }
    this.pruneMessageIds()
    if (this.precomputeDepth > 0 && options.messageId === undefined && options.epoch === undefined) {
      return await this.proveFromStock(signal, options.signal)
    }
    const epoch = options.epoch ?? this.clock.current()
    const messageId = this.messageIds.take(epoch, member.userMessageLimit, options.messageId)
    const bytes = await this.pool.prove({ ...this.witnessInput(member, epoch, messageId), x: hashToField(signal) }, this.prover, { signal: options.signal })
    return { proof: parseProof(bytes), epoch, messageId }
  }

  /** Forgets used message_ids of epochs no verifier accepts any more (once per epoch): a bound on that table. */
  private pruneMessageIds (): void {
    const current = this.clock.current()
    if (current === this.prunedAt) return
    this.prunedAt = current
    this.messageIds.prune(current - BigInt(this.clock.maxGap) - 1n)
  }

  private witnessInput (member: Member, epoch: bigint, messageId: number): WitnessInput {
    const path = this.group.merkleProof(member.index)
    return {
      secret: this.identity.secret,
      userMessageLimit: member.userMessageLimit,
      messageId,
      pathElements: path.pathElements,
      pathIndices: path.pathIndices,
      x: 0n,
      externalNullifier: this.externalNullifier(epoch)
    }
  }

  /**
   * Takes a precomputed proof for the current epoch (waiting for one under way rather than starting another),
   * finalizes it for this signal in a light thread, then tops the stock up in the background.
   */
  private async proveFromStock (signal: Uint8Array, abort?: AbortSignal): Promise<ProvenMessage> {
    // Two attempts: a precomputation that took so long that its epoch is out of every verifier's gap is not used.
    for (let attempt = 0; ; attempt++) {
      const epoch = this.clock.current()
      // Entries of a past epoch, or against a root no longer accepted, are dropped (their message_ids are lost).
      this.stock = this.stock.filter(e => e.epoch >= epoch && this.group.isAcceptableRoot(e.root))
      let entry = this.stock.find(e => e.epoch === epoch)
      if (entry === undefined) entry = this.addToStock(epoch, true)
      this.stock.splice(this.stock.indexOf(entry), 1)
      try {
        const pre = await entry.ready
        throwIfAborted(abort)
        if (this.clock.current() - entry.epoch > BigInt(this.clock.maxGap) && attempt === 0) continue
        const bytes = await this.pool.finalize(pre, hashToField(signal), { signal: abort })
        return { proof: parseProof(bytes), epoch: entry.epoch, messageId: entry.messageId }
      } finally {
        this.refill()
      }
    }
  }

  private addToStock (epoch: bigint, urgent: boolean): StockEntry {
    const member = this.membership
    if (member === undefined) throw new RlnNotAMemberError('this identity is not a member of the group: join first')
    const messageId = this.messageIds.take(epoch, member.userMessageLimit)
    const ready = this.pool.precompute(this.witnessInput(member, epoch, messageId), { urgent })
    // A background entry may never be awaited (its epoch passes); its failure must not go unhandled.
    ready.catch(() => {})
    const entry: StockEntry = { epoch, messageId, root: this.group.root, ready }
    this.stock.push(entry)
    return entry
  }

  /** Tops the stock of precomputed proofs up to its depth, for this epoch or, near its end, the next. */
  refill (): void {
    if (this.stopped || this.precomputeDepth === 0 || this.membership === undefined) return
    const epoch = this.clock.msUntilNext() < PRECOMPUTE_LEAD_MS ? this.clock.current() + 1n : this.clock.current()
    this.stock = this.stock.filter(e => e.epoch >= this.clock.current() && this.group.isAcceptableRoot(e.root))
    try {
      while (this.stock.filter(e => e.epoch === epoch).length < this.precomputeDepth) this.addToStock(epoch, false)
    } catch {
      // No message_id left in that epoch: the stock stays as it is.
    }
  }

  /** Precomputed proofs ready or under way. */
  get stocked (): number {
    return this.stock.length
  }

  /**
   * Checks a proof without recording it: epoch within the gap, root among the recent roots, x = hash(signal),
   * and the zkSNARK (in a worker thread). Throws a typed error for the first check that fails.
   */
  async check (signal: Uint8Array, proof: RlnProof, options: VerifyOptions = {}): Promise<VerifiedMessage> {
    throwIfAborted(options.signal)
    const epoch = this.epochOf(proof, options.epoch)
    if (!this.group.isAcceptableRoot(proof.root)) {
      throw new RlnUnknownRootError(`root ${fieldToHex(proof.root)} is not among the ${this.group.roots.length} recent roots`)
    }
    if (hashToField(signal) !== proof.x) throw new RlnInvalidProofError('x is not the hash of the signal: the signal or the proof was altered')
    const ok = await this.pool.verify(serializeProof(proof), signal, this.group.roots, this.verifier, { signal: options.signal })
    if (!ok) throw new RlnInvalidProofError('the zkSNARK does not verify')
    return { proof, epoch }
  }

  /**
   * Full validation of a received message (mix-spam-protection-rln.md "Message validation"): check(), then the
   * nullifier log. A duplicate throws RlnDuplicateMessageError; double signalling slashes the sender and throws
   * RlnSpamDetectedError.
   */
  async verify (signal: Uint8Array, proof: RlnProof, options: VerifyOptions = {}): Promise<VerifiedMessage> {
    const verified = await this.check(signal, proof, options)
    this.record({ epoch: verified.epoch, externalNullifier: proof.externalNullifier, nullifier: proof.nullifier, x: proof.x, y: proof.y })
    return verified
  }

  /**
   * Adds a share to the nullifier log and acts on it: a duplicate throws RlnDuplicateMessageError; double
   * signalling is proven from the two shares, the sender slashed, and RlnSpamDetectedError thrown.
   * `verified` says the share comes from a proof this node checked; shares reported by peers (a coordination layer)
   * are not proven, so a conflict that does not make valid evidence never condemns a verified message: the verified
   * share replaces the reported one, and a reported share that conflicts with a verified one is dropped.
   */
  record (share: MessageShare, verified = true): void {
    this.nullifiers.prune(this.clock.current())
    const seen = this.nullifiers.observe(share)
    if (seen.kind === 'new') return
    if (seen.kind === 'duplicate') throw new RlnDuplicateMessageError('this message was seen before in its epoch')
    const evidence = this.evidenceFor(seen.first, seen.second)
    if (evidence === undefined) {
      if (verified) this.nullifiers.replace(share)
      return
    }
    const member = this.slash(evidence)
    throw new RlnSpamDetectedError('double signalling: two messages under one nullifier; the sender was slashed', {
      data: { nullifier: fieldToHex(share.nullifier), slashed: member !== undefined, index: member?.index }
    })
  }

  private evidenceFor (first: MessageShare, second: MessageShare): SlashingEvidence | undefined {
    // The limit bounds the search for the message_id; the largest registered limit covers every member.
    let limit = DEFAULT_USER_MESSAGE_LIMIT
    for (const m of this.group.members()) limit = Math.max(limit, m.userMessageLimit)
    try {
      return buildEvidence(first, second, limit)
    } catch {
      return undefined
    }
  }

  /**
   * Removes the member whose secret the evidence reveals, and emits 'slashed'. Returns the member, or undefined
   * when no member of this group has that commitment (the event still fires, for a coordination layer).
   */
  slash (evidence: SlashingEvidence): Member | undefined {
    const member = this.group.memberByCommitment(evidence.commitment)
    if (member !== undefined && !member.removed) this.group.remove(member.index, 'slashed')
    const after = member === undefined ? undefined : this.group.memberByIndex(member.index)
    this.dispatchEvent(new CustomEvent<SlashedEvent>('slashed', { detail: { member: after, evidence } }))
    return after
  }

  private epochOf (proof: RlnProof, stated?: bigint): bigint {
    if (stated !== undefined) {
      this.clock.check(stated)
      if (this.externalNullifier(stated) !== proof.externalNullifier) {
        throw new RlnInvalidProofError('the external nullifier is not Poseidon(epoch, rln_identifier) of the stated epoch')
      }
      return stated
    }
    const current = this.clock.current()
    const gap = BigInt(this.clock.maxGap)
    for (let e = current - gap; e <= current + gap; e++) {
      if (this.externalNullifier(e) === proof.externalNullifier) return e
    }
    throw new RlnEpochOutOfRangeError(`the proof is not for an epoch within ${this.clock.maxGap} of ours (${current}) under this RLN identifier`)
  }

  get queued (): number {
    return this.pool.queued
  }

  /** Resolves when every proving thread has loaded its key; rejects with the first failure to load one. */
  async loaded (options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.pool.loaded(options)
  }

  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    await this.pool.stop()
    this.group.close()
    this.messageIds.close()
  }
}
