import type { Proposal } from 'ts-mls'
import { bytesEqual, compareBytes, sha256, toHex } from './bytes.ts'
import type { Clock, TimerHandle } from './clock.ts'
import {
  KEY_PACKAGE_BUFFER_EPOCHS, MAX_BUFFERED_KEY_PACKAGES, MAX_OPEN_PROPOSALS_PER_MEMBER, MAX_COMMIT_HISTORY, MAX_COMMIT_REQUESTS_PER_EPOCH,
  MAX_DECIDED_REMEMBERED, MAX_FREEZE_CANDIDATES, MAX_FUTURE_CANDIDATES, MAX_FUTURE_MESSAGES, MAX_OUTBOX,
  MAX_REPROPAGATIONS, MAX_REPROPOSALS, MAX_ROLLBACK_EPOCHS, MAX_SESSIONS, MAX_WELCOMES, DEFAULT_REPLY_JITTER_MS
} from './constants.ts'
import { createVote, proposalDigest, randomId, tally, verifyVote, verifyVoteChain, VotingSession } from './consensus.ts'
import { candidateKey, openCandidate, sealCandidate } from './candidate.ts'
import { Emitter } from './emitter.ts'
import { GroupClosedError, InvalidKeyPackageError, InvalidProposalError, NotMemberError } from './errors.ts'
import { decodeGovernance, encodeGovernance, governanceDigest } from './governance.ts'
import type { Governance, GroupConfig } from './governance.ts'
import { memberIdOf } from './identity.ts'
import type { Identity } from './identity.ts'
import { decodeAppMessage, encodeAppMessage, encodeEnvelope, VIOLATION } from './messages.ts'
import type { AnnouncedCommit, AppMessage, CandidateBody, Certificate, Envelope, ProposalHeader, ProposalPayload, Vote } from './messages.ts'
import {
  commitProposals, decodeKeyPackage, decodeState, decryptApplication, encodeState, encryptApplication, epochAuthenticator,
  commitAuthenticatedData, epochOf, governanceExtension, governanceOf, membersOf, processCommit
} from './mls.ts'
import type { CiphersuiteImpl, ClientState, DecodedKeyPackage, Member } from './mls.ts'
import { decodeGroupRecord, encodeGroupRecord } from './record.ts'
import type { GroupRecord, HistoryRecord, OutboxRecord, WelcomeRecord } from './record.ts'
import { PeerScores } from './scoring.ts'
import type { ScoreChange, ScoreEvent } from './scoring.ts'
import { coversEpoch, generateStewardList, idSet, isLastEpoch, isValidStewardList, recoveryWalk, stewardWalk } from './steward-list.ts'
import type { DemlsStore } from './store.ts'

/**
 * One De-MLS group as one member sees it: the MLS state plus the governance around it (DE-MLS), driven by inbound
 * envelopes and by timers, producing outbound envelopes through `publish`. It never touches a network itself.
 *
 * The epoch cycle, as implemented:
 * 1. Members propose (add, remove, steward election, emergency criteria) and vote; each proposal is an MLS
 *    application message, each vote a signed, hash-chained vote (consensus.ts).
 * 2. Once a proposal is approved, the stewards in line (Layer 1 walk) get to commit: the epoch steward after the
 *    batch window, each next one after another commit-inactivity period.
 * 3. A commit candidate carries the MLS commit and the certificates (proposal + deciding votes) of every proposal it
 *    commits, so validity is a function of the candidate and the epoch only: all members that see the same candidates
 *    judge them the same way.
 * 4. The first valid candidate opens the freeze window; at its end the best candidate (most proposals, then the epoch
 *    steward's, then the smallest committer id, then the lowest commit hash) is applied.
 * 5. Each member announces the commit it applied. A member that sees a later epoch fetches the commits it missed; a
 *    member that learns of a better-ranked commit for an epoch it already left rolls back to it. This is how message
 *    loss does not fork the group.
 */

export type Topic = 'app' | 'welcome'

export interface ProposalView {
  digest: string
  proposalId: number
  epoch: number
  kind: ProposalPayload['kind']
  payload: ProposalPayload
  owner: Uint8Array
  /** Whether the proposal is well-formed and acceptable by this member's rules (what an automatic vote says). */
  valid: boolean
}

/** Decides this member's vote; undefined leaves it to `vote()`, or to the automatic vote after the voting delay. */
export type VotePolicy = (proposal: ProposalView) => boolean | undefined

/** Chooses which approved proposals this member commits when it is its turn (default: all of them). */
export type CommitPolicy = (certificates: Certificate[]) => Certificate[]

export interface GroupEvents extends Record<string, unknown> {
  message: { sender: Uint8Array, data: Uint8Array, epoch: number }
  proposal: ProposalView
  decided: ProposalView & { accepted: boolean, byTimeout: boolean }
  epoch: { epoch: number, committer: Uint8Array, candidateHash: Uint8Array, rollback: boolean }
  candidate: { epoch: number, committer: Uint8Array, valid: boolean, reason?: string }
  score: ScoreChange
  removed: { epoch: number }
  /** This member joined through a commit the group did not keep; it must join again (the client does). */
  stale: { epoch: number }
}

export interface GroupOptions {
  identity: Identity
  cipherSuite: CiphersuiteImpl
  clock: Clock
  publish: (topic: Topic, data: Uint8Array) => void
  store?: DemlsStore
  votePolicy?: VotePolicy
  commitPolicy?: CommitPolicy
}

interface CandidateEntry {
  epoch: number
  hash: Uint8Array
  hashHex: string
  wire: Uint8Array
  body: CandidateBody
  committer: Uint8Array
  receivedAt: number
  valid: boolean
  failure?: ScoreEvent
  reason?: string
  newState?: ClientState
  /** The governance after the commit. */
  newGov?: Governance
  /** The commit removes this member: it cannot process it (no path secret for it), it only leaves. */
  removesMe?: boolean
  certDigests: string[]
  /** What the batch takes up (see PlannedBatch.slots): a left-out proposal for one of these is not censorship. */
  slots: Set<string>
  byEpochSteward: boolean
  welcomeRefs: Uint8Array[]
}

interface HistoryEntry {
  epoch: number
  preState: ClientState | undefined
  preGov: Governance | undefined
  preStateBytes: Uint8Array | undefined
  /** Undefined for the commit that let a joiner in: it never had that candidate. */
  wire: Uint8Array | undefined
  hash: Uint8Array
  proposalCount: number
  committer: Uint8Array
  byEpochSteward: boolean
  /** Our requests this commit carried (so left the outbox): a rollback of it puts them back. */
  retired: OutboxItem[]
}

interface FreezeRound {
  epoch: number
  startedAt: number
  endsAt: number
  candidates: Map<string, CandidateEntry>
}

interface Approved {
  session: VotingSession
  approvedAt: number
}

interface OutboxItem {
  payload: ProposalPayload
  attempts: number
  /** The digest of the proposal made for it in the current epoch, if any. */
  digest: string | undefined
}

interface BufferedKeyPackage {
  decoded: DecodedKeyPackage
  bytes: Uint8Array
  firstEpoch: number
  seenAt: number
}

interface StoredWelcome extends WelcomeRecord {
  refHexes: string[]
  wire: Uint8Array
}

/** An epoch's MLS state with the governance in force in it. */
interface EpochView {
  state: ClientState
  gov: Governance
}

interface CommitContext {
  /** Layer 1 order for this candidate: position 0 is the epoch steward. */
  primaryWalk: Uint8Array[]
  authorized: Set<string> | 'any'
}

/** What ranks a candidate against another (most proposals, epoch steward's, smallest committer, lowest hash). */
interface RankKey {
  proposalCount: number
  byEpochSteward: boolean
  committer: Uint8Array
  hash: Uint8Array
}

/** Certificates that lead to MLS proposals, and what they change. */
interface PlannedBatch {
  certificates: Certificate[]
  proposals: Proposal[]
  removed: Set<string>
  election: Extract<ProposalPayload, { kind: 'election' }> | undefined
  deadlock: boolean
  newGovernance: Governance
  /**
   * What the batch takes up: `m:<member id>` for each member it adds or removes, `election`, `deadlock`. A batch holds
   * one proposal per slot, so an approved proposal for a slot the batch already fills could not have joined it.
   */
  slots: Set<string>
}

/** Commits listed in an announcement: enough to find where two members' histories part within the rollback window. */
const ANNOUNCED_COMMITS = MAX_ROLLBACK_EPOCHS
/** Announce every interval for this many intervals after an epoch change, then ANNOUNCE_IDLE_FACTOR times less often. */
const ANNOUNCE_RECENT_INTERVALS = 4
const ANNOUNCE_IDLE_FACTOR = 8

function announced (h: { epoch: number, hash: Uint8Array, proposalCount: number, committer: Uint8Array, byEpochSteward: boolean }): AnnouncedCommit {
  return { epoch: h.epoch, candidateHash: h.hash, proposalCount: h.proposalCount, committer: h.committer, byEpochSteward: h.byEpochSteward }
}

function isCommittable (p: ProposalPayload): boolean {
  if (p.kind === 'emergency') return p.violation === VIOLATION.scoreBelowThreshold || p.violation === VIOLATION.deadlock
  return true
}

export class DemlsGroup extends Emitter<GroupEvents> {
  readonly groupId: Uint8Array
  readonly groupIdHex: string
  private readonly identity: Identity
  private readonly cs: CiphersuiteImpl
  private readonly clock: Clock
  private readonly publishFn: (topic: Topic, data: Uint8Array) => void
  private readonly store: DemlsStore | undefined
  private readonly votePolicy: VotePolicy
  private readonly commitPolicy: CommitPolicy

  private mls: ClientState
  private gov: Governance
  private memberList: Member[] = []
  private byKey = new Map<string, Member>()
  private byId = new Map<string, Member>()
  private epochStartedAt: number
  private scores: PeerScores
  private closedFlag = false
  private removedFlag = false
  private staleFlag = false

  /** Voter sets of the current epoch: all members, and the stewards of the list in force (stewards mode). */
  private votersCache: { all: Map<string, Member>, stewards: Map<string, Member> | undefined } | undefined
  /** Set when something happened that timers depend on; an inbound message runs the timer pass only then. */
  private dirty = true
  private readonly sessions = new Map<string, VotingSession>()
  private readonly pendingVotes = new Map<string, Vote[]>()
  private readonly decided = new Set<string>()
  private readonly approved = new Map<string, Approved>()
  private readonly myVotes = new Set<string>()
  private readonly voteDue = new Map<string, number>()
  private readonly keyPackages = new Map<string, BufferedKeyPackage>()
  private outbox: OutboxItem[] = []
  private freeze: FreezeRound | undefined
  private myCandidateEpoch = -1
  private counteredEpoch = -1
  private history: HistoryEntry[] = []
  private readonly futureMessages: Array<{ epoch: number, env: Envelope, wire: Uint8Array }> = []
  private readonly futureCandidates: Array<{ epoch: number, env: Envelope, wire: Uint8Array }> = []
  private readonly welcomes = new Map<string, StoredWelcome>()
  private readonly exportKeys = new Map<number, Uint8Array>()
  private readonly penalized = new Set<string>()
  private readonly lastSeen = new Map<string, number>()
  private readonly pendingReplies = new Map<string, TimerHandle>()
  private highestSeenEpoch = 0
  private readonly commitRequests = new Map<string, { count: number, lastAt: number }>()
  private lastAnnounceAt = -Infinity
  private readonly resent = new Set<number>()
  private retryRound = 0
  private electionNeededSince: number | undefined
  private deadlockNeededSince: number | undefined
  private readonly lowScoreSince = new Map<string, number>()
  /**
   * Members whose removal for a low score the group voted down, with this member's score of them at that moment. The
   * group judged that evidence; a new ECP waits for new evidence (a lower score), or its creator loses points again
   * and again for the same disagreement.
   */
  private readonly rejectedRemovals = new Map<string, number>()
  private readonly layer2Fired = new Set<string>()
  private timer: TimerHandle | undefined
  private timerAt = Infinity
  private queue: Promise<void> = Promise.resolve()
  private queued = 0

