import { randomBytes } from 'node:crypto'
import { bytesEqual, concatBytes, sha256, toHex, u32le, u64le, utf8 } from './bytes.ts'
import { HASH_LENGTH } from './constants.ts'
import { InvalidVoteError } from './errors.ts'
import { signBytes, verifyBytes } from './identity.ts'
import { encodeHeader } from './messages.ts'
import type { Certificate, ProposalHeader, Vote } from './messages.ts'

/**
 * Hashgraph-like voting (HASHGRAPHLIKE). A proposal travels with its creator's vote; each member answers with one
 * signed vote whose received_hash is the hash of the vote it answered (§2 step 4.5: the creator's vote) and whose
 * parent_hash is empty (one vote per member per proposal). The decision is computed locally from the votes held
 * (§3, §4); a commit carries the deciding votes, so every member can check the decision without having seen them.
 *
 * Two choices where the spec is open:
 * - vote_hash follows the Rust reference (SHA-256 over vote_id LE32, owner, proposal_id LE32, timestamp LE64, vote,
 *   parent_hash, received_hash). The signature covers a domain tag, the digest of the proposal header and vote_hash,
 *   so a vote cannot be moved to another proposal that happens to share the 32-bit proposal id.
 * - Timestamps are milliseconds since the Unix epoch.
 */

const VOTE_DOMAIN = utf8('demls/vote/v1')
const PROPOSAL_DOMAIN = utf8('demls/proposal/v1')

export function proposalDigest (header: ProposalHeader): Uint8Array {
  return sha256(PROPOSAL_DOMAIN, encodeHeader(header))
}

export function computeVoteHash (v: Pick<Vote, 'voteId' | 'owner' | 'proposalId' | 'timestamp' | 'vote' | 'parentHash' | 'receivedHash'>): Uint8Array {
  return sha256(u32le(v.voteId), v.owner, u32le(v.proposalId), u64le(v.timestamp), Uint8Array.of(v.vote ? 1 : 0), v.parentHash, v.receivedHash)
}

export function randomId (): number {
  return randomBytes(4).readUInt32BE(0)
}

export interface VoteInit {
  vote: boolean
  timestamp: number
  receivedHash?: Uint8Array
  parentHash?: Uint8Array
  voteId?: number
}

export function createVote (secretKey: Uint8Array, publicKey: Uint8Array, header: ProposalHeader, digest: Uint8Array, init: VoteInit): Vote {
  const base = {
    voteId: init.voteId ?? randomId(),
    owner: publicKey,
    proposalId: header.proposalId,
    timestamp: init.timestamp,
    vote: init.vote,
    parentHash: init.parentHash ?? new Uint8Array(0),
    receivedHash: init.receivedHash ?? new Uint8Array(0)
  }
  const voteHash = computeVoteHash(base)
  const signature = signBytes(secretKey, concatBytes(VOTE_DOMAIN, digest, voteHash))
  return { ...base, voteHash, signature }
}

/**
 * HASHGRAPHLIKE §2 steps 1 and §3 step 1, 4: hash, signature, proposal link and timestamps of one vote.
 * `skipSignature` is for a vote already authenticated by MLS as sent by its owner; its signature is then checked
 * before the vote goes into a certificate (verifyVoteSignature).
 */
export function verifyVote (vote: Vote, header: ProposalHeader, digest: Uint8Array, options: { now?: number, skewMs?: number, skipSignature?: boolean } = {}): void {
  const skew = options.skewMs ?? 0
  if (vote.proposalId !== header.proposalId) throw new InvalidVoteError('vote is for another proposal id')
  if (!bytesEqual(vote.voteHash, computeVoteHash(vote))) throw new InvalidVoteError('vote hash does not match its fields')
  if (options.skipSignature !== true && !verifyVoteSignature(vote, digest)) throw new InvalidVoteError('bad vote signature')
  if (vote.timestamp + skew < header.timestamp) throw new InvalidVoteError('vote is older than its proposal')
  if (vote.timestamp > header.expiration) throw new InvalidVoteError('vote cast after the proposal expired')
  if (options.now !== undefined && vote.timestamp > options.now + skew) throw new InvalidVoteError('vote timestamp is in the future')
}

export function verifyVoteSignature (vote: Vote, digest: Uint8Array): boolean {
  return verifyBytes(vote.owner, concatBytes(VOTE_DOMAIN, digest, vote.voteHash), vote.signature)
}

