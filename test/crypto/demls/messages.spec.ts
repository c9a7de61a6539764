import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  decodeAppMessage, decodeCandidateBody, decodeEnvelope, decodeGovernance, defaultGroupConfig, encodeAppMessage,
  encodeCandidateBody, encodeEnvelope, encodeGovernance, Reader, Writer, DemlsDecodeError, DemlsVersionError
} from '../../../src/crypto/demls/index.ts'
import type { AppMessage, CandidateBody, Envelope, ProposalHeader, ProposalPayload, Vote } from '../../../src/crypto/demls/index.ts'
import { decodeGroupRecord, encodeGroupRecord } from '../../../src/crypto/demls/record.ts'

const bytes = (min: number, max: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: min, maxLength: max })
const fixedBytes = (n: number): fc.Arbitrary<Uint8Array> => bytes(n, n)
const u32 = fc.integer({ min: 0, max: 0xffffffff })
const time = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })
const optHash = fc.oneof(fixedBytes(0), fixedBytes(32))

const payload: fc.Arbitrary<ProposalPayload> = fc.oneof(
  fc.record({ kind: fc.constant('add' as const), keyPackage: bytes(0, 300) }),
  fc.record({ kind: fc.constant('remove' as const), memberId: fixedBytes(20) }),
  fc.record({
    kind: fc.constant('election' as const),
    electionEpoch: time,
    retryRound: u32,
    stewards: fc.array(fixedBytes(20), { maxLength: 6 }),
    excluded: fc.array(fixedBytes(20), { maxLength: 3 })
  }),
  fc.record({
    kind: fc.constant('emergency' as const),
    violation: fc.constantFrom(1, 2, 3, 4, 5, 6) as fc.Arbitrary<1 | 2 | 3 | 4 | 5 | 6>,
    target: fc.oneof(fixedBytes(0), fixedBytes(20)),
    evidence: bytes(0, 64)
  })
)

const header: fc.Arbitrary<ProposalHeader> = fc.record({
  groupId: bytes(1, 64),
  epoch: time,
  proposalId: u32,
  owner: fixedBytes(32),
  expectedVoters: u32,
  timestamp: time,
  expiration: time,
  livenessYes: fc.boolean(),
  payload
})

const vote: fc.Arbitrary<Vote> = fc.record({
  voteId: u32,
  owner: fixedBytes(32),
  proposalId: u32,
  timestamp: time,
  vote: fc.boolean(),
  parentHash: optHash,
  receivedHash: optHash,
  voteHash: fixedBytes(32),
  signature: fixedBytes(64)
})

const appMessage: fc.Arbitrary<AppMessage> = fc.oneof(
  fc.record({ type: fc.constant('chat' as const), data: bytes(0, 200) }),
  fc.record({ type: fc.constant('proposal' as const), header, votes: fc.array(vote, { maxLength: 4 }), round: u32 }),
  fc.record({ type: fc.constant('vote' as const), proposalDigest: fixedBytes(32), vote })
)

const announced = fc.record({ epoch: time, candidateHash: fixedBytes(32), proposalCount: fc.integer({ min: 0, max: 0xffff }), committer: fixedBytes(20), byEpochSteward: fc.boolean() })

const envelope: fc.Arbitrary<Envelope> = fc.oneof(
  fc.record({ type: fc.constant('mls' as const), groupId: bytes(1, 64), epoch: time, message: bytes(0, 200) }),
  fc.record({ type: fc.constant('candidate' as const), groupId: bytes(1, 64), epoch: time, committer: fixedBytes(20), nonce: fixedBytes(12), ciphertext: bytes(0, 200) }),
  fc.record({ type: fc.constant('announce' as const), groupId: bytes(1, 64), epoch: time, commits: fc.array(announced, { maxLength: 4 }) }),
  fc.record({ type: fc.constant('commit-request' as const), groupId: bytes(1, 64), epoch: time, candidateHash: fc.option(fixedBytes(32), { nil: undefined }) }),
  fc.record({ type: fc.constant('key-package' as const), groupId: bytes(1, 64), keyPackage: bytes(0, 200) }),
  fc.record({ type: fc.constant('welcome' as const), groupId: bytes(1, 64), commit: announced, keyPackageRefs: fc.array(bytes(0, 64), { maxLength: 3 }), welcome: bytes(0, 200) }),
  fc.record({ type: fc.constant('welcome-request' as const), groupId: bytes(1, 64), keyPackageRef: bytes(0, 64) })
)

const candidate: fc.Arbitrary<CandidateBody> = fc.record({
  epoch: time,
  committer: fixedBytes(20),
  certificates: fc.array(fc.record({ header, votes: fc.array(vote, { maxLength: 3 }) }), { maxLength: 3 }),
  commit: bytes(0, 200),
  welcome: fc.option(bytes(1, 100), { nil: undefined }),
  signature: fixedBytes(64)
})