  private constructor (groupId: Uint8Array, state: ClientState, gov: Governance, options: GroupOptions) {
    super()
    this.groupId = groupId
    this.groupIdHex = toHex(groupId)
    this.identity = options.identity
    this.cs = options.cipherSuite
    this.clock = options.clock
    this.publishFn = options.publish
    this.store = options.store
    this.votePolicy = options.votePolicy ?? (p => p.valid)
    this.commitPolicy = options.commitPolicy ?? (c => c)
    this.mls = state
    this.gov = gov
    this.scores = new PeerScores(this.gov.config.scoring)
    this.epochStartedAt = this.clock.now()
    this.refreshMembers()
    this.highestSeenEpoch = this.epoch
  }

  /**
   * Wraps an MLS state (new group, or joined from a Welcome) into a De-MLS group. `gov` is the governance in force:
   * for a new group the one in its GroupContext, for a joiner the one its Welcome's GroupInfo carried.
   */
  static fromState (state: ClientState, options: GroupOptions, gov: Governance = governanceOf(state), origin?: AnnouncedCommit): DemlsGroup {
    const g = new DemlsGroup(state.groupContext.groupId, state, gov, options)
    // A joiner remembers the commit that let it in: if the group kept another commit for that epoch, its Welcome
    // came from a losing branch and it must join again.
    if (origin !== undefined) {
      g.history.push({
        epoch: origin.epoch, preState: undefined, preGov: undefined, preStateBytes: undefined, wire: undefined,
        hash: origin.candidateHash, proposalCount: origin.proposalCount, committer: origin.committer, byEpochSteward: origin.byEpochSteward,
        retired: []
      })
    }
    g.persist()
    g.schedule(g.clock.now())
    return g
  }

  /** Restores a group from its persisted record; it then asks the others what it missed. */
  static restore (record: Uint8Array, options: GroupOptions): DemlsGroup {
    const r = decodeGroupRecord(record)
    const state = decodeState(r.state)
    const g = new DemlsGroup(state.groupContext.groupId, state, decodeGovernance(r.governance), options)
    g.closedFlag = r.closed
    g.scores = new PeerScores(g.gov.config.scoring, r.scores.map(([id, s]) => [toHex(id), s]))
    g.history = r.history.map(h => ({
      epoch: h.epoch,
      preState: h.preState === undefined ? undefined : decodeState(h.preState),
      preGov: h.preGovernance === undefined ? undefined : decodeGovernance(h.preGovernance),
      preStateBytes: h.preState,
      wire: h.wire,
      hash: h.hash,
      proposalCount: h.proposalCount,
      committer: h.committer,
      byEpochSteward: h.byEpochSteward,
      // Not persisted: after a restart, a rollback of a commit that carried our request does not bring it back.
      retired: []
    }))
    g.outbox = r.outbox.map(o => ({ payload: o.payload, attempts: o.attempts, digest: undefined }))
    for (const w of r.welcomes) g.storeWelcome(w)
    g.restoredKeyPackages = r.keyPackages
    if (!g.closedFlag) {
      g.requestCommit(g.epoch)
      g.schedule(g.clock.now())
    }
    return g
  }

  private restoredKeyPackages: Array<{ bytes: Uint8Array, firstEpoch: number }> = []

  /** Re-validates key packages restored from the store (async, so not in the constructor). */
  async resume (): Promise<void> {
    const kps = this.restoredKeyPackages
    this.restoredKeyPackages = []
    await this.serial(async () => {
      for (const k of kps) await this.bufferKeyPackage(k.bytes, k.firstEpoch)
    })
  }

  // ---- accessors ----------------------------------------------------------------------------------------------

  get epoch (): number {
    return epochOf(this.mls)
  }

  get memberId (): Uint8Array {
    return this.identity.memberId
  }

  get closed (): boolean {
    return this.closedFlag
  }

  get removed (): boolean {
    return this.removedFlag
  }

  get config (): GroupConfig {
    return this.gov.config
  }

  get governance (): Governance {
    return this.gov
  }

  get members (): Uint8Array[] {
    return this.memberList.map(m => m.memberId)
  }

  /** The MLS epoch authenticator (RFC 9420 §8.7): equal for two members exactly when they share the epoch's state. */
  get epochAuthenticator (): Uint8Array {
    return epochAuthenticator(this.mls)
  }

  get stewardList (): Uint8Array[] {
    return [...this.gov.stewards.stewards]
  }

  /** The current MLS state (immutable value). */
  get mlsState (): ClientState {
    return this.mls
  }

  /** DE-MLS "Epoch steward" and "Backup steward" for the current epoch (undefined when the list does not cover it). */
  get epochSteward (): Uint8Array | undefined {
    return this.timingWalk()[0]
  }

  get backupSteward (): Uint8Array | undefined {
    return this.timingWalk()[1]
  }

  get inFreeze (): boolean {
    return this.freeze !== undefined
  }

  score (memberId: Uint8Array): number {
    return this.scores.get(memberId)
  }

  scoreTable (): Array<[string, number]> {
    return this.scores.entries()
  }

  /** Proposals currently open or approved in this epoch. */
  proposals (): Array<ProposalView & { decision: boolean | undefined, votes: number }> {
    return [...this.sessions.values()].filter(s => s.header.epoch === this.epoch).map(s => ({
      ...this.view(s.header, s.digestHex),
      decision: s.decision,
      votes: s.votes.length
    }))
  }

  /** Resolves when every queued operation has run. */
  async idle (): Promise<void> {
    while (this.queued > 0) await this.queue
  }

  // ---- public operations -------------------------------------------------------------------------------------

  /** Sends an application message to the group (MLS encrypted). */
  async send (data: Uint8Array): Promise<void> {
    await this.serial(async () => {
      this.ensureOpen()
      await this.sendApp({ type: 'chat', data })
    })
  }

  /** Proposes adding the holder of a key package (the MLSMessage bytes as published on the welcome topic). */
  async invite (keyPackage: Uint8Array): Promise<void> {
    await this.serial(async () => {
      this.ensureOpen()
      const kp = await decodeKeyPackage(keyPackage, this.cs)
      if (this.byId.has(toHex(kp.memberId))) throw new InvalidKeyPackageError('that member is already in the group')
      await this.bufferKeyPackage(keyPackage, this.epoch)
      this.enqueueOutbox({ kind: 'add', keyPackage })
      await this.tick()
    })
  }

  /** Proposes removing a member (voted on). */
  async remove (memberId: Uint8Array): Promise<void> {
    await this.serial(async () => {
      this.ensureOpen()
      if (!this.byId.has(toHex(memberId))) throw new NotMemberError(`${toHex(memberId)} is not a member`)
      this.enqueueOutbox({ kind: 'remove', memberId })
      await this.tick()
    })
  }

  /**
   * Leaves the group: a removal of ourselves, approved without a vote and committed by another steward. The last
   * member just closes the group.
   */
  async leave (): Promise<void> {
    await this.serial(async () => {
      this.ensureOpen()
      if (this.memberList.length === 1) {
        this.removedFlag = true
        this.stop()
        this.persist()
        this.emit('removed', { epoch: this.epoch })
        return
      }
      this.enqueueOutbox({ kind: 'remove', memberId: this.identity.memberId })
      await this.tick()
    })
  }

  /** Casts this member's vote on an open proposal. */
  async vote (digest: string, accept: boolean): Promise<void> {
    await this.serial(async () => {
      this.ensureOpen()
      const s = this.sessions.get(digest)
      if (s === undefined) throw new InvalidProposalError(`no open proposal ${digest}`)
      await this.castVote(s, accept)
    })
  }

  /**
   * Commits the approved proposals now if this member may (a steward in line, the elected list, or anyone in deadlock
   * recovery), without waiting for its turn. Returns whether a candidate was sent.
   */
  async commitNow (): Promise<boolean> {
    return await this.serial(async () => {
      this.ensureOpen()
      return await this.buildCandidate(true)
    })
  }

  /** Ends the current freeze window now (tests and benchmarks; normally its timer does). */
  async finishFreeze (): Promise<boolean> {
    return await this.serial(async () => {
      if (this.freeze === undefined) return false
      await this.endFreeze()
      return true
    })
  }

  /** Asks the group for the commit that left our epoch, in case it moved on without us (after a join or restart). */
  async catchUp (): Promise<void> {
    await this.serial(async () => {
      if (this.closedFlag) return
      this.commitRequests.delete(`${this.epoch}:`)
      this.requestCommit(this.epoch)
    })
  }

  /** Handles one inbound envelope (already decoded; `wire` is its exact bytes). */
  async handle (env: Envelope, wire: Uint8Array): Promise<void> {
    if (this.closedFlag) return
    await this.serial(async () => {
      if (this.closedFlag) return
      await this.dispatch(env, wire)
    })
  }

  /** Stops the timers; the group can be restored from the store later. */
  stop (): void {
    this.closedFlag = true
    if (this.timer !== undefined) this.clock.clearTimer(this.timer)
    this.timer = undefined
    for (const t of this.pendingReplies.values()) this.clock.clearTimer(t)
    this.pendingReplies.clear()
  }

  // ---- plumbing ----------------------------------------------------------------------------------------------

  private async serial<T> (job: () => Promise<T>): Promise<T> {
    this.queued++
    const run = this.queue.then(job)
    this.queue = run.then(() => {}, () => {}).finally(() => { this.queued-- })
    return await run
  }

  private ensureOpen (): void {
    if (this.closedFlag) throw new GroupClosedError()
  }

  private now (): number {
    return this.clock.now()
  }

  private publish (topic: Topic, env: Envelope): Uint8Array {
    const wire = encodeEnvelope(env)
    this.publishFn(topic, wire)
    return wire
  }

  private refreshMembers (): void {
    this.memberList = membersOf(this.mls)
    this.byKey = new Map(this.memberList.map(m => [toHex(m.publicKey), m]))
    this.byId = new Map(this.memberList.map(m => [toHex(m.memberId), m]))
    this.scores.syncMembers(this.memberList.map(m => m.memberId))
    this.votersCache = undefined
    this.dirty = true
  }

  private schedule (at: number): void {
    if (this.closedFlag) return
    if (this.timer !== undefined && this.timerAt <= at) return
    if (this.timer !== undefined) this.clock.clearTimer(this.timer)
    this.timerAt = at
    this.timer = this.clock.setTimer(() => {
      this.timer = undefined
      this.timerAt = Infinity
      this.serial(async () => { await this.tick() }).catch(() => {})
    }, Math.max(0, at - this.now()))
  }

  private persist (): void {
    if (this.store === undefined) return
    const record: GroupRecord = {
      state: encodeState(this.mls),
      governance: encodeGovernance(this.gov),
      closed: this.closedFlag,
      history: this.history.map((h): HistoryRecord => ({
        epoch: h.epoch,
        preState: h.preStateBytes,
        preGovernance: h.preStateBytes === undefined || h.preGov === undefined ? undefined : encodeGovernance(h.preGov),
        wire: h.wire,
        hash: h.hash,
        proposalCount: h.proposalCount,
        committer: h.committer,
        byEpochSteward: h.byEpochSteward
      })),
      scores: this.scores.entries().map(([k, v]) => [Uint8Array.from(Buffer.from(k, 'hex')), v]),
      outbox: this.outbox.map((o): OutboxRecord => ({ payload: o.payload, attempts: o.attempts })),
      keyPackages: [...this.keyPackages.values()].map(k => ({ bytes: k.bytes, firstEpoch: k.firstEpoch })),
      welcomes: [...new Set(this.welcomes.values())].map(w => ({ commit: w.commit, refs: w.refs, welcome: w.welcome }))
    }
    this.store.saveGroup(this.groupIdHex, this.epoch, encodeGroupRecord(record))
  }

  private view (h: ProposalHeader, digest: string): ProposalView {
    return {
      digest,
      proposalId: h.proposalId,
      epoch: h.epoch,
      kind: h.payload.kind,
      payload: h.payload,
      owner: memberIdOf(h.owner),
      valid: this.judge(h)
    }
  }

  private applyScore (memberId: Uint8Array, event: ScoreEvent): void {
    if (!this.byId.has(toHex(memberId))) return
    const change = this.scores.apply(memberId, event)
    // A score at the threshold is put up for removal by the timer pass.
    this.dirty = true
    this.emit('score', change)
  }

  // ---- inbound -----------------------------------------------------------------------------------------------

