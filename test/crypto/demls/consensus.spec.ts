import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  computeVoteHash, coversEpoch, createVote, generateIdentity, generateStewardList, isValidStewardList, PeerScores,
  proposalDigest, recoveryWalk, stewardListSize, stewardSortKey, stewardWalk, tally, toHex, verifyVote, verifyVoteChain,
  VotingSession, defaultGroupConfig, InvalidVoteError, compareBytes, sha256
} from '../../../src/crypto/demls/index.ts'
import type { ProposalHeader, Vote } from '../../../src/crypto/demls/index.ts'

const T0 = 1_700_000_000_000
const owner = generateIdentity()
const voters = Array.from({ length: 6 }, () => generateIdentity())

function header (over: Partial<ProposalHeader> = {}): ProposalHeader {
  return {
    groupId: Uint8Array.of(7),
    epoch: 3,
    proposalId: 42,
    owner: owner.publicKey,
    expectedVoters: 7,
    timestamp: T0,
    expiration: T0 + 60_000,
    livenessYes: true,
    payload: { kind: 'remove', memberId: new Uint8Array(20).fill(9) },
    ...over
  }
}

function chain (h: ProposalHeader, choices: boolean[]): Vote[] {
  const d = proposalDigest(h)
  const first = createVote(owner.secretKey, owner.publicKey, h, d, { vote: true, timestamp: T0 })
  return [first, ...choices.map((c, i) => createVote(voters[i]?.secretKey as Uint8Array, voters[i]?.publicKey as Uint8Array, h, d, { vote: c, timestamp: T0 + 10 + i, receivedHash: first.voteHash }))]
}

