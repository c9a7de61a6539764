import { join } from 'node:path'
import { throwIfAborted } from '../../common/index.ts'
import { DEFAULT_RLN_IDENTIFIER, DEFAULT_USER_MESSAGE_LIMIT } from './constants.ts'
import type { ProverKind, VerifierKind } from './engine.ts'
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
  /** Which implementation proves (default snarkjs: faster here, see docs/rln.md). */
  prover?: ProverKind
  /** Which implementation checks the zkSNARK (default 'prepared': ours, the fastest; see docs/rln.md). */
  verifier?: VerifierKind
  workers?: number
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
  private stopped = false

  private constructor (init: { group: MembershipGroup, clock: EpochClock, identity: RlnIdentity, rlnIdentifier: bigint, prover: ProverKind, verifier: VerifierKind, pool: ProverPool, messageIds: MessageIdAllocator, nullifiers: NullifierLog }) {
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
  }

  /** Resolves the resources, opens the group, starts the proving threads (each loads the key once). */
  static async create (options: RlnOptions = {}): Promise<Rln> {
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
    const prover = options.prover ?? 'snarkjs'
    const verifier = options.verifier ?? 'prepared'
    const clock = new EpochClock(options.epoch)
    const group = new MembershipGroup({ path: dataDir === undefined ? undefined : join(dataDir, 'group.sqlite'), rootWindow: options.rootWindow })
    const messageIds = new MessageIdAllocator(dataDir === undefined ? undefined : join(dataDir, 'message-ids.sqlite'))
    const pool = new ProverPool({ circuit: resources.circuit, zkey: resources.zkey }, {
      workers: options.workers,
      maxQueue: options.maxQueue,
      niceness: options.niceness,
      zerokit: prover === 'zerokit' || verifier === 'zerokit'
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
      nullifiers: new NullifierLog({ keepEpochs: clock.maxGap, maxSharesPerEpoch: options.maxSharesPerEpoch })
    })
  }

  /** This node's membership, if it joined and was not removed. */
  get membership (): Member | undefined {
    const m = this.group.memberByCommitment(this.identity.commitment)
    return m === undefined || m.removed ? undefined : m
  }

  /** Registers this node's identity in the group (once; later calls return the membership). */
  join (userMessageLimit = DEFAULT_USER_MESSAGE_LIMIT): Member {
    return this.membership ?? this.group.register(this.identity.commitment, userMessageLimit)
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
    const epoch = options.epoch ?? this.clock.current()
    const messageId = this.messageIds.take(epoch, member.userMessageLimit, options.messageId)
    const path = this.group.merkleProof(member.index)
    const bytes = await this.pool.prove({
      secret: this.identity.secret,
      userMessageLimit: member.userMessageLimit,
      messageId,
      pathElements: path.pathElements,
      pathIndices: path.pathIndices,
      x: hashToField(signal),
      externalNullifier: this.externalNullifier(epoch)
    }, this.prover, { signal: options.signal })
    return { proof: parseProof(bytes), epoch, messageId }
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

  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    await this.pool.stop()
    this.group.close()
    this.messageIds.close()
  }
}