/**
 * HASHGRAPHLIKE §2 steps 2-3 for an ordered vote list: the first vote is the creator's, with no parent or received
 * hash; every later vote's received_hash names an earlier vote in the list (the one its voter answered) and is not
 * older than it; parent_hash is empty because a member votes once per proposal; no voter appears twice.
 */
export function verifyVoteChain (votes: readonly Vote[], header: ProposalHeader): void {
  const first = votes[0]
  if (first === undefined) throw new InvalidVoteError('a proposal carries at least its creator\'s vote')
  if (!bytesEqual(first.owner, header.owner)) throw new InvalidVoteError('the first vote is not the creator\'s')
  if (first.receivedHash.length !== 0 || first.parentHash.length !== 0) throw new InvalidVoteError('the creator\'s vote has no parent or received hash')
  const seen = new Map<string, Vote>()
  const owners = new Set<string>()
  for (const [i, v] of votes.entries()) {
    const owner = toHex(v.owner)
    if (owners.has(owner)) throw new InvalidVoteError('two votes from one voter')
    owners.add(owner)
    if (v.parentHash.length !== 0) throw new InvalidVoteError('parent_hash must be empty: one vote per member')
    if (i > 0) {
      if (v.receivedHash.length !== HASH_LENGTH) throw new InvalidVoteError('received_hash missing')
      const prev = seen.get(toHex(v.receivedHash))
      if (prev === undefined) throw new InvalidVoteError('received_hash does not name an earlier vote')
      if (prev.timestamp > v.timestamp) throw new InvalidVoteError('vote is older than the vote it answers')
    }
    seen.set(toHex(v.voteHash), v)
  }
}

/**
 * HASHGRAPHLIKE §4 "Liveness": with n expected voters,
 * - n <= 2: YES needs every vote YES; one NO decides NO;
 * - n > 2: YES needs at least ceil(2n/3) distinct voters and more than n/2 YES; NO is decided once YES can no
 *   longer reach a majority (at least n/2 NO);
 * - at the consensus timeout, silent voters count as YES or NO per liveness_criteria_yes ("Silent Node Management"),
 *   and a tie is a NO (our deterministic tie policy: REJECT, "Equality of votes").
 * Undefined means undecided.
 */
export function tally (expected: number, yes: number, no: number, options: { timedOut: boolean, livenessYes: boolean }): boolean | undefined {
  const n = expected
  const voters = yes + no
  if (n <= 0) return undefined
  if (n <= 2) {
    if (no > 0) return false
    if (yes >= n) return true
    if (!options.timedOut) return undefined
    return options.livenessYes
  }
  if (2 * no >= n) return false
  const quorum = Math.ceil((2 * n) / 3)
  if (voters >= quorum && 2 * yes > n) return true
  if (!options.timedOut) return undefined
  const silent = Math.max(0, n - voters)
  const yesWeight = yes + (options.livenessYes ? silent : 0)
  return 2 * yesWeight > n
}

/**
 * One proposal's votes as this member holds them. Votes are verified (signature, chain link, voter eligibility) by
 * the caller before `add`; the session keeps them in a chain-consistent order so `certificate()` passes
 * verifyVoteChain.
 */
export class VotingSession {
  readonly header: ProposalHeader
  readonly digest: Uint8Array
  readonly digestHex: string
  readonly votes: Vote[] = []
  readonly createdAt: number
  decision: boolean | undefined
  decidedAt: number | undefined
  decidedByTimeout = false
  /** Times we re-broadcast it while undecided. */
  repropagations = 0
  lastActivity: number
  private readonly owners = new Set<string>()
  private readonly hashes = new Set<string>()
  private readonly orphans: Vote[] = []
  private yesCount = 0
  /** Votes counted on MLS authentication alone; their signatures are checked before they go into a certificate. */
  private readonly unchecked = new Set<Vote>()

  constructor (header: ProposalHeader, digest: Uint8Array, now: number) {
    this.header = header
    this.digest = digest
    this.digestHex = toHex(digest)
    this.createdAt = now
    this.lastActivity = now
  }

  get ownerVote (): Vote | undefined {
    return this.votes[0]
  }

  hasVoted (owner: Uint8Array): boolean {
    return this.owners.has(toHex(owner)) || this.orphans.some(v => bytesEqual(v.owner, owner))
  }