describe('De-MLS wire format', () => {
  it('envelopes round-trip', () => {
    fc.assert(fc.property(envelope, e => { expect(decodeEnvelope(encodeEnvelope(e))).toEqual(e) }), { numRuns: 300 })
  })

  it('application messages round-trip', () => {
    fc.assert(fc.property(appMessage, m => { expect(decodeAppMessage(encodeAppMessage(m))).toEqual(m) }), { numRuns: 300 })
  })

  it('candidate bodies round-trip', () => {
    fc.assert(fc.property(candidate, b => { expect(decodeCandidateBody(encodeCandidateBody(b))).toEqual(b) }), { numRuns: 200 })
  })

  it('every truncation of a valid message fails with a typed decode error', () => {
    fc.assert(fc.property(envelope, e => {
      const wire = encodeEnvelope(e)
      for (let n = 0; n < wire.length; n++) expect(() => decodeEnvelope(wire.subarray(0, n))).toThrow(DemlsDecodeError)
    }), { numRuns: 60 })
  })

  it('trailing bytes, unknown types and other versions are refused', () => {
    const wire = encodeEnvelope({ type: 'commit-request', groupId: Uint8Array.of(1), epoch: 3, candidateHash: undefined })
    expect(() => decodeEnvelope(Uint8Array.from([...wire, 0]))).toThrow(DemlsDecodeError)
    const v2 = Uint8Array.from(wire)
    v2[0] = 2
    expect(() => decodeEnvelope(v2)).toThrow(DemlsVersionError)
    const unknown = Uint8Array.from(wire)
    unknown[1] = 99
    expect(() => decodeEnvelope(unknown)).toThrow(DemlsDecodeError)
    expect(() => decodeAppMessage(Uint8Array.of(1, 9))).toThrow(DemlsDecodeError)
  })

  it('random bytes never decode into anything but a typed error or a valid message', () => {
    fc.assert(fc.property(bytes(0, 120), b => {
      try {
        const e = decodeEnvelope(b)
        expect(decodeEnvelope(encodeEnvelope(e))).toEqual(e)
      } catch (err) {
        expect(err instanceof DemlsDecodeError || err instanceof DemlsVersionError).toBe(true)
      }
    }), { numRuns: 2000 })
  })

  it('varints are minimal and bounded', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), n => {
      expect(new Reader(new Writer().varint(n).finish()).varint()).toBe(n)
    }))
    expect(() => new Reader(Uint8Array.of(0x80, 0x00)).varint()).toThrow(DemlsDecodeError)
    expect(() => new Reader(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)).varint()).toThrow(DemlsDecodeError)
  })

  it('governance round-trips and refuses an invalid configuration', () => {
    const g = {
      config: defaultGroupConfig({ mode: 'stewards', snMin: 2, snMax: 7, scoring: { threshold: -10, deltas: { censorship: -33 } } }),
      stewards: { stewards: [new Uint8Array(20).fill(1), new Uint8Array(20).fill(2)], startEpoch: 5, electionEpoch: 4, retryRound: 1 }
    }
    expect(decodeGovernance(encodeGovernance(g))).toEqual(g)
    expect(() => defaultGroupConfig({ snMin: 5, snMax: 3 })).toThrow(expect.objectContaining({ code: 'ERR_MLS_INVALID_CONFIG' }))
    expect(() => defaultGroupConfig({ timers: { freezeMs: 0 } })).toThrow(expect.objectContaining({ code: 'ERR_MLS_INVALID_CONFIG' }))
    expect(() => defaultGroupConfig({ scoring: { threshold: 200 } })).toThrow(expect.objectContaining({ code: 'ERR_MLS_INVALID_CONFIG' }))
  })

  it('group records round-trip', () => {
    const r = {
      state: Uint8Array.of(1, 2, 3),
      governance: Uint8Array.of(4),
      closed: false,
      history: [
        { epoch: 3, preState: Uint8Array.of(9), preGovernance: Uint8Array.of(8), wire: Uint8Array.of(7), hash: new Uint8Array(32).fill(5), proposalCount: 2, committer: new Uint8Array(20).fill(6), byEpochSteward: true },
        { epoch: 4, preState: undefined, preGovernance: undefined, wire: undefined, hash: new Uint8Array(32), proposalCount: 1, committer: new Uint8Array(20), byEpochSteward: false }
      ],
      scores: [[new Uint8Array(20).fill(3), -40]] as Array<[Uint8Array, number]>,
      outbox: [{ payload: { kind: 'remove' as const, memberId: new Uint8Array(20).fill(2) }, attempts: 2 }],
      keyPackages: [{ bytes: Uint8Array.of(1, 1), firstEpoch: 2 }],
      welcomes: [{ commit: { epoch: 3, candidateHash: new Uint8Array(32), proposalCount: 1, committer: new Uint8Array(20), byEpochSteward: false }, refs: [Uint8Array.of(1)], welcome: Uint8Array.of(2) }]
    }
    expect(decodeGroupRecord(encodeGroupRecord(r))).toEqual(r)
  })
})