  private noteEpoch (epoch: number): void {
    if (epoch > this.highestSeenEpoch) {
      this.highestSeenEpoch = epoch
      this.dirty = true
    }
    if (epoch > this.epoch) this.requestCommit(this.epoch)
  }

  private async dispatch (env: Envelope, wire: Uint8Array): Promise<void> {
    switch (env.type) {
      case 'mls':
        this.noteEpoch(env.epoch)
        if (env.epoch > this.epoch) {
          if (this.futureMessages.length >= MAX_FUTURE_MESSAGES) this.futureMessages.shift()
          this.futureMessages.push({ epoch: env.epoch, env, wire })
          return
        }
        await this.onMls(env.message)
        break
      case 'candidate':
        this.noteEpoch(env.epoch)
        this.lastSeen.set(`c:${toHex(sha256(wire))}`, this.now())
        if (env.epoch > this.epoch) {
          if (this.futureCandidates.length >= MAX_FUTURE_CANDIDATES) this.futureCandidates.shift()
          this.futureCandidates.push({ epoch: env.epoch, env, wire })
          return
        }
        await this.onCandidate(env, wire)
        break
      case 'announce':
        this.noteEpoch(env.epoch)
        this.onAnnounce(env)
        break
      case 'commit-request':
        this.onCommitRequest(env.epoch, env.candidateHash)
        break
      case 'key-package':
        await this.onKeyPackage(env.keyPackage)
        break
      case 'welcome':
        for (const ref of env.keyPackageRefs) this.lastSeen.set(`w:${toHex(ref)}`, this.now())
        break
      case 'welcome-request':
        this.replyWelcome(toHex(env.keyPackageRef))
        break
    }
    if (this.dirty) await this.tick()
  }

  private async onMls (message: Uint8Array): Promise<void> {
    let dec
    try {
      dec = await decryptApplication(this.mls, message, this.cs)
    } catch {
      return // not decryptable by us (old epoch, duplicate, or not for this group): gossip delivers such things
    }
    this.mls = dec.state
    let app: AppMessage
    try {
      app = decodeAppMessage(dec.data)
    } catch {
      return
    }
    const sender = this.memberList.find(m => m.leafIndex === dec.senderLeafIndex)
    switch (app.type) {
      case 'chat':
        if (sender !== undefined) this.emit('message', { sender: sender.memberId, data: app.data, epoch: this.epoch })
        break
      case 'proposal':
        // A key package to vote on is checked first (suite, signature, credential): an invalid one gets a NO.
        if (app.header.payload.kind === 'add' && app.header.epoch === this.epoch) await this.bufferKeyPackage(app.header.payload.keyPackage, this.epoch)
        this.onProposal(app.header, app.votes)
        break
      case 'vote':
        // MLS authenticated the sender: a vote from its own owner is counted now, its signature checked when it
        // goes into a certificate.
        this.onVote(toHex(app.proposalDigest), app.vote, sender !== undefined && bytesEqual(sender.publicKey, app.vote.owner))
        break
    }
  }

  // ---- voting ------------------------------------------------------------------------------------------------

  /** Who votes on a proposal of this kind in this epoch, and whether it is a self-removal (no vote needed). */
  private votersFor (p: ProposalPayload, owner: Uint8Array, view?: EpochView, members = this.memberList): { voters: Map<string, Member>, selfLeave: boolean } {
    const selfLeave = p.kind === 'remove' && bytesEqual(p.memberId, memberIdOf(owner))
    if (view === undefined || (view.state === this.mls && view.gov === this.gov)) {
      this.votersCache ??= { all: this.byKey, stewards: this.stewardVoters({ state: this.mls, gov: this.gov }, this.memberList) }
      const stewardsOnly = this.gov.config.mode === 'stewards' && (p.kind === 'add' || p.kind === 'remove') && this.votersCache.stewards !== undefined
      return { voters: stewardsOnly ? this.votersCache.stewards as Map<string, Member> : this.votersCache.all, selfLeave }
    }
    const stewards = view.gov.config.mode === 'stewards' && (p.kind === 'add' || p.kind === 'remove') ? this.stewardVoters(view, members) : undefined
    return { voters: stewards ?? new Map(members.map(m => [toHex(m.publicKey), m])), selfLeave }
  }

  /** In "stewards" mode, the members of the list in force vote on membership changes (undefined: no list governs). */
  private stewardVoters (view: EpochView, members: Member[]): Map<string, Member> | undefined {
    const gov = view.gov
    const epoch = epochOf(view.state)
    let list = members
    if (!coversEpoch(gov.stewards, epoch)) return undefined
    const stewards = idSet(gov.stewards.stewards)
    const inList = members.filter(m => stewards.has(toHex(m.memberId)))
    if (inList.length === 0) return undefined
    list = inList
    return new Map(list.map(m => [toHex(m.publicKey), m]))
  }

  private onProposal (header: ProposalHeader, votes: Vote[]): void {
    if (!bytesEqual(header.groupId, this.groupId) || header.epoch !== this.epoch) return
    if (!this.byKey.has(toHex(header.owner))) return
    const digest = proposalDigest(header)
    const digestHex = toHex(digest)
    if (this.decided.has(digestHex) && !this.sessions.has(digestHex)) return
    let session = this.sessions.get(digestHex)
    if (session === undefined) {
      // DE-MLS "Flow": no new proposals during the freeze; "Partial Freeze Semantics": while an ECP is open, lower
      // priority proposals are dropped.
      if (this.freeze !== undefined) return
      if (header.payload.kind !== 'emergency' && this.openEmergency()) return
      // An application-level bound on open proposals per member (DE-MLS "Single steward" 5), against spam.
      let open = 0
      for (const s of this.sessions.values()) if (s.decision === undefined && bytesEqual(s.header.owner, header.owner)) open++
      if (open >= MAX_OPEN_PROPOSALS_PER_MEMBER) return
      const { voters, selfLeave } = this.votersFor(header.payload, header.owner)
      if (!selfLeave && header.expectedVoters !== voters.size) return
      const now = this.now()
      if (now > header.expiration || header.timestamp > now + this.gov.config.timers.toleranceMs) return
      try {
        verifyVoteChain(votes, header)
        for (const v of votes) verifyVote(v, header, digest, { now, skewMs: this.gov.config.timers.toleranceMs })
      } catch {
        return
      }
      if (this.sessions.size >= MAX_SESSIONS) this.evictSession()
      session = new VotingSession(header, digest, now)
      this.sessions.set(digestHex, session)
      for (const v of votes) if (voters.has(toHex(v.owner)) || v === votes[0]) session.add(v, now)
      const pending = this.pendingVotes.get(digestHex)
      this.pendingVotes.delete(digestHex)
      for (const v of pending ?? []) this.acceptVote(session, v, voters)
      const view = this.view(header, digestHex)
      this.dirty = true
      this.emit('proposal', view)
      this.evaluate(session, selfLeave)
      if (voters.has(toHex(this.identity.publicKey)) && !session.hasVoted(this.identity.publicKey) && !selfLeave) {
        const decision = this.votePolicy(view)
        if (decision !== undefined) this.voteDue.set(digestHex, now)
        else this.voteDue.set(digestHex, now + this.gov.config.timers.votingDelayMs)
      }
    } else {
      const { voters, selfLeave } = this.votersFor(header.payload, header.owner)
      for (const v of votes) this.acceptVote(session, v, voters)
      this.evaluate(session, selfLeave)
    }
  }

  private acceptVote (session: VotingSession, vote: Vote, voters: Map<string, Member>, fromOwner = false): boolean {
    if (!voters.has(toHex(vote.owner)) || session.hasVoted(vote.owner)) return false
    try {
      verifyVote(vote, session.header, session.digest, { now: this.now(), skewMs: this.gov.config.timers.toleranceMs, skipSignature: fromOwner })
    } catch {
      return false
    }
    return session.add(vote, this.now(), !fromOwner)
  }

  private onVote (digestHex: string, vote: Vote, fromOwner = false): void {
    const session = this.sessions.get(digestHex)
    if (session === undefined) {
      if (this.decided.has(digestHex)) return
      const list = this.pendingVotes.get(digestHex) ?? []
      if (list.length < 1024 && this.pendingVotes.size < MAX_SESSIONS) {
        list.push(vote)
        this.pendingVotes.set(digestHex, list)
      }
      return
    }
    const { voters, selfLeave } = this.votersFor(session.header.payload, session.header.owner)
    if (this.acceptVote(session, vote, voters, fromOwner)) this.evaluate(session, selfLeave)
  }

  private evaluate (session: VotingSession, selfLeave: boolean): void {
    if (session.decision !== undefined) return
    let result: boolean | undefined
    if (selfLeave) {
      // DE-MLS "Self-Removal": a leave is auto-finalized YES when creator and target are the same identity.
      const first = session.ownerVote
      if (first !== undefined && first.vote) {
        session.decision = true
        session.decidedAt = this.now()
        result = true
      }
    } else {
      // Every vote but the creator's was checked against the voter set when it was added.
      const { voters } = this.votersFor(session.header.payload, session.header.owner)
      const first = session.ownerVote
      const ownerCounts = first === undefined || voters.has(toHex(first.owner))
      const yes = session.yes - (!ownerCounts && first?.vote === true ? 1 : 0)
      const total = session.votes.length - (ownerCounts ? 0 : 1)
      const timedOut = this.now() >= session.header.timestamp + this.gov.config.timers.consensusTimeoutMs
      const d = tally(session.header.expectedVoters, yes, total - yes, { timedOut, livenessYes: session.header.livenessYes })
      if (d !== undefined) {
        session.decision = d
        session.decidedAt = this.now()
        session.decidedByTimeout = timedOut && tally(session.header.expectedVoters, yes, total - yes, { timedOut: false, livenessYes: session.header.livenessYes }) === undefined
        result = d
      }
    }
    if (result === undefined) return
    this.voteDue.delete(session.digestHex)
    this.rememberDecided(session.digestHex)
    this.onDecided(session, result)
  }

  private rememberDecided (digestHex: string): void {
    this.decided.add(digestHex)
    if (this.decided.size > MAX_DECIDED_REMEMBERED) this.decided.delete(this.decided.values().next().value as string)
  }

  private onDecided (session: VotingSession, accepted: boolean): void {
    const h = session.header
    this.dirty = true
    const view = this.view(h, session.digestHex)
    this.emit('decided', { ...view, accepted, byTimeout: session.decidedByTimeout })
    const creator = memberIdOf(h.owner)
    if (h.payload.kind === 'emergency') {
      // DE-MLS "Consensus Types" 3: reward the creator of an accepted ECP, penalize the creator of a rejected one.
      this.applyScore(creator, accepted ? 'emergencyYesCreator' : 'emergencyNoCreator')
      if (accepted && h.payload.target.length > 0) {
        const t = h.payload.target
        if (h.payload.violation === VIOLATION.brokenCommit || h.payload.violation === VIOLATION.misbehavingCommit) this.applyScore(t, 'brokenCommit')
        if (h.payload.violation === VIOLATION.brokenProposal) this.applyScore(t, 'brokenProposal')
        if (h.payload.violation === VIOLATION.censorship) this.applyScore(t, 'censorship')
      }
    }
    if (!accepted) {
      if (h.payload.kind === 'election' && h.payload.retryRound >= this.retryRound) this.bumpRetry()
      if (h.payload.kind === 'emergency' && h.payload.violation === VIOLATION.scoreBelowThreshold && this.byId.has(toHex(h.payload.target))) {
        this.rejectedRemovals.set(toHex(h.payload.target), this.scores.get(h.payload.target))
      }
      return
    }
    if (isCommittable(h.payload) && view.valid) this.approved.set(session.digestHex, { session, approvedAt: this.now() })
  }

  private async castVote (session: VotingSession, accept: boolean): Promise<void> {
    if (session.hasVoted(this.identity.publicKey) || this.myVotes.has(session.digestHex)) return
    const owner = session.ownerVote
    if (owner === undefined) return
    const vote = createVote(this.identity.secretKey, this.identity.publicKey, session.header, session.digest, {
      vote: accept,
      timestamp: Math.max(this.now(), owner.timestamp),
      receivedHash: owner.voteHash
    })
    this.myVotes.add(session.digestHex)
    this.voteDue.delete(session.digestHex)
    session.add(vote, this.now())
    await this.sendApp({ type: 'vote', proposalDigest: session.digest, vote })
    const { selfLeave } = this.votersFor(session.header.payload, session.header.owner)
    this.evaluate(session, selfLeave)
  }