  /**
   * Adds a verified vote (or, with `signatureChecked` false, one whose owner MLS authenticated); false when it adds
   * nothing (duplicate voter). Votes answering a vote we lack wait.
   */
  add (vote: Vote, now: number, signatureChecked = true): boolean {
    if (!signatureChecked) this.unchecked.add(vote)
    const owner = toHex(vote.owner)
    if (this.owners.has(owner) || this.orphans.some(v => bytesEqual(v.owner, vote.owner))) return false
    const isFirst = this.votes.length === 0
    if (isFirst && !bytesEqual(vote.owner, this.header.owner)) {
      if (this.orphans.length < this.header.expectedVoters) this.orphans.push(vote)
      return true
    }
    if (!isFirst && !this.hashes.has(toHex(vote.receivedHash))) {
      if (this.orphans.length < this.header.expectedVoters) this.orphans.push(vote)
      return true
    }
    this.append(vote)
    this.lastActivity = now
    this.adoptOrphans()
    return true
  }

  private append (vote: Vote): void {
    if (vote.vote) this.yesCount++
    this.votes.push(vote)
    this.owners.add(toHex(vote.owner))
    this.hashes.add(toHex(vote.voteHash))
  }

  private adoptOrphans (): void {
    let progress = true
    while (progress) {
      progress = false
      for (let i = 0; i < this.orphans.length; i++) {
        const v = this.orphans[i] as Vote
        if (this.votes.length > 0 && this.hashes.has(toHex(v.receivedHash))) {
          this.orphans.splice(i, 1)
          this.append(v)
          progress = true
          break
        }
      }
    }
  }

  get yes (): number {
    return this.yesCount
  }

  get no (): number {
    return this.votes.length - this.yes
  }

  /** Re-evaluates the decision; returns it when it was just reached. */
  evaluate (now: number, timeoutMs: number): boolean | undefined {
    if (this.decision !== undefined) return undefined
    const timedOut = now >= this.header.timestamp + timeoutMs
    const d = tally(this.header.expectedVoters, this.yes, this.no, { timedOut, livenessYes: this.header.livenessYes })
    if (d === undefined) return undefined
    this.decision = d
    this.decidedAt = now
    this.decidedByTimeout = timedOut && tally(this.header.expectedVoters, this.yes, this.no, { timedOut: false, livenessYes: this.header.livenessYes }) === undefined
    return d
  }

  certificate (): Certificate {
    return { header: this.header, votes: [...this.votes] }
  }

  /**
   * The votes to put in a certificate: their signatures checked now where only MLS vouched for them (a bad one is
   * dropped), and, when the votes alone decide YES, only as many as prove it (the creator's, YES votes until more than
   * n/2, then others up to the 2n/3 quorum) so every member checks fewer signatures. `counts` says which votes count
   * (the voter set). Undefined when the checked votes no longer prove a YES.
   */
  certificateVotes (counts: (v: Vote) => boolean, timedOut: boolean): Vote[] | undefined {
    for (const v of [...this.unchecked]) {
      this.unchecked.delete(v)
      if (!verifyVoteSignature(v, this.digest)) {
        this.drop(v)
      }
    }
    const n = this.header.expectedVoters
    const all = this.votes
    const counted = all.filter(counts)
    const yes = counted.filter(v => v.vote).length
    if (tally(n, yes, counted.length - yes, { timedOut: false, livenessYes: this.header.livenessYes }) === true && n > 2) {
      const quorum = Math.ceil((2 * n) / 3)
      const picked = new Set<Vote>()
      let y = 0
      for (const v of counted) if (v.vote && 2 * y <= n) { picked.add(v); y++ }
      for (const v of counted) if (picked.size < quorum && !picked.has(v)) picked.add(v)
      // Keep the chain whole: the creator's vote leads, and every vote a picked one answers comes along.
      const byHash = new Map(all.map(v => [toHex(v.voteHash), v]))
      const queue = [...picked]
      while (queue.length > 0) {
        const v = queue.pop() as Vote
        const prev = v.receivedHash.length === 0 ? undefined : byHash.get(toHex(v.receivedHash))
        if (prev !== undefined && !picked.has(prev)) {
          picked.add(prev)
          queue.push(prev)
        }
      }
      return all.filter((v, i) => i === 0 || picked.has(v))
    }
    const d = tally(n, yes, counted.length - yes, { timedOut, livenessYes: this.header.livenessYes })
    return d === true ? [...all] : undefined
  }

  private drop (vote: Vote): void {
    const i = this.votes.indexOf(vote)
    if (i <= 0) return
    this.votes.splice(i, 1)
    this.owners.delete(toHex(vote.owner))
    this.hashes.delete(toHex(vote.voteHash))
    if (vote.vote) this.yesCount--
  }
}