describe('hashgraph-like votes', () => {
  it('a vote is bound to its fields, its proposal and its owner\'s key', () => {
    const h = header()
    const d = proposalDigest(h)
    const [first, v] = chain(h, [true]) as [Vote, Vote]
    expect(() => { verifyVote(first, h, d) }).not.toThrow()
    expect(() => { verifyVote(v, h, d) }).not.toThrow()
    expect(v.voteHash).toEqual(computeVoteHash(v))
    // Any changed field breaks the hash or the signature.
    for (const bad of [{ ...v, vote: false }, { ...v, timestamp: v.timestamp + 1 }, { ...v, receivedHash: new Uint8Array(32) }, { ...v, owner: voters[1]?.publicKey as Uint8Array }]) {
      expect(() => { verifyVote(bad, h, d) }).toThrow(InvalidVoteError)
    }
    const forged = { ...v, vote: false, voteHash: computeVoteHash({ ...v, vote: false }) }
    expect(() => { verifyVote(forged, h, d) }).toThrow(/signature/)
    // The same vote does not count for another proposal with the same id (payload differs).
    const other = header({ payload: { kind: 'remove', memberId: new Uint8Array(20).fill(8) } })
    expect(() => { verifyVote(v, other, proposalDigest(other)) }).toThrow(/signature/)
    // Timestamps: not before the proposal, not after it expired, not in the future.
    const early = createVote(voters[0]?.secretKey as Uint8Array, voters[0]?.publicKey as Uint8Array, h, d, { vote: true, timestamp: T0 - 5_000, receivedHash: first.voteHash })
    expect(() => { verifyVote(early, h, d) }).toThrow(/older than its proposal/)
    const late = createVote(voters[0]?.secretKey as Uint8Array, voters[0]?.publicKey as Uint8Array, h, d, { vote: true, timestamp: T0 + 61_000, receivedHash: first.voteHash })
    expect(() => { verifyVote(late, h, d) }).toThrow(/expired/)
    expect(() => { verifyVote(v, h, d, { now: T0 }) }).toThrow(/future/)
  })

  it('the chain: creator first, every later vote answers an earlier one, one vote per member', () => {
    const h = header()
    const votes = chain(h, [true, false, true])
    expect(() => { verifyVoteChain(votes, h) }).not.toThrow()
    expect(() => { verifyVoteChain([], h) }).toThrow(/at least/)
    expect(() => { verifyVoteChain(votes.slice(1), h) }).toThrow(/creator/)
    expect(() => { verifyVoteChain([votes[0] as Vote, votes[1] as Vote, votes[1] as Vote], h) }).toThrow(/two votes/)
    const d = proposalDigest(h)
    const dangling = createVote(voters[4]?.secretKey as Uint8Array, voters[4]?.publicKey as Uint8Array, h, d, { vote: true, timestamp: T0 + 50, receivedHash: new Uint8Array(32).fill(1) })
    expect(() => { verifyVoteChain([...votes, dangling], h) }).toThrow(/earlier vote/)
    const withParent = createVote(voters[4]?.secretKey as Uint8Array, voters[4]?.publicKey as Uint8Array, h, d, { vote: true, timestamp: T0 + 50, receivedHash: votes[0]?.voteHash, parentHash: votes[1]?.voteHash })
    expect(() => { verifyVoteChain([...votes, withParent], h) }).toThrow(/parent_hash/)
    const backwards = createVote(voters[4]?.secretKey as Uint8Array, voters[4]?.publicKey as Uint8Array, h, d, { vote: true, timestamp: T0 + 11, receivedHash: votes[3]?.voteHash })
    expect(() => { verifyVoteChain([...votes, backwards], h) }).toThrow(/older than the vote it answers/)
  })

  it('thresholds: n <= 2 unanimity; n > 2 a majority YES among at least 2n/3 voters; NO once YES cannot win', () => {
    const opts = { timedOut: false, livenessYes: true }
    expect(tally(1, 1, 0, opts)).toBe(true)
    expect(tally(2, 1, 0, opts)).toBeUndefined()
    expect(tally(2, 2, 0, opts)).toBe(true)
    expect(tally(2, 1, 1, opts)).toBe(false)
    // n = 9: quorum 6, majority 5.
    expect(tally(9, 5, 0, opts)).toBeUndefined() // 5 voters < quorum
    expect(tally(9, 5, 1, opts)).toBe(true)
    expect(tally(9, 4, 2, opts)).toBeUndefined()
    expect(tally(9, 4, 5, opts)).toBe(false)
    expect(tally(10, 5, 5, opts)).toBe(false) // a tie is NO (REJECT)
    // Timeout: silent voters count per liveness.
    expect(tally(9, 2, 1, { timedOut: true, livenessYes: true })).toBe(true)
    expect(tally(9, 2, 1, { timedOut: true, livenessYes: false })).toBe(false)
    expect(tally(2, 1, 0, { timedOut: true, livenessYes: true })).toBe(true)
    expect(tally(2, 1, 0, { timedOut: true, livenessYes: false })).toBe(false)
  })

  it('two members can never decide opposite results from the votes they hold (property)', () => {
    fc.assert(fc.property(fc.integer({ min: 3, max: 40 }), fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }), fc.integer({ min: 0, max: 2 ** 31 }), (n, ballot, seed) => {
      const votes = ballot.slice(0, n)
      // Two members each hold a different subset of the same votes.
      const pick = (s: number): boolean[] => votes.filter((_, i) => ((s >> (i % 31)) & 1) === 1 || i % 3 === s % 3)
      const a = pick(seed)
      const b = pick(seed ^ 0x5a5a5a5a)
      const da = tally(n, a.filter(Boolean).length, a.filter(x => !x).length, { timedOut: false, livenessYes: true })
      const db = tally(n, b.filter(Boolean).length, b.filter(x => !x).length, { timedOut: false, livenessYes: true })
      if (da !== undefined && db !== undefined) expect(da).toBe(db)
    }), { numRuns: 500 })
  })

  it('a session orders votes along the chain and decides', () => {
    const h = header()
    const votes = chain(h, [true, true, false, true, true])
    const s = new VotingSession(h, proposalDigest(h), T0)
    // Votes that answer a vote we do not have yet wait for it.
    for (const v of votes.slice(1, 3)) expect(s.add(v, T0)).toBe(true)
    expect(s.votes.length).toBe(0)
    s.add(votes[0] as Vote, T0)
    expect(s.votes.length).toBe(3)
    for (const v of votes.slice(3)) s.add(v, T0)
    expect(s.add(votes[2] as Vote, T0)).toBe(false)
    expect(() => { verifyVoteChain(s.certificate().votes, h) }).not.toThrow()
    expect(s.evaluate(T0 + 100, 30_000)).toBe(true) // 6 voters of 7, 5 YES
    expect(s.decision).toBe(true)
    expect(s.decidedByTimeout).toBe(false)
  })
})