  /** Whether this member, by its own rules, accepts the proposal (the automatic vote). */
  private judge (h: ProposalHeader): boolean {
    const p = h.payload
    switch (p.kind) {
      case 'add': {
        // Key packages are validated when they are buffered; one that is not there did not pass.
        const kp = [...this.keyPackages.values()].find(k => bytesEqual(k.bytes, p.keyPackage))
        return kp !== undefined && !this.byId.has(toHex(kp.decoded.memberId))
      }
      case 'remove':
        return this.byId.has(toHex(p.memberId))
      case 'election': {
        if (p.electionEpoch !== this.epoch || p.retryRound > this.gov.config.maxReelectionAttempts) return false
        const excluded = idSet(p.excluded)
        const pending = this.pendingRemovals()
        for (const x of excluded) if (!pending.has(x) || !this.byId.has(x)) return false
        const eligible = this.memberList.map(m => m.memberId).filter(id => !excluded.has(toHex(id)))
        return isValidStewardList(p.stewards, this.epoch, p.retryRound, eligible, this.groupId, this.gov.config.snMin, this.gov.config.snMax)
      }
      case 'emergency':
        if (p.violation === VIOLATION.deadlock) {
          // Agree when our own re-elections ran out, or when approved work has waited past every steward's turn
          // (within the tolerance and one recovery step: members' timers do not fire at the same instant).
          if (this.retryRound > this.gov.config.maxReelectionAttempts || this.deadlockNeededSince !== undefined) return true
          const work = this.approvedCertificates().filter(a => a.cert.header.payload.kind !== 'election')
          if (work.length === 0) return false
          const t = this.gov.config.timers
          const deadline = Math.min(...work.map(a => a.approvedAt)) + t.batchWindowMs + Math.max(1, this.timingWalk().length) * t.commitInactivityMs
          return this.now() + t.toleranceMs + t.recoveryInactivityMs >= deadline
        }
        if (p.target.length === 0 || !this.byId.has(toHex(p.target))) return false
        if (p.violation === VIOLATION.scoreBelowThreshold) return this.scores.isBelowThreshold(p.target)
        return this.scores.get(p.target) < this.gov.config.scoring.defaultScore
    }
  }

  private openEmergency (): boolean {
    for (const s of this.sessions.values()) {
      if (s.header.epoch === this.epoch && s.decision === undefined && s.header.payload.kind === 'emergency') return true
    }
    return false
  }

  private evictSession (): void {
    let oldest: VotingSession | undefined
    for (const s of this.sessions.values()) if (oldest === undefined || s.createdAt < oldest.createdAt) oldest = s
    if (oldest !== undefined) {
      this.sessions.delete(oldest.digestHex)
      this.approved.delete(oldest.digestHex)
    }
  }

  /** Members whose removal (vote, leave or ECP) is approved in this epoch: not eligible to commit. */
  private pendingRemovals (): Set<string> {
    const out = new Set<string>()
    for (const a of this.approved.values()) {
      const p = a.session.header.payload
      if (p.kind === 'remove') out.add(toHex(p.memberId))
      if (p.kind === 'emergency' && p.violation === VIOLATION.scoreBelowThreshold) out.add(toHex(p.target))
    }
    return out
  }

  // ---- proposing ---------------------------------------------------------------------------------------------

  private async propose (payload: ProposalPayload): Promise<string> {
    const now = this.now()
    const t = this.gov.config.timers
    const { voters, selfLeave } = this.votersFor(payload, this.identity.publicKey)
    const header: ProposalHeader = {
      groupId: this.groupId,
      epoch: this.epoch,
      proposalId: randomId(),
      owner: this.identity.publicKey,
      expectedVoters: selfLeave ? this.memberList.length : voters.size,
      timestamp: now,
      expiration: now + t.proposalExpirationMs,
      livenessYes: this.gov.config.livenessYes,
      payload
    }
    const digest = proposalDigest(header)
    const digestHex = toHex(digest)
    const own = createVote(this.identity.secretKey, this.identity.publicKey, header, digest, { vote: true, timestamp: now })
    const session = new VotingSession(header, digest, now)
    session.add(own, now)
    if (this.sessions.size >= MAX_SESSIONS) this.evictSession()
    this.sessions.set(digestHex, session)
    this.myVotes.add(digestHex)
    this.emit('proposal', this.view(header, digestHex))
    await this.sendApp({ type: 'proposal', header, votes: [own], round: 1 })
    this.evaluate(session, selfLeave)
    return digestHex
  }

  private enqueueOutbox (payload: ProposalPayload): void {
    if (this.outbox.length >= MAX_OUTBOX) this.outbox.shift()
    this.outbox.push({ payload, attempts: 0, digest: undefined })
    this.persist()
  }

  private outboxBlocked (p: ProposalPayload): boolean {
    if (this.freeze !== undefined) return true
    if (p.kind !== 'emergency' && this.openEmergency()) return true
    return false
  }

  private outboxObsolete (p: ProposalPayload): boolean {
    if (p.kind === 'add') {
      const kp = [...this.keyPackages.values()].find(k => bytesEqual(k.bytes, p.keyPackage))
      return kp !== undefined && this.byId.has(toHex(kp.decoded.memberId))
    }
    if (p.kind === 'remove') return !this.byId.has(toHex(p.memberId))
    return false
  }

  private async driveOutbox (): Promise<void> {
    const before = this.outbox.length
    this.outbox = this.outbox.filter(o => !this.outboxObsolete(o.payload) && o.attempts <= MAX_REPROPOSALS)
    for (const item of this.outbox) {
      if (item.digest !== undefined && this.sessions.has(item.digest)) continue
      if (this.outboxBlocked(item.payload)) continue
      item.attempts++
      item.digest = await this.propose(item.payload)
    }
    if (this.outbox.length !== before) this.persist()
  }

  private async sendApp (m: AppMessage): Promise<void> {
    const r = await encryptApplication(this.mls, encodeAppMessage(m), this.cs)
    this.mls = r.state
    // Persist before publishing: a restart must never reuse a sender ratchet generation.
    this.persist()
    this.publish('app', { type: 'mls', groupId: this.groupId, epoch: this.epoch, message: r.message })
  }

  // ---- key packages ------------------------------------------------------------------------------------------

  private async onKeyPackage (bytes: Uint8Array): Promise<void> {
    let kp: DecodedKeyPackage
    try {
      kp = await decodeKeyPackage(bytes, this.cs)
    } catch {
      return
    }
    const refHex = toHex(kp.ref)
    if (this.byId.has(toHex(kp.memberId))) {
      // A joiner re-announcing after it was added missed its Welcome: serve it again.
      this.replyWelcome(refHex)
      return
    }
    await this.bufferKeyPackage(bytes, this.epoch, kp)
  }

  private async bufferKeyPackage (bytes: Uint8Array, firstEpoch: number, decoded?: DecodedKeyPackage): Promise<void> {
    let kp = decoded
    if (kp === undefined) {
      try {
        kp = await decodeKeyPackage(bytes, this.cs)
      } catch {
        return
      }
    }
    const refHex = toHex(kp.ref)
    if (this.keyPackages.has(refHex)) return
    // One buffered key package per joiner: a newer one replaces the older.
    for (const [k, v] of this.keyPackages) if (bytesEqual(v.decoded.memberId, kp.memberId)) this.keyPackages.delete(k)
    if (this.keyPackages.size >= MAX_BUFFERED_KEY_PACKAGES) this.keyPackages.delete(this.keyPackages.keys().next().value as string)
    this.keyPackages.set(refHex, { decoded: kp, bytes, firstEpoch, seenAt: this.now() })
    this.dirty = true
  }

  private hasAddFor (memberId: Uint8Array): boolean {
    for (const s of this.sessions.values()) {
      if (s.header.epoch !== this.epoch || s.decision === false) continue
      const p = s.header.payload
      if (p.kind !== 'add') continue
      const kp = [...this.keyPackages.values()].find(k => bytesEqual(k.bytes, p.keyPackage))
      if (kp !== undefined && bytesEqual(kp.decoded.memberId, memberId)) return true
    }
    return this.outbox.some(o => {
      if (o.payload.kind !== 'add') return false
      const kp = o.payload.keyPackage
      return [...this.keyPackages.values()].some(k => bytesEqual(k.bytes, kp) && bytesEqual(k.decoded.memberId, memberId))
    })
  }

  /**
   * DE-MLS "Single steward" 3: the steward in line proposes adding announced joiners, the next ones after a wait each.
   * "Inactivity Timer" 3 (voting inactivity): when no steward has done so after commit + recovery inactivity, any
   * member may, in member-id order.
   */
  private async driveKeyPackages (now: number): Promise<number> {
    let next = Infinity
    if (this.freeze !== undefined || this.openEmergency()) return next
    const t = this.gov.config.timers
    const me = this.identity.memberId
    const stewards = this.proposerWalk()
    const sPos = stewards.findIndex(id => bytesEqual(id, me))
    const others = recoveryWalk(this.memberList.map(m => m.memberId).filter(this.eligibleForTiming()))
    const oPos = others.findIndex(id => bytesEqual(id, me))
    for (const [refHex, k] of this.keyPackages) {
      if (this.epoch - k.firstEpoch > KEY_PACKAGE_BUFFER_EPOCHS) {
        this.keyPackages.delete(refHex)
        continue
      }
      if (this.byId.has(toHex(k.decoded.memberId)) || this.hasAddFor(k.decoded.memberId)) continue
      const since = Math.max(k.seenAt, this.epochStartedAt)
      let due = Infinity
      if (sPos >= 0) due = since + sPos * t.recoveryInactivityMs
      if (oPos >= 0) due = Math.min(due, since + t.commitInactivityMs + (oPos + 1) * t.recoveryInactivityMs)
      if (due === Infinity) continue
      if (now >= due) await this.propose({ kind: 'add', keyPackage: k.bytes })
      else next = Math.min(next, due)
    }
    return next
  }

  // ---- stewards and timing -----------------------------------------------------------------------------------

  private eligibleForTiming (): (id: Uint8Array) => boolean {
    const pending = this.pendingRemovals()
    return id => this.byId.has(toHex(id)) && !pending.has(toHex(id))
  }

  /** The Layer 1 order for the current epoch under the installed list (empty when the list does not cover it). */
  private timingWalk (): Uint8Array[] {
    const s = this.gov.stewards
    if (!coversEpoch(s, this.epoch)) return []
    return stewardWalk(s.stewards, this.epoch - s.startEpoch, this.eligibleForTiming())
  }

  /** Who proposes on behalf of joiners: the stewards in line, or every member by id when no list governs. */
  private proposerWalk (): Uint8Array[] {
    const w = this.timingWalk()
    if (w.length > 0) return w
    const eligible = this.eligibleForTiming()
    return recoveryWalk(this.memberList.map(m => m.memberId).filter(eligible))
  }

  /** The approved proposals this member would commit now, canonically ordered (DE-MLS: by SHA256(proposal)). */
  private approvedCertificates (): Array<{ cert: Certificate, approvedAt: number, digest: string }> {
    const out: Array<{ cert: Certificate, approvedAt: number, digest: string }> = []
    for (const [digest, a] of this.approved) {
      if (a.session.header.epoch !== this.epoch) continue
      out.push({ cert: a.session.certificate(), approvedAt: a.approvedAt, digest })
    }
    out.sort((a, b) => a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0)
    return out
  }

  /**
   * Plans a commit from certificates: drops what cannot go together (our own removal, duplicates, conflicts), keeps
   * one election and one deadlock ECP, caps the batch, and derives the MLS proposals in certificate order.
   */
  private async planBatch (certs: Certificate[], view: EpochView, committer: Uint8Array): Promise<PlannedBatch> {
    const gov = view.gov
    const state = view.state
    const members = membersOf(state)
    const byId = new Map(members.map(m => [toHex(m.memberId), m]))
    const out: PlannedBatch = { certificates: [], proposals: [], removed: new Set(), election: undefined, deadlock: false, newGovernance: gov, slots: new Set() }
    const added = new Set<string>()
    for (const cert of certs) {
      if (out.certificates.length >= gov.config.commitBatchMax) break
      const p = cert.header.payload
      if (p.kind === 'add') {
        let kp: DecodedKeyPackage
        try {
          kp = await decodeKeyPackage(p.keyPackage, this.cs)
        } catch {
          continue
        }
        const id = toHex(kp.memberId)
        if (byId.has(id) || added.has(id)) continue
        added.add(id)
        out.slots.add(`m:${id}`)
        out.certificates.push(cert)
        out.proposals.push({ proposalType: 'add', add: { keyPackage: kp.keyPackage } })
      } else if (p.kind === 'remove' || (p.kind === 'emergency' && p.violation === VIOLATION.scoreBelowThreshold)) {
        const target = p.kind === 'remove' ? p.memberId : p.target
        const id = toHex(target)
        const m = byId.get(id)
        if (m === undefined || out.removed.has(id) || bytesEqual(target, committer)) continue
        out.removed.add(id)
        out.slots.add(`m:${id}`)
        out.certificates.push(cert)
        out.proposals.push({ proposalType: 'remove', remove: { removed: m.leafIndex } })
      } else if (p.kind === 'election') {
        if (out.election !== undefined) continue
        out.election = p
        out.slots.add('election')
        out.certificates.push(cert)
      } else if (p.kind === 'emergency' && p.violation === VIOLATION.deadlock) {
        if (out.deadlock) continue
        out.deadlock = true
        out.slots.add('deadlock')
        out.certificates.push(cert)
      }
    }
    // An election changes the steward list from the next epoch on. The list is not put in the GroupContext (a
    // GroupContextExtensions proposal would need an update path, and ts-mls 1.6.4 encrypts path secrets under the
    // pre-proposal GroupContext, which its own receivers then fail to decrypt); instead the commit's authenticated
    // data carries the digest of the governance after it, which binds it into the MLS transcript.
    out.newGovernance = out.election === undefined
      ? gov
      : {
          config: gov.config,
          stewards: { stewards: out.election.stewards, startEpoch: epochOf(state) + 1, electionEpoch: out.election.electionEpoch, retryRound: out.election.retryRound }
        }
    return out
  }

  /** DE-MLS "Commit validation service": who may commit a batch, and the Layer 1 order it is judged against. */
  private commitContext (view: EpochView, batch: Pick<PlannedBatch, 'removed' | 'election' | 'deadlock'>): CommitContext {
    const gov = view.gov
    const epoch = epochOf(view.state)
    const members = membersOf(view.state)
    const ids = idSet(members.map(m => m.memberId))
    const eligible = (id: Uint8Array): boolean => ids.has(toHex(id)) && !batch.removed.has(toHex(id))
    let primary: Uint8Array[] = []
    const authorized = new Set<string>()
    if (coversEpoch(gov.stewards, epoch)) primary = stewardWalk(gov.stewards.stewards, epoch - gov.stewards.startEpoch, eligible)
    for (const id of primary) authorized.add(toHex(id))
    if (batch.election !== undefined) {
      const w = stewardWalk(batch.election.stewards, 0, eligible)
      if (primary.length === 0) primary = w
      for (const id of w) authorized.add(toHex(id))
    }
    if (batch.deadlock) {
      const all = recoveryWalk(members.map(m => m.memberId).filter(eligible))
      if (primary.length === 0) primary = all
      return { primaryWalk: primary, authorized: 'any' }
    }
    return { primaryWalk: primary, authorized }
  }

  /** When this member is due to commit the approved proposals it holds (Layer 1, re-election, deadlock recovery). */
  private myCommitDue (): number | undefined {
    const approved = this.approvedCertificates()
    if (approved.length === 0) return undefined
    const me = this.identity.memberId
    if (this.pendingRemovals().has(toHex(me))) return undefined
    const t = this.gov.config.timers
    let due: number | undefined
    const consider = (at: number): void => { due = due === undefined ? at : Math.min(due, at) }
    const commitWork = approved.filter(a => a.cert.header.payload.kind !== 'election')
    const anchor = Math.min(...approved.map(a => a.approvedAt))
    const urgent = approved.filter(a => a.cert.header.payload.kind === 'emergency')
    const walk = this.timingWalk()
    const pos = walk.findIndex(id => bytesEqual(id, me))
    if (pos >= 0) {
      const base = urgent.length > 0 ? Math.min(...urgent.map(a => a.approvedAt)) : anchor + t.batchWindowMs
      consider(base + pos * t.commitInactivityMs)
    }
    const election = this.chosenElection(approved)
    if (election !== undefined) {
      const p = election.cert.header.payload as Extract<ProposalPayload, { kind: 'election' }>
      const w = stewardWalk(p.stewards, 0, this.eligibleForTiming())
      const k = w.findIndex(id => bytesEqual(id, me))
      // An election alone is committed by the new list only when the old one no longer governs.
      if (k >= 0 && (commitWork.length > 0 || walk.length === 0)) consider(election.approvedAt + k * t.recoveryInactivityMs)
    }
    const deadlock = approved.find(a => a.cert.header.payload.kind === 'emergency' && (a.cert.header.payload as { violation: number }).violation === VIOLATION.deadlock)
    if (deadlock !== undefined) {
      const w = recoveryWalk(this.memberList.map(m => m.memberId).filter(this.eligibleForTiming()))
      const k = w.findIndex(id => bytesEqual(id, me))
      if (k >= 0) consider(deadlock.approvedAt + k * t.recoveryInactivityMs)
    }
    return due
  }

  private chosenElection (approved = this.approvedCertificates()): { cert: Certificate, approvedAt: number, digest: string } | undefined {
    let best: { cert: Certificate, approvedAt: number, digest: string } | undefined
    for (const a of approved) {
      const p = a.cert.header.payload
      if (p.kind !== 'election') continue
      const bp = best?.cert.header.payload as { retryRound: number } | undefined
      if (best === undefined || p.retryRound > (bp?.retryRound ?? -1)) best = a
    }
    return best
  }

  // ---- building candidates -----------------------------------------------------------------------------------

  private async exportKeyFor (state: ClientState): Promise<Uint8Array> {
    const epoch = epochOf(state)
    let key = this.exportKeys.get(epoch)
    if (key === undefined || state !== this.mls) {
      key = await candidateKey(state, this.cs)
      if (state === this.mls) this.exportKeys.set(epoch, key)
    }
    return key
  }

  /**
   * Builds, signs, encrypts and sends a commit candidate of the approved proposals. `force` skips the "already
   * committed this epoch" guard (commitNow).
   */
  private async buildCandidate (force: boolean): Promise<boolean> {
    if (!force && this.myCandidateEpoch === this.epoch) return false
    const me = this.identity.memberId
    const approved = this.approvedCertificates()
    let certs: Certificate[] = []
    for (const a of approved) {
      const s = this.approved.get(a.digest)?.session
      if (s === undefined) continue
      const { voters, selfLeave } = this.votersFor(s.header.payload, s.header.owner)
      if (selfLeave) {
        certs.push({ header: s.header, votes: s.votes.slice(0, 1) })
        continue
      }
      const timedOut = this.now() >= s.header.timestamp + this.gov.config.timers.consensusTimeoutMs
      const votes = s.certificateVotes(v => voters.has(toHex(v.owner)), timedOut)
      if (votes === undefined) {
        // A vote counted on MLS authentication had a bad signature and the rest do not prove the decision.
        this.approved.delete(a.digest)
        continue
      }
      certs.push({ header: s.header, votes })
    }
    // Prefer the most recent election round if several were approved.
    const election = this.chosenElection(approved)
    if (election !== undefined) certs = certs.filter(c => c.header.payload.kind !== 'election' || c.header === election.cert.header)
    certs = this.commitPolicy(certs)
    if (certs.length === 0) return false
    const view: EpochView = { state: this.mls, gov: this.gov }
    const batch = await this.planBatch(certs, view, me)
    if (batch.certificates.length === 0) return false
    const ctx = this.commitContext(view, batch)
    if (ctx.authorized !== 'any' && !ctx.authorized.has(toHex(me))) return false
    const epoch = this.epoch
    const out = await commitProposals(this.mls, batch.proposals, this.cs, governanceDigest(batch.newGovernance), [governanceExtension(batch.newGovernance)])
    const sealed = sealCandidate(await this.exportKeyFor(this.mls), this.groupId, this.identity,
      { epoch, committer: me, certificates: batch.certificates, commit: out.commit, welcome: out.welcome })
    const { env, body } = sealed
    const wire = this.publish('app', env)
    this.myCandidateEpoch = epoch
    const hash = sha256(out.commit)
    const entry: CandidateEntry = {
      epoch,
      hash,
      hashHex: toHex(hash),
      wire,
      body,
      committer: me,
      receivedAt: this.now(),
      valid: true,
      newState: out.state,
      newGov: batch.newGovernance,
      certDigests: batch.certificates.map(c => toHex(proposalDigest(c.header))).sort(),
      slots: batch.slots,
      byEpochSteward: ctx.primaryWalk[0] !== undefined && bytesEqual(ctx.primaryWalk[0], me),
      welcomeRefs: await this.welcomeRefs(batch.certificates)
    }
    this.addToFreeze(entry)
    return true
  }

  private async welcomeRefs (certs: Certificate[]): Promise<Uint8Array[]> {
    const refs: Uint8Array[] = []
    for (const c of certs) {
      const p = c.header.payload
      if (p.kind !== 'add') continue
      try {
        refs.push((await decodeKeyPackage(p.keyPackage, this.cs)).ref)
      } catch {
        // a certificate's key package was checked when the candidate was judged; skip it here
      }
    }
    return refs
  }

  // ---- judging candidates ------------------------------------------------------------------------------------

  /** Opens a candidate envelope against the state of its epoch: decrypts it and checks the committer's signature. */
  private async openCandidate (env: Extract<Envelope, { type: 'candidate' }>, state: ClientState): Promise<CandidateBody | undefined> {
    try {
      const members = membersOf(state)
      return openCandidate(await this.exportKeyFor(state), env, id => members.find(m => bytesEqual(m.memberId, id))?.publicKey)
    } catch {
      return undefined
    }
  }

  /** Checks one certificate against the epoch state; returns the reason it fails, or undefined. */
  private checkCertificate (cert: Certificate, view: EpochView, now: number): string | undefined {
    const h = cert.header
    const state = view.state
    const epoch = epochOf(state)
    const gov = view.gov
    if (!bytesEqual(h.groupId, this.groupId)) return 'certificate for another group'
    if (h.epoch !== epoch) return 'certificate from another epoch'
    const members = membersOf(state)
    const byKey = new Map(members.map(m => [toHex(m.publicKey), m]))
    if (!byKey.has(toHex(h.owner))) return 'proposal owner is not a member'
    const digest = proposalDigest(h)
    try {
      verifyVoteChain(cert.votes, h)
      for (const v of cert.votes) verifyVote(v, h, digest)
    } catch (err) {
      return `bad vote: ${(err as Error).message}`
    }
    const { voters, selfLeave } = this.votersFor(h.payload, h.owner, view, members)
    if (selfLeave) return (cert.votes[0]?.vote === true) ? undefined : 'leave not confirmed by its owner'
    if (h.expectedVoters !== voters.size) return 'wrong expected voter count'
    const counted = cert.votes.filter(v => voters.has(toHex(v.owner)))
    const yes = counted.filter(v => v.vote).length
    const no = counted.length - yes
    if (tally(h.expectedVoters, yes, no, { timedOut: false, livenessYes: h.livenessYes }) === true) return undefined
    // HASHGRAPHLIKE §4: past the consensus timeout, silent voters count per liveness_criteria_yes.
    if (now + gov.config.timers.toleranceMs >= h.timestamp + gov.config.timers.consensusTimeoutMs &&
      tally(h.expectedVoters, yes, no, { timedOut: true, livenessYes: h.livenessYes }) === true) return undefined
    return 'proposal not approved by its votes'
  }