describe('certificates', () => {
  it('carry only the votes that prove a YES, chain intact; a vote counted on MLS authentication with a bad signature is dropped', () => {
    const h = header({ expectedVoters: 7 })
    const votes = chain(h, [true, true, true, false, true, true]) // creator + 6: 6 YES, 1 NO
    const s = new VotingSession(h, proposalDigest(h), T0)
    s.add(votes[0] as Vote, T0)
    // One vote arrives "from its owner" with a broken signature: counted, then dropped when certified.
    const forged = { ...votes[1] as Vote, signature: new Uint8Array(64) }
    s.add(forged, T0, false)
    for (const v of votes.slice(2)) s.add(v, T0, false)
    expect(s.votes.length).toBe(7)
    const certified = s.certificateVotes(() => true, false) as Vote[]
    expect(certified).toBeDefined()
    expect(certified.includes(forged)).toBe(false)
    expect(certified[0]).toBe(votes[0])
    expect(() => { verifyVoteChain(certified, h) }).not.toThrow()
    // n = 7: quorum 5 voters, majority 4 YES; the subset proves it and no more.
    expect(certified.length).toBe(5)
    expect(tally(7, certified.filter(v => v.vote).length, certified.filter(v => !v.vote).length, { timedOut: false, livenessYes: true })).toBe(true)
    for (const v of certified) expect(() => { verifyVote(v, h, proposalDigest(h)) }).not.toThrow()
  })

  it('are undefined when the checked votes no longer prove the decision', () => {
    const h = header({ expectedVoters: 3 })
    const votes = chain(h, [true, true])
    const s = new VotingSession(h, proposalDigest(h), T0)
    s.add(votes[0] as Vote, T0)
    for (const v of votes.slice(1)) s.add({ ...v, signature: new Uint8Array(64) }, T0, false)
    expect(s.certificateVotes(() => true, false)).toBeUndefined()
  })
})

describe('steward list (DE-MLS "Steward list creation")', () => {
  const gid = Uint8Array.of(1, 2, 3)
  const members = Array.from({ length: 12 }, (_, i) => sha256(Uint8Array.of(i)).subarray(0, 20))

  it('is the members sorted by SHA256(epoch || retry || id || group), cut to min(sn_max, n)', () => {
    const list = generateStewardList(4, 1, members, gid, 3, 5)
    expect(list.length).toBe(5)
    const keys = members.map(id => ({ id, k: stewardSortKey(4, 1, id, gid) })).sort((a, b) => compareBytes(a.k, b.k))
    expect(list.map(toHex)).toEqual(keys.slice(0, 5).map(x => toHex(x.id)))
    expect(stewardListSize(2, 3, 5)).toBe(2)
    expect(stewardListSize(4, 3, 5)).toBe(4)
  })

  it('is deterministic, and changes with the epoch, the retry round and the group', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 0, max: 10 }), (epoch, retry) => {
      const a = generateStewardList(epoch, retry, members, gid, 3, 5)
      expect(generateStewardList(epoch, retry, [...members].reverse(), gid, 3, 5).map(toHex)).toEqual(a.map(toHex))
      expect(isValidStewardList(a, epoch, retry, members, gid, 3, 5)).toBe(true)
      expect(isValidStewardList([...a].reverse(), epoch, retry, members, gid, 3, 5)).toBe(a.length < 2)
    }), { numRuns: 100 })
    const base = generateStewardList(1, 0, members, gid, 3, 5).map(toHex)
    expect(generateStewardList(1, 1, members, gid, 3, 5).map(toHex)).not.toEqual(base)
    expect(generateStewardList(2, 0, members, gid, 3, 5).map(toHex)).not.toEqual(base)
    expect(generateStewardList(1, 0, members, Uint8Array.of(9), 3, 5).map(toHex)).not.toEqual(base)
  })

  it('governs its epochs in order; Layer 1 walks from the epoch steward skipping the ineligible', () => {
    const s = { stewards: members.slice(0, 3), startEpoch: 10, electionEpoch: 9, retryRound: 0 }
    expect([9, 10, 12, 13].map(e => coversEpoch(s, e))).toEqual([false, true, true, false])
    const walk = stewardWalk(s.stewards, 1, () => true)
    expect(walk.map(toHex)).toEqual([members[1], members[2], members[0]].map(x => toHex(x as Uint8Array)))
    const skip = stewardWalk(s.stewards, 1, id => toHex(id) !== toHex(members[1] as Uint8Array))
    expect(skip.map(toHex)).toEqual([members[2], members[0]].map(x => toHex(x as Uint8Array)))
    expect(recoveryWalk(members).map(toHex)).toEqual([...members].sort(compareBytes).map(toHex))
  })
})

describe('peer scores (DE-MLS "Peer Scoring")', () => {
  it('starts at the default, moves by the configured deltas, and flags members at or below the threshold', () => {
    const config = defaultGroupConfig().scoring
    const s = new PeerScores(config)
    const a = new Uint8Array(20).fill(1)
    const b = new Uint8Array(20).fill(2)
    s.syncMembers([a, b])
    expect(s.get(a)).toBe(100)
    expect(s.apply(a, 'brokenCommit').score).toBe(50)
    expect(s.isBelowThreshold(a)).toBe(false)
    s.apply(a, 'brokenCommit')
    expect(s.isBelowThreshold(a)).toBe(true)
    expect(s.belowThreshold().map(toHex)).toEqual([toHex(a)])
    s.apply(b, 'successfulCommit')
    expect(s.get(b)).toBe(110)
    s.syncMembers([b])
    expect(s.entries().length).toBe(1)
  })
})