  /**
   * DE-MLS "Commit validation service", deterministic: a candidate is valid when every certificate is an approved
   * proposal of this epoch, the batch is consistent, its committer may commit it, and the MLS commit carries exactly
   * the proposals the certificates call for.
   */
  private async judgeCandidate (body: CandidateBody, view: EpochView): Promise<{ ok: true, newState: ClientState | undefined, newGov: Governance, ctx: CommitContext, certDigests: string[], slots: Set<string> } | { ok: false, event: ScoreEvent, reason: string }> {
    const now = this.now()
    const state = view.state
    const gov = view.gov
    if (body.certificates.length === 0) return { ok: false, event: 'brokenCommit', reason: 'empty candidate' }
    if (body.certificates.length > gov.config.commitBatchMax) return { ok: false, event: 'brokenCommit', reason: 'batch too large' }
    const digests = new Set<string>()
    for (const cert of body.certificates) {
      const d = toHex(proposalDigest(cert.header))
      if (digests.has(d)) return { ok: false, event: 'brokenCommit', reason: 'duplicate certificate' }
      digests.add(d)
      const reason = this.checkCertificate(cert, view, now)
      if (reason !== undefined) return { ok: false, event: 'brokenCommit', reason }
      const p = cert.header.payload
      if (p.kind === 'emergency' && !isCommittable(p)) return { ok: false, event: 'brokenCommit', reason: 'this ECP type is not committed' }
      if (p.kind === 'election') {
        const members = membersOf(state).map(m => m.memberId)
        const memberSet = idSet(members)
        const excluded = idSet(p.excluded)
        for (const x of excluded) if (!memberSet.has(x)) return { ok: false, event: 'brokenCommit', reason: 'election excludes a non-member' }
        if (p.electionEpoch !== epochOf(state) || p.retryRound > gov.config.maxReelectionAttempts ||
          !isValidStewardList(p.stewards, p.electionEpoch, p.retryRound, members.filter(id => !excluded.has(toHex(id))), this.groupId, gov.config.snMin, gov.config.snMax)) {
          return { ok: false, event: 'brokenCommit', reason: 'steward list not generated by the deterministic rule' }
        }
      }
    }
    // Re-plan from the certificates: the plan must use all of them (nothing dropped) in the order given.
    const batch = await this.planBatch(body.certificates, view, body.committer)
    if (batch.certificates.length !== body.certificates.length) return { ok: false, event: 'brokenCommit', reason: 'inconsistent batch' }
    const elections = body.certificates.filter(c => c.header.payload.kind === 'election').length
    if (elections > 1) return { ok: false, event: 'brokenCommit', reason: 'two elections in one commit' }
    const ctx = this.commitContext(view, batch)
    if (ctx.authorized !== 'any' && !ctx.authorized.has(toHex(body.committer))) return { ok: false, event: 'notSteward', reason: 'committer is not an authorized steward' }
    const committer = membersOf(state).find(m => bytesEqual(m.memberId, body.committer))
    if (committer === undefined) return { ok: false, event: 'brokenCommit', reason: 'committer is not a member' }
    const expected = batch.proposals
    // A member cannot process the commit that removes it (RFC 9420 §12.4.2: it gets no path secret); it can only
    // check what it was shown above, and leave.
    let ad: Uint8Array
    try {
      ad = commitAuthenticatedData(body.commit)
    } catch {
      return { ok: false, event: 'brokenCommit', reason: 'not an MLS commit' }
    }
    if (!bytesEqual(ad, governanceDigest(batch.newGovernance))) return { ok: false, event: 'brokenCommit', reason: 'the commit does not carry the governance its certificates lead to' }
    if (batch.removed.has(toHex(this.identity.memberId))) return { ok: true, newState: undefined, newGov: batch.newGovernance, ctx, certDigests: [...digests].sort(), slots: batch.slots }
    let mismatch: string | undefined
    let processed
    try {
      processed = await processCommit(state, body.commit, this.cs, (sender, proposals) => {
        if (sender !== committer.leafIndex) return 'commit sender is not the committer'
        if (!sameProposals(proposals, expected)) {
          mismatch = 'MLS proposals do not match the voted proposals'
          return mismatch
        }
        return undefined
      })
    } catch (err) {
      if (mismatch !== undefined) return { ok: false, event: 'brokenProposal', reason: mismatch }
      return { ok: false, event: 'brokenCommit', reason: `MLS rejects the commit: ${(err as Error).message}` }
    }
    if (body.welcome !== undefined && expected.every(p => p.proposalType !== 'add')) return { ok: false, event: 'brokenCommit', reason: 'welcome without adds' }
    return { ok: true, newState: processed.state, newGov: batch.newGovernance, ctx, certDigests: [...digests].sort(), slots: batch.slots }
  }

  private async onCandidate (env: Extract<Envelope, { type: 'candidate' }>, wire: Uint8Array): Promise<void> {
    if (env.epoch < this.epoch) {
      await this.onPastCandidate(env, wire)
      return
    }
    const body = await this.openCandidate(env, this.mls)
    if (body === undefined) return
    const hash = sha256(body.commit)
    const hashHex = toHex(hash)
    if (this.freeze?.candidates.has(hashHex) === true) return
    const judged = await this.judgeCandidate(body, { state: this.mls, gov: this.gov })
    const entry: CandidateEntry = {
      epoch: env.epoch,
      hash,
      hashHex,
      wire,
      body,
      committer: body.committer,
      receivedAt: this.now(),
      valid: judged.ok,
      certDigests: judged.ok ? judged.certDigests : [],
      slots: judged.ok ? judged.slots : new Set(),
      byEpochSteward: judged.ok && judged.ctx.primaryWalk[0] !== undefined && bytesEqual(judged.ctx.primaryWalk[0], body.committer),
      welcomeRefs: judged.ok ? await this.welcomeRefs(body.certificates) : []
    }
    if (judged.ok) {
      entry.newState = judged.newState
      entry.newGov = judged.newGov
      entry.removesMe = judged.newState === undefined
    } else {
      entry.failure = judged.event
      entry.reason = judged.reason
    }
    this.emit('candidate', { epoch: env.epoch, committer: body.committer, valid: judged.ok, reason: judged.ok ? undefined : judged.reason })
    if (!judged.ok) {
      // DE-MLS "Steward violation list": a broken commit costs its author, once per candidate.
      const key = `${this.epoch}:${hashHex}`
      if (!this.penalized.has(key)) {
        this.penalized.add(key)
        if (this.penalized.size > 4096) this.penalized.delete(this.penalized.values().next().value as string)
        this.applyScore(body.committer, judged.event)
      }
      return
    }
    this.addToFreeze(entry)
    await this.maybeCounter(entry)
  }

  private addToFreeze (entry: CandidateEntry): void {
    const now = this.now()
    if (this.freeze === undefined || this.freeze.epoch !== entry.epoch) {
      this.freeze = { epoch: entry.epoch, startedAt: now, endsAt: now + this.gov.config.timers.freezeMs, candidates: new Map() }
    }
    if (this.freeze.candidates.size >= MAX_FREEZE_CANDIDATES) return
    this.freeze.candidates.set(entry.hashHex, entry)
    this.dirty = true
    this.schedule(this.freeze.endsAt)
  }

  /**
   * DE-MLS "Commit validation service": the longest proposal sequence wins. When the epoch steward's candidate leaves
   * out proposals that could have joined its batch and that this member (the backup in line) approved well before it,
   * the backup commits the fuller batch at once, inside the freeze window: censorship, or a proposal the steward
   * missed, is made up for in the same epoch.
   */
  private async maybeCounter (entry: CandidateEntry): Promise<void> {
    if (this.counteredEpoch === this.epoch || this.myCandidateEpoch === this.epoch) return
    const walk = this.timingWalk()
    const pos = walk.findIndex(id => bytesEqual(id, this.identity.memberId))
    if (pos < 0 || bytesEqual(entry.committer, this.identity.memberId)) return
    const committerPos = walk.findIndex(id => bytesEqual(id, entry.committer))
    if (committerPos < 0 || pos !== committerPos + 1) return
    const missing = await this.leftOut(entry, this.approvedCertificates(), false)
    if (missing.length === 0) return
    this.counteredEpoch = this.epoch
    await this.buildCandidate(true)
  }

  /**
   * The approved proposals a candidate left out although it could have carried them, approved at least `tolerance`
   * before it arrived. A proposal that could not have joined the batch does not count: a second election, another
   * proposal for a member the batch already adds or removes, the committer's own removal (a steward never commits
   * it), anything past a full batch.
   *
   * With `provable`, only those the committer must have held approved (DE-MLS "Steward violation list": censorship
   * is leaving out a proposal visible to it). Under message loss a steward may never receive a proposal, or lack
   * votes we hold; so the committer must have known the proposal (we hold its vote on it, or it made it), and the
   * candidate must have come after the proposal's consensus timeout: by then every member holding the proposal has
   * decided, and as silent voters count as YES (liveness_criteria_yes), our YES means none can have decided NO
   * (HASHGRAPHLIKE §4).
   */
  private async leftOut (c: CandidateEntry, approved: Array<{ cert: Certificate, approvedAt: number, digest: string }>, provable: boolean): Promise<Array<{ cert: Certificate, approvedAt: number, digest: string }>> {
    if (c.certDigests.length >= this.gov.config.commitBatchMax) return []
    const { toleranceMs: tolerance, consensusTimeoutMs } = this.gov.config.timers
    const included = new Set(c.certDigests)
    const out: Array<{ cert: Certificate, approvedAt: number, digest: string }> = []
    for (const a of approved) {
      if (included.has(a.digest) || a.approvedAt + tolerance > c.receivedAt) continue
      const h = a.cert.header
      if (provable && (!h.livenessYes || h.timestamp + consensusTimeoutMs + tolerance > c.receivedAt || !this.knew(c.committer, a.digest))) continue
      const slot = await this.slotOf(a.cert)
      if (slot === undefined || c.slots.has(slot) || slot === `m:${toHex(c.committer)}`) continue
      out.push(a)
    }
    return out
  }

  /** Whether `memberId` had the proposal: we hold its vote on it (the creator's vote comes with the proposal). */
  private knew (memberId: Uint8Array, digest: string): boolean {
    const m = this.byId.get(toHex(memberId))
    const s = this.sessions.get(digest)
    return m !== undefined && s !== undefined && s.hasVoted(m.publicKey)
  }

  /** The batch slot (PlannedBatch.slots) a certificate would take up; undefined when it takes none. */
  private async slotOf (cert: Certificate): Promise<string | undefined> {
    const p = cert.header.payload
    switch (p.kind) {
      case 'add': {
        const kp = [...this.keyPackages.values()].find(k => bytesEqual(k.bytes, p.keyPackage))
        if (kp !== undefined) return `m:${toHex(kp.decoded.memberId)}`
        try {
          return `m:${toHex((await decodeKeyPackage(p.keyPackage, this.cs)).memberId)}`
        } catch {
          return undefined
        }
      }
      case 'remove':
        return `m:${toHex(p.memberId)}`
      case 'election':
        return 'election'
      case 'emergency':
        if (p.violation === VIOLATION.scoreBelowThreshold) return `m:${toHex(p.target)}`
        if (p.violation === VIOLATION.deadlock) return 'deadlock'
        return undefined
    }
  }

  /** DE-MLS "Commit validation service" order: negative when `a` is the better candidate. */
  private rank (a: RankKey, b: RankKey): number {
    if (a.proposalCount !== b.proposalCount) return b.proposalCount - a.proposalCount
    if (a.byEpochSteward !== b.byEpochSteward) return a.byEpochSteward ? -1 : 1
    const c = compareBytes(a.committer, b.committer)
    if (c !== 0) return c
    return compareBytes(a.hash, b.hash)
  }

  private rankOf (c: CandidateEntry): RankKey {
    return { proposalCount: c.certDigests.length, byEpochSteward: c.byEpochSteward, committer: c.committer, hash: c.hash }
  }

  private async endFreeze (): Promise<void> {
    const round = this.freeze
    if (round === undefined) return
    this.freeze = undefined
    const valid = [...round.candidates.values()].filter(c => c.valid && (c.newState !== undefined || c.removesMe === true)).sort((a, b) => this.rank(this.rankOf(a), this.rankOf(b)))
    const best = valid[0]
    if (best === undefined) return
    await this.scoreRound(best, valid)
    await this.apply(best, false)
  }

  /** Local peer-score observations at the end of a freeze round (DE-MLS "Peer Scoring", "Steward violation list"). */
  private async scoreRound (best: CandidateEntry, valid: CandidateEntry[]): Promise<void> {
    this.applyScore(best.committer, 'successfulCommit')
    const bestSet = best.certDigests.join(',')
    const approved = this.approvedCertificates()
    const punished = new Set<string>()
    for (const c of valid) {
      if (c !== best && c.certDigests.join(',') === bestSet) this.applyScore(c.committer, 'honestLosingCommit')
      // Censorship: left out a proposal the committer must have held approved.
      const censored = (await this.leftOut(c, approved, true)).length > 0
      if (censored && !punished.has(toHex(c.committer))) {
        punished.add(toHex(c.committer))
        this.applyScore(c.committer, 'censorship')
      }
    }
    // Inactivity: the epoch steward let its turn pass although work it knew of was approved long enough.
    const walk = this.timingWalk()
    const steward = walk[0]
    const known = steward === undefined ? [] : approved.filter(a => this.knew(steward, a.digest))
    if (steward !== undefined && !bytesEqual(steward, best.committer) && !valid.some(c => bytesEqual(c.committer, steward)) && known.length > 0) {
      const anchor = Math.min(...known.map(a => a.approvedAt))
      const t = this.gov.config.timers
      if (anchor + t.batchWindowMs + t.commitInactivityMs <= best.receivedAt && !punished.has(toHex(steward))) this.applyScore(steward, 'censorship')
    }
    // A timeout certificate that hides NO votes this member holds is a broken commit (acceptance stays deterministic).
    for (const cert of best.body.certificates) {
      const s = this.sessions.get(toHex(proposalDigest(cert.header)))
      if (s === undefined) continue
      const inCert = idSet(cert.votes.map(v => v.owner))
      if (s.votes.some(v => !v.vote && !inCert.has(toHex(v.owner)))) {
        const { voters } = this.votersFor(cert.header.payload, cert.header.owner)
        const counted = cert.votes.filter(v => voters.has(toHex(v.owner)))
        const yes = counted.filter(v => v.vote).length
        if (tally(cert.header.expectedVoters, yes, counted.length - yes, { timedOut: false, livenessYes: cert.header.livenessYes }) !== true) {
          this.applyScore(best.committer, 'brokenCommit')
          break
        }
      }
    }
  }

  /** Moves to the epoch the candidate creates. */
  private async apply (entry: CandidateEntry, rollback: boolean): Promise<void> {
    if (entry.removesMe === true) {
      this.removedFlag = true
      this.emit('epoch', { epoch: this.epoch + 1, committer: entry.committer, candidateHash: entry.hash, rollback })
      this.stop()
      this.persist()
      this.emit('removed', { epoch: this.epoch + 1 })
      return
    }
    const newState = entry.newState as ClientState
    const pre = this.mls
    const preEpoch = this.epoch
    const h: HistoryEntry = {
      epoch: preEpoch,
      preState: pre,
      preGov: this.gov,
      preStateBytes: this.store === undefined ? undefined : encodeState(pre),
      wire: entry.wire,
      hash: entry.hash,
      proposalCount: entry.certDigests.length,
      committer: entry.committer,
      byEpochSteward: entry.byEpochSteward,
      retired: []
    }
    this.history = this.history.filter(x => x.epoch < preEpoch)
    this.history.push(h)
    while (this.history.length > MAX_COMMIT_HISTORY) this.history.shift()
    for (const x of this.history) {
      if (x.epoch < preEpoch - MAX_ROLLBACK_EPOCHS + 1) {
        x.preState = undefined
        x.preGov = undefined
        x.preStateBytes = undefined
      }
    }
    const committed = new Set(entry.certDigests)
    this.mls = newState
    this.gov = entry.newGov as Governance
    this.exportKeys.clear()
    this.refreshMembers()
    this.epochStartedAt = this.now()
    this.freeze = undefined
    this.retryRound = 0
    this.electionNeededSince = undefined
    this.deadlockNeededSince = undefined
    this.layer2Fired.clear()
    this.lowScoreSince.clear()
    for (const k of [...this.rejectedRemovals.keys()]) if (!this.byId.has(k)) this.rejectedRemovals.delete(k)
    this.resent.clear()
    // Proposals are epoch-bound: what was not committed is proposed again by its owner in the new epoch.
    for (const [d, s] of this.sessions) if (s.header.epoch < this.epoch) this.sessions.delete(d)
    for (const d of [...this.approved.keys()]) if (!this.sessions.has(d)) this.approved.delete(d)
    this.pendingVotes.clear()
    this.voteDue.clear()
    // Retired items keep their digest: if a rollback puts them back, the better commit may carry the same proposal.
    h.retired = this.outbox.filter(item => item.digest !== undefined && committed.has(item.digest))
    this.outbox = this.outbox.filter(o => !h.retired.includes(o) && o.attempts <= MAX_REPROPOSALS && !this.outboxObsolete(o.payload))
    for (const item of this.outbox) item.digest = undefined
    for (const [ref, k] of this.keyPackages) if (this.byId.has(toHex(k.decoded.memberId))) this.keyPackages.delete(ref)
    if (entry.body.welcome !== undefined) {
      const w = this.storeWelcome({ commit: announced(h), refs: entry.welcomeRefs, welcome: entry.body.welcome })
      if (bytesEqual(entry.committer, this.identity.memberId)) {
        this.publishFn('welcome', w.wire)
        for (const r of w.refHexes) this.lastSeen.set(`w:${r}`, this.now())
      }
    }
    const removedNow = !this.byId.has(toHex(this.identity.memberId)) || newState.groupActiveState.kind === 'removedFromGroup'
    this.emit('epoch', { epoch: this.epoch, committer: entry.committer, candidateHash: entry.hash, rollback })
    this.announce()
    if (removedNow) {
      this.removedFlag = true
      this.persist()
      this.stop()
      this.emit('removed', { epoch: this.epoch })
      return
    }
    this.persist()
    await this.replayFuture()
  }

  private storeWelcome (w: WelcomeRecord): StoredWelcome {
    const refHexes = w.refs.map(toHex)
    const wire = encodeEnvelope({ type: 'welcome', groupId: this.groupId, commit: w.commit, keyPackageRefs: w.refs, welcome: w.welcome })
    const stored: StoredWelcome = { ...w, refHexes, wire }
    for (const r of refHexes) this.welcomes.set(r, stored)
    while (this.welcomes.size > MAX_WELCOMES) this.welcomes.delete(this.welcomes.keys().next().value as string)
    return stored
  }

  private async replayFuture (): Promise<void> {
    const cands = this.futureCandidates.splice(0)
    for (const c of cands) {
      if (c.epoch === this.epoch) await this.onCandidate(c.env as Extract<Envelope, { type: 'candidate' }>, c.wire)
      else if (c.epoch > this.epoch) this.futureCandidates.push(c)
    }
    const msgs = this.futureMessages.splice(0)
    for (const m of msgs) {
      if (m.epoch === this.epoch && m.env.type === 'mls') await this.onMls(m.env.message)
      else if (m.epoch > this.epoch) this.futureMessages.push(m)
    }
  }

  // ---- recovery: announcements, fetching, rollback -------------------------------------------------------------

  /** Tells the group our epoch and the last commits we applied (DE-MLS gap: members announce the commit they accepted). */
  private announce (): void {
    this.lastAnnounceAt = this.now()
    const commits: AnnouncedCommit[] = this.history.slice(-ANNOUNCED_COMMITS).map(announced)
    this.publish('app', { type: 'announce', groupId: this.groupId, epoch: this.epoch, commits })
  }

  /** Asks for the commit that left `epoch` (a given one when `hash` is set), at most once per recovery period. */
  private requestCommit (epoch: number, hash?: Uint8Array): void {
    const now = this.now()
    const key = `${epoch}:${hash === undefined ? '' : toHex(hash)}`
    const r = this.commitRequests.get(key) ?? { count: 0, lastAt: -Infinity }
    if (r.count >= MAX_COMMIT_REQUESTS_PER_EPOCH || now - r.lastAt < this.gov.config.timers.recoveryInactivityMs) return
    r.count++
    r.lastAt = now
    this.commitRequests.delete(key)
    this.commitRequests.set(key, r)
    while (this.commitRequests.size > 64) this.commitRequests.delete(this.commitRequests.keys().next().value as string)
    this.publish('app', { type: 'commit-request', groupId: this.groupId, epoch, candidateHash: hash })
  }

  /**
   * Compares another member's recent commits with ours. At the first epoch where they differ, the better-ranked
   * commit is the one every member ends on: fetch theirs if it is better (we then roll back to it), otherwise
   * re-announce ours so they do.
   */
  private onAnnounce (env: Extract<Envelope, { type: 'announce' }>): void {
    for (const c of env.commits) {
      if (c.epoch === this.epoch) {
        // They left our epoch: make sure we judge their commit in our freeze round.
        if (this.freeze?.candidates.has(toHex(c.candidateHash)) !== true) this.requestCommit(c.epoch, c.candidateHash)
        return
      }
      if (c.epoch > this.epoch) return
      const mine = this.history.find(x => x.epoch === c.epoch)
      if (mine === undefined || bytesEqual(mine.hash, c.candidateHash)) continue
      if (this.rank({ ...c, hash: c.candidateHash }, mine) < 0) {
        if (mine.preState !== undefined) this.requestCommit(c.epoch, c.candidateHash)
        else if (mine.wire === undefined && !this.staleFlag) {
          // We joined through a commit the group did not keep: our epochs are a dead branch.
          this.staleFlag = true
          this.stop()
          this.emit('stale', { epoch: c.epoch })
        }
      } else if (this.now() - this.lastAnnounceAt >= this.gov.config.timers.recoveryInactivityMs) {
        this.announce()
      }
      return
    }
  }

  private onCommitRequest (epoch: number, hash: Uint8Array | undefined): void {
    let wire: Uint8Array | undefined
    const h = this.history.find(x => x.epoch === epoch)
    if (h?.wire !== undefined && (hash === undefined || bytesEqual(hash, h.hash))) wire = h.wire
    if (wire === undefined && hash !== undefined && this.freeze?.epoch === epoch) wire = this.freeze.candidates.get(toHex(hash))?.wire
    if (wire === undefined) return
    this.scheduleReply(`c:${toHex(sha256(wire))}`, 'app', wire)
  }

  private replyWelcome (refHex: string): void {
    const w = this.welcomes.get(refHex)
    if (w === undefined) return
    this.scheduleReply(`w:${refHex}`, 'welcome', w.wire)
  }

  /** Replies are spread over a jitter window and dropped when another member sent the same thing meanwhile. */
  private scheduleReply (key: string, topic: Topic, wire: Uint8Array): void {
    if (this.pendingReplies.has(key)) return
    const asked = this.now()
    const seenBefore = this.lastSeen.get(key)
    if (seenBefore !== undefined && asked - seenBefore < DEFAULT_REPLY_JITTER_MS) return
    const delay = Math.floor(Math.random() * DEFAULT_REPLY_JITTER_MS)
    const handle = this.clock.setTimer(() => {
      this.pendingReplies.delete(key)
      if (this.closedFlag) return
      const seen = this.lastSeen.get(key)
      if (seen !== undefined && seen > asked) return
      this.lastSeen.set(key, this.now())
      this.publishFn(topic, wire)
    }, delay)
    this.pendingReplies.set(key, handle)
  }

  /**
   * A candidate for an epoch we already left: if it is valid against our saved state of that epoch and ranks better
   * than the commit we applied, every member will end on it, so we roll back to it (bounded by MAX_ROLLBACK_EPOCHS).
   */
  private async onPastCandidate (env: Extract<Envelope, { type: 'candidate' }>, wire: Uint8Array): Promise<void> {
    const h = this.history.find(x => x.epoch === env.epoch)
    if (h?.preState === undefined || h.preGov === undefined) return
    const body = await this.openCandidate(env, h.preState)
    if (body === undefined) return
    const hash = sha256(body.commit)
    if (bytesEqual(hash, h.hash)) return
    const judged = await this.judgeCandidate(body, { state: h.preState, gov: h.preGov })
    if (!judged.ok) return
    const entry: CandidateEntry = {
      epoch: env.epoch,
      hash,
      hashHex: toHex(hash),
      wire,
      body,
      committer: body.committer,
      receivedAt: this.now(),
      valid: true,
      newState: judged.newState,
      newGov: judged.newGov,
      removesMe: judged.newState === undefined,
      certDigests: judged.certDigests,
      slots: judged.slots,
      byEpochSteward: judged.ctx.primaryWalk[0] !== undefined && bytesEqual(judged.ctx.primaryWalk[0], body.committer),
      welcomeRefs: await this.welcomeRefs(body.certificates)
    }
    if (this.rank(this.rankOf(entry), h) >= 0) return
    // Roll back: restore the state of that epoch and apply the better commit. Our requests the undone commits carried
    // go back to the outbox: the better commit may have left them out, and then they are proposed again.
    this.mls = h.preState
    this.gov = h.preGov
    for (const undone of this.history.filter(x => x.epoch >= env.epoch)) {
      this.outbox.push(...undone.retired)
    }
    this.history = this.history.filter(x => x.epoch < env.epoch)
    this.refreshMembers()
    this.sessions.clear()
    this.approved.clear()
    this.freeze = undefined
    this.myCandidateEpoch = -1
    await this.apply(entry, true)
  }

  // ---- timers ------------------------------------------------------------------------------------------------

  /** One pass over everything time-driven; schedules the next pass at the earliest deadline. */
  private async tick (): Promise<void> {
    if (this.closedFlag) return
    this.dirty = false
    const now = this.now()
    const t = this.gov.config.timers
    let next = Infinity
    const at = (x: number): void => { if (x > now && x < next) next = x }

    if (this.freeze !== undefined) {
      if (now >= this.freeze.endsAt) await this.endFreeze()
      else at(this.freeze.endsAt)
    }
    if (this.closedFlag) return

    // Votes due (policy or automatic vote after the voting delay).
    for (const [digest, due] of [...this.voteDue]) {
      const s = this.sessions.get(digest)
      if (s === undefined || s.decision !== undefined) {
        this.voteDue.delete(digest)
        continue
      }
      if (now >= due) {
        const view = this.view(s.header, digest)
        const choice = this.votePolicy(view) ?? (view.valid && this.gov.config.livenessYes)
        await this.castVote(s, choice)
      } else at(due)
    }

    // Consensus timeouts and re-propagation of undecided proposals (HASHGRAPHLIKE §4).
    for (const s of [...this.sessions.values()]) {
      if (s.header.epoch !== this.epoch || s.decision !== undefined) continue
      const { selfLeave } = this.votersFor(s.header.payload, s.header.owner)
      this.evaluate(s, selfLeave)
      if (s.decision !== undefined) continue
      at(s.header.timestamp + t.consensusTimeoutMs)
      const mine = bytesEqual(s.header.owner, this.identity.publicKey) || this.timingWalk().some(id => bytesEqual(id, this.identity.memberId))
      if (mine && s.repropagations < MAX_REPROPAGATIONS && t.repropagateMs > 0) {
        const dueAt = s.lastActivity + t.repropagateMs * (s.repropagations + 1)
        if (now >= dueAt) {
          s.repropagations++
          await this.sendApp({ type: 'proposal', header: s.header, votes: s.certificate().votes, round: 2 })
        } else at(dueAt)
      }
    }

    // Our turn to commit (Layer 1, or the elected list, or deadlock recovery).
    if (this.freeze === undefined && this.myCandidateEpoch !== this.epoch) {
      const due = this.myCommitDue()
      if (due !== undefined) {
        if (now >= due) await this.buildCandidate(false)
        else at(due)
      }
    }

    next = Math.min(next, await this.driveGovernance(now))
    next = Math.min(next, await this.driveKeyPackages(now))
    await this.driveOutbox()

    // Catch-up: while we know of a later epoch, keep asking for the commit of ours.
    if (this.highestSeenEpoch > this.epoch) {
      this.requestCommit(this.epoch)
      at(now + t.recoveryInactivityMs)
    }
    // Announcements: often for a while after each epoch change (when forks and misses happen), rarely after.
    if (t.announceIntervalMs > 0 && this.history.length > 0) {
      const recent = now - this.epochStartedAt < ANNOUNCE_RECENT_INTERVALS * t.announceIntervalMs
      const interval = recent ? t.announceIntervalMs : t.announceIntervalMs * ANNOUNCE_IDLE_FACTOR
      if (now - this.lastAnnounceAt >= interval) this.announce()
      at(this.lastAnnounceAt + interval)
    }
    // The committer sends its candidate once more halfway through the freeze window, against message loss.
    const f = this.freeze
    if (f !== undefined && this.myCandidateEpoch === f.epoch && !this.resent.has(f.epoch)) {
      const mid = f.startedAt + Math.floor(t.freezeMs / 2)
      const mine = [...f.candidates.values()].find(c => bytesEqual(c.committer, this.identity.memberId))
      if (mine !== undefined && now >= mid) {
        this.resent.add(f.epoch)
        this.publishFn('app', mine.wire)
      } else at(mid)
    }
    if (next !== Infinity) this.schedule(next)
  }

  /** Elections (Layer 2), the deadlock ECP (Layer 3) and score-triggered removals. Returns the next deadline. */
  private async driveGovernance (now: number): Promise<number> {
    let next = Infinity
    const at = (x: number): void => { if (x > now && x < next) next = x }
    if (this.freeze !== undefined) return next
    const t = this.gov.config.timers
    const me = this.identity.memberId
    const approved = this.approvedCertificates()
    const work = approved.some(a => a.cert.header.payload.kind !== 'election') ||
      [...this.sessions.values()].some(s => s.header.epoch === this.epoch && s.decision === undefined && s.header.payload.kind !== 'election')

    // Layer 2 trigger: every steward in line had its turn and nobody committed the approved work.
    const walk = this.timingWalk()
    const commitWork = approved.filter(a => a.cert.header.payload.kind !== 'election')
    if (walk.length > 0 && commitWork.length > 0) {
      const anchor = Math.min(...commitWork.map(a => a.approvedAt))
      const deadline = anchor + t.batchWindowMs + walk.length * t.commitInactivityMs
      const key = `${this.epoch}:walk`
      if (now >= deadline && !this.layer2Fired.has(key)) {
        // DE-MLS Layer 2: re-elect in the same epoch with the next retry round.
        this.layer2Fired.add(key)
        this.bumpRetry()
      } else at(deadline)
    }
    const election = this.chosenElection(approved)
    if (election !== undefined) {
      const p = election.cert.header.payload as Extract<ProposalPayload, { kind: 'election' }>
      const w = stewardWalk(p.stewards, 0, this.eligibleForTiming())
      const deadline = election.approvedAt + (w.length + 1) * t.recoveryInactivityMs
      const key = `${this.epoch}:${p.retryRound}`
      if ((commitWork.length > 0 || walk.length === 0) && now >= deadline && !this.layer2Fired.has(key)) {
        this.layer2Fired.add(key)
        if (p.retryRound >= this.retryRound) this.bumpRetry()
      } else if (commitWork.length > 0 || walk.length === 0) at(deadline)
    }
    const needElection = (walk.length === 0 || isLastEpoch(this.gov.stewards, this.epoch)) && work
    if (needElection) this.electionNeededSince ??= now

    if (this.electionNeededSince !== undefined && this.retryRound <= this.gov.config.maxReelectionAttempts && !this.openEmergency()) {
      const r = this.retryRound
      const exists = [...this.sessions.values()].some(s => s.header.epoch === this.epoch && s.header.payload.kind === 'election' &&
        s.header.payload.retryRound === r && s.decision !== false)
      const needed = walk.length === 0 || this.layer2Fired.size > 0 || needElection
      if (!exists && needed && (election === undefined || (election.cert.header.payload as { retryRound: number }).retryRound < r)) {
        const pending = this.pendingRemovals()
        const excluded = this.memberList.map(m => m.memberId).filter(id => pending.has(toHex(id)))
        const eligible = this.memberList.map(m => m.memberId).filter(id => !pending.has(toHex(id)))
        const list = generateStewardList(this.epoch, r, eligible, this.groupId, this.gov.config.snMin, this.gov.config.snMax)
        const order = [...list, ...recoveryWalk(eligible).filter(id => !list.some(x => bytesEqual(x, id)))]
        const k = order.findIndex(id => bytesEqual(id, me))
        const due = this.electionNeededSince + Math.max(0, k) * t.recoveryInactivityMs
        if (k >= 0 && now >= due) await this.propose({ kind: 'election', electionEpoch: this.epoch, retryRound: r, stewards: list, excluded })
        else if (k >= 0) at(due)
      }
    }
    // Layer 3: re-elections exhausted; a deadlock ECP lets any member commit.
    if (this.retryRound > this.gov.config.maxReelectionAttempts) {
      this.deadlockNeededSince ??= now
      const exists = [...this.sessions.values()].some(s => s.header.epoch === this.epoch && s.header.payload.kind === 'emergency' &&
        s.header.payload.violation === VIOLATION.deadlock && s.decision !== false)
      if (!exists) {
        const order = recoveryWalk(this.memberList.map(m => m.memberId))
        const k = order.findIndex(id => bytesEqual(id, me))
        const due = this.deadlockNeededSince + k * t.recoveryInactivityMs
        if (now >= due) await this.propose({ kind: 'emergency', violation: VIOLATION.deadlock, target: new Uint8Array(0), evidence: new Uint8Array(0) })
        else at(due)
      }
    }
    // DE-MLS "Peer Scoring": members at or below the threshold are put up for removal through an ECP.
    for (const target of this.scores.belowThreshold()) {
      const key = toHex(target)
      if (bytesEqual(target, me) || !this.byId.has(key)) continue
      const covered = [...this.sessions.values()].some(s => s.header.epoch === this.epoch && s.decision !== false &&
        ((s.header.payload.kind === 'emergency' && bytesEqual(s.header.payload.target, target)) ||
         (s.header.payload.kind === 'remove' && bytesEqual(s.header.payload.memberId, target))))
      if (covered) continue
      const rejectedAt = this.rejectedRemovals.get(key)
      if (rejectedAt !== undefined && this.scores.get(target) >= rejectedAt) continue
      if (this.openEmergency()) break
      const since = this.lowScoreSince.get(key) ?? now
      this.lowScoreSince.set(key, since)
      const order = recoveryWalk(this.memberList.map(m => m.memberId).filter(id => !bytesEqual(id, target)))
      const k = order.findIndex(id => bytesEqual(id, me))
      const due = since + k * t.recoveryInactivityMs
      if (now >= due) {
        await this.propose({ kind: 'emergency', violation: VIOLATION.scoreBelowThreshold, target, evidence: new Uint8Array(0) })
        break
      } else at(due)
    }
    return next
  }

  private bumpRetry (): void {
    this.retryRound++
    this.electionNeededSince = this.now()
  }
}

/** Compares the proposals a commit carries with the ones its certificates call for. */
function sameProposals (got: Proposal[], want: Proposal[]): boolean {
  if (got.length !== want.length) return false
  for (let i = 0; i < got.length; i++) {
    const a = got[i] as Proposal
    const b = want[i] as Proposal
    if (a.proposalType !== b.proposalType) return false
    if (a.proposalType === 'add' && b.proposalType === 'add') {
      if (!bytesEqual(a.add.keyPackage.signature, b.add.keyPackage.signature) || !bytesEqual(a.add.keyPackage.initKey, b.add.keyPackage.initKey)) return false
    } else if (a.proposalType === 'remove' && b.proposalType === 'remove') {
      if (a.remove.removed !== b.remove.removed) return false
    } else if (a.proposalType === 'group_context_extensions' && b.proposalType === 'group_context_extensions') {
      const ea = a.groupContextExtensions.extensions
      const eb = b.groupContextExtensions.extensions
      if (ea.length !== eb.length) return false
      for (let j = 0; j < ea.length; j++) {
        const x = ea[j]
        const y = eb[j]
        if (x === undefined || y === undefined || x.extensionType !== y.extensionType || !bytesEqual(x.extensionData, y.extensionData)) return false
      }
    } else {
      return false
    }
  }
  return true
}

