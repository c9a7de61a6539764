import { HASH_LENGTH, MAX_GROUP_ID_LENGTH, MEMBER_ID_LENGTH, PUBLIC_KEY_LENGTH, SIGNATURE_LENGTH, WIRE_VERSION } from './constants.ts'
import { Reader, Writer, writeList } from './codec.ts'
import { DemlsDecodeError, DemlsVersionError } from './errors.ts'

/**
 * The De-MLS wire format (version 1). Every message starts with the version byte and a type byte; integers are
 * big-endian, lengths are LEB128 varints. DE-MLS specifies protobuf for Proposal and Vote; we keep the same fields in
 * a fixed binary layout (docs/demls.md lists every field) because the bytes are hashed and signed, and a canonical
 * encoding needs no protobuf canonicalisation rules.
 *
 * Two layers:
 * - the Envelope travels on the pub/sub topics (app and welcome) and names the group;
 * - the AppMessage is the plaintext of an MLS application message (chat, voting proposals, votes), so governance
 *   traffic is encrypted and authenticated by MLS as DE-MLS "Creating Voting Proposal" requires.
 */

// ---- voting (HASHGRAPHLIKE §1) ----

export type ProposalKind = 'add' | 'remove' | 'election' | 'emergency'

/** ECP violation types (the Rust reference's ViolationType numbering). */
export const VIOLATION = {
  brokenCommit: 1,
  brokenProposal: 2,
  censorship: 3,
  scoreBelowThreshold: 4,
  deadlock: 5,
  misbehavingCommit: 6
} as const
export type ViolationType = typeof VIOLATION[keyof typeof VIOLATION]

export type ProposalPayload =
  | { kind: 'add', keyPackage: Uint8Array }
  | { kind: 'remove', memberId: Uint8Array }
  | { kind: 'election', electionEpoch: number, retryRound: number, stewards: Uint8Array[], excluded: Uint8Array[] }
  | { kind: 'emergency', violation: ViolationType, target: Uint8Array, evidence: Uint8Array }

/** The signed part of a voting proposal: everything but the votes and the round. */
export interface ProposalHeader {
  groupId: Uint8Array
  /** The MLS epoch the proposal was made in; it can only be committed from that epoch. */
  epoch: number
  proposalId: number
  /** Ed25519 public key of the creator. */
  owner: Uint8Array
  expectedVoters: number
  /** ms since the Unix epoch */
  timestamp: number
  expiration: number
  livenessYes: boolean
  payload: ProposalPayload
}

export interface Vote {
  voteId: number
  /** Ed25519 public key of the voter. */
  owner: Uint8Array
  proposalId: number
  timestamp: number
  vote: boolean
  parentHash: Uint8Array
  receivedHash: Uint8Array
  voteHash: Uint8Array
  signature: Uint8Array
}

/** A proposal with the votes that decided it: self-certifying evidence carried in commit candidates. */
export interface Certificate {
  header: ProposalHeader
  votes: Vote[]
}

// ---- application messages (MLS application data) ----

export type AppMessage =
  | { type: 'chat', data: Uint8Array }
  | { type: 'proposal', header: ProposalHeader, votes: Vote[], round: number }
  | { type: 'vote', proposalDigest: Uint8Array, vote: Vote }

// ---- envelopes (pub/sub) ----

export type Envelope =
  /** An MLS PrivateMessage of `epoch` (an AppMessage inside). */
  | { type: 'mls', groupId: Uint8Array, epoch: number, message: Uint8Array }
  /** A commit candidate for `epoch`, encrypted under a key exported from that epoch so any member can re-serve it. */
  | { type: 'candidate', groupId: Uint8Array, epoch: number, committer: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array }
  /**
   * "I am in `epoch`, and these are the last commits I applied": lets a member that is behind, or on a losing branch
   * since one of those epochs, notice and fetch what it misses.
   */
  | { type: 'announce', groupId: Uint8Array, epoch: number, commits: AnnouncedCommit[] }
  /** "Please re-send the commit that left `epoch`" (a specific one when candidateHash is set). */
  | { type: 'commit-request', groupId: Uint8Array, epoch: number, candidateHash: Uint8Array | undefined }
  /** DE-MLS "Single steward" 3: a node publishes its plaintext KeyPackage on the welcome topic. */
  | { type: 'key-package', groupId: Uint8Array, keyPackage: Uint8Array }
  /**
   * An MLS Welcome for the joiners whose key package references are listed; `commit` is the commit that created the
   * epoch it joins, so a joiner can tell later that its Welcome came from a commit the group did not keep.
   */
  | { type: 'welcome', groupId: Uint8Array, commit: AnnouncedCommit, keyPackageRefs: Uint8Array[], welcome: Uint8Array }
  /** A joiner that has not seen its Welcome asks for it again. */
  | { type: 'welcome-request', groupId: Uint8Array, keyPackageRef: Uint8Array }

/** One accepted commit in an announcement, with what is needed to rank it against a competitor. */
export interface AnnouncedCommit {
  /** The epoch the commit left. */
  epoch: number
  candidateHash: Uint8Array
  proposalCount: number
  committer: Uint8Array
  byEpochSteward: boolean
}

/** The plaintext of a candidate envelope. */
export interface CandidateBody {
  epoch: number
  committer: Uint8Array
  certificates: Certificate[]
  /** The MLS commit (an MLSMessage carrying a PublicMessage). */
  commit: Uint8Array
  /** The MLS Welcome when the commit adds members. */
  welcome: Uint8Array | undefined
  /** Ed25519 by the committer over the rest of the body (see candidateSigningBytes). */
  signature: Uint8Array
}

const ENVELOPE_TYPES = ['mls', 'candidate', 'announce', 'commit-request', 'key-package', 'welcome', 'welcome-request'] as const
const APP_TYPES = ['chat', 'proposal', 'vote'] as const
const PROPOSAL_KINDS = ['add', 'remove', 'election', 'emergency'] as const

function typeCode<T extends string> (table: readonly T[], t: T): number {
  return table.indexOf(t) + 1
}

function typeOf<T extends string> (table: readonly T[], code: number, what: string): T {
  const t = table[code - 1]
  if (t === undefined) throw new DemlsDecodeError(`unknown ${what} type ${code}`)
  return t
}

function readVersion (r: Reader): void {
  const v = r.u8('version')
  if (v !== WIRE_VERSION) throw new DemlsVersionError(`unsupported wire version ${v} (this is ${WIRE_VERSION})`)
}

function fixed (r: Reader, n: number, what: string): Uint8Array {
  return r.raw(n, what)
}

function checkLength (b: Uint8Array, n: number, what: string): void {
  if (b.length !== n) throw new RangeError(`${what} must be ${n} bytes, got ${b.length}`)
}

function writeGroupId (w: Writer, groupId: Uint8Array): void {
  if (groupId.length === 0 || groupId.length > MAX_GROUP_ID_LENGTH) throw new RangeError(`group id must be 1-${MAX_GROUP_ID_LENGTH} bytes`)
  w.bytes(groupId)
}

function readGroupId (r: Reader): Uint8Array {
  const g = r.bytes('group id', MAX_GROUP_ID_LENGTH)
  if (g.length === 0) throw new DemlsDecodeError('empty group id')
  return g
}

/** A hash field that is empty or HASH_LENGTH bytes (parent_hash, received_hash). */
function readOptionalHash (r: Reader, what: string): Uint8Array {
  const h = r.bytes(what, HASH_LENGTH)
  if (h.length !== 0 && h.length !== HASH_LENGTH) throw new DemlsDecodeError(`${what} must be empty or ${HASH_LENGTH} bytes`)
  return h
}

// ---- payload / header / vote ----

export function writePayload (w: Writer, p: ProposalPayload): void {
  w.u8(typeCode(PROPOSAL_KINDS, p.kind))
  switch (p.kind) {
    case 'add':
      w.bytes(p.keyPackage)
      break
    case 'remove':
      checkLength(p.memberId, MEMBER_ID_LENGTH, 'member id')
      w.raw(p.memberId)
      break
    case 'election':
      w.u64(p.electionEpoch).u32(p.retryRound)
      writeList(w, p.stewards, (w, id) => { checkLength(id, MEMBER_ID_LENGTH, 'steward id'); w.raw(id) })
      writeList(w, p.excluded, (w, id) => { checkLength(id, MEMBER_ID_LENGTH, 'excluded id'); w.raw(id) })
      break
    case 'emergency':
      if (p.target.length !== 0) checkLength(p.target, MEMBER_ID_LENGTH, 'target id')
      w.u8(p.violation).bytes(p.target).bytes(p.evidence)
      break
  }
}

export function readPayload (r: Reader): ProposalPayload {
  const kind = typeOf(PROPOSAL_KINDS, r.u8('proposal kind'), 'proposal')
  switch (kind) {
    case 'add':
      return { kind, keyPackage: r.bytes('key package') }
    case 'remove':
      return { kind, memberId: fixed(r, MEMBER_ID_LENGTH, 'member id') }
    case 'election': {
      const electionEpoch = r.u64n('election epoch')
      const retryRound = r.u32('retry round')
      const stewards = r.list(r => fixed(r, MEMBER_ID_LENGTH, 'steward id'), 'stewards')
      const excluded = r.list(r => fixed(r, MEMBER_ID_LENGTH, 'excluded id'), 'excluded')
      return { kind, electionEpoch, retryRound, stewards, excluded }
    }
    case 'emergency': {
      const violation = r.u8('violation')
      if (violation < 1 || violation > 6) throw new DemlsDecodeError(`unknown violation type ${violation}`)
      const target = r.bytes('target', MEMBER_ID_LENGTH)
      if (target.length !== 0 && target.length !== MEMBER_ID_LENGTH) throw new DemlsDecodeError('target must be empty or a member id')
      return { kind, violation: violation as ViolationType, target, evidence: r.bytes('evidence', 64 * 1024) }
    }
  }
}

export function writeHeader (w: Writer, h: ProposalHeader): void {
  checkLength(h.owner, PUBLIC_KEY_LENGTH, 'owner key')
  writeGroupId(w, h.groupId)
  w.u64(h.epoch).u32(h.proposalId).raw(h.owner).u32(h.expectedVoters).u64(h.timestamp).u64(h.expiration).bool(h.livenessYes)
  writePayload(w, h.payload)
}

export function readHeader (r: Reader): ProposalHeader {
  const groupId = readGroupId(r)
  const epoch = r.u64n('epoch')
  const proposalId = r.u32('proposal id')
  const owner = fixed(r, PUBLIC_KEY_LENGTH, 'owner key')
  const expectedVoters = r.u32('expected voters')
  const timestamp = r.u64n('timestamp')
  const expiration = r.u64n('expiration')
  const livenessYes = r.bool('liveness')
  const payload = readPayload(r)
  return { groupId, epoch, proposalId, owner, expectedVoters, timestamp, expiration, livenessYes, payload }
}

export function encodeHeader (h: ProposalHeader): Uint8Array {
  const w = new Writer()
  writeHeader(w, h)
  return w.finish()
}

export function writeVote (w: Writer, v: Vote): void {
  checkLength(v.owner, PUBLIC_KEY_LENGTH, 'vote owner')
  checkLength(v.voteHash, HASH_LENGTH, 'vote hash')
  checkLength(v.signature, SIGNATURE_LENGTH, 'vote signature')
  w.u32(v.voteId).raw(v.owner).u32(v.proposalId).u64(v.timestamp).bool(v.vote)
  w.bytes(v.parentHash).bytes(v.receivedHash).raw(v.voteHash).raw(v.signature)
}

export function readVote (r: Reader): Vote {
  return {
    voteId: r.u32('vote id'),
    owner: fixed(r, PUBLIC_KEY_LENGTH, 'vote owner'),
    proposalId: r.u32('proposal id'),
    timestamp: r.u64n('vote timestamp'),
    vote: r.bool('vote'),
    parentHash: readOptionalHash(r, 'parent hash'),
    receivedHash: readOptionalHash(r, 'received hash'),
    voteHash: fixed(r, HASH_LENGTH, 'vote hash'),
    signature: fixed(r, SIGNATURE_LENGTH, 'signature')
  }
}

function writeCertificate (w: Writer, c: Certificate): void {
  writeHeader(w, c.header)
  writeList(w, c.votes, writeVote)
}

function readCertificate (r: Reader): Certificate {
  return { header: readHeader(r), votes: r.list(readVote, 'votes') }
}

// ---- app messages ----

export function encodeAppMessage (m: AppMessage): Uint8Array {
  const w = new Writer()
  w.u8(WIRE_VERSION).u8(typeCode(APP_TYPES, m.type))
  switch (m.type) {
    case 'chat':
      w.bytes(m.data)
      break
    case 'proposal':
      writeHeader(w, m.header)
      writeList(w, m.votes, writeVote)
      w.u32(m.round)
      break
    case 'vote':
      checkLength(m.proposalDigest, HASH_LENGTH, 'proposal digest')
      w.raw(m.proposalDigest)
      writeVote(w, m.vote)
      break
  }
  return w.finish()
}

export function decodeAppMessage (bytes: Uint8Array): AppMessage {
  const r = new Reader(bytes)
  readVersion(r)
  const type = typeOf(APP_TYPES, r.u8('type'), 'app message')
  let m: AppMessage
  switch (type) {
    case 'chat':
      m = { type, data: r.bytes('chat data') }
      break
    case 'proposal':
      m = { type, header: readHeader(r), votes: r.list(readVote, 'votes'), round: r.u32('round') }
      break
    case 'vote':
      m = { type, proposalDigest: fixed(r, HASH_LENGTH, 'proposal digest'), vote: readVote(r) }
      break
  }
  r.end('app message')
  return m
}

// ---- envelopes ----

export function writeAnnounced (w: Writer, c: AnnouncedCommit): void {
  checkLength(c.candidateHash, HASH_LENGTH, 'candidate hash')
  checkLength(c.committer, MEMBER_ID_LENGTH, 'committer')
  w.u64(c.epoch).raw(c.candidateHash).u16(c.proposalCount).raw(c.committer).bool(c.byEpochSteward)
}

export function readAnnounced (r: Reader): AnnouncedCommit {
  return {
    epoch: r.u64n('epoch'),
    candidateHash: fixed(r, HASH_LENGTH, 'candidate hash'),
    proposalCount: r.u16('proposal count'),
    committer: fixed(r, MEMBER_ID_LENGTH, 'committer'),
    byEpochSteward: r.bool('by epoch steward')
  }
}

export function encodeEnvelope (e: Envelope): Uint8Array {
  const w = new Writer(e.type === 'mls' || e.type === 'candidate' || e.type === 'welcome' ? 1024 : 128)
  w.u8(WIRE_VERSION).u8(typeCode(ENVELOPE_TYPES, e.type))
  writeGroupId(w, e.groupId)
  switch (e.type) {
    case 'mls':
      w.u64(e.epoch).bytes(e.message)
      break
    case 'candidate':
      checkLength(e.committer, MEMBER_ID_LENGTH, 'committer')
      checkLength(e.nonce, 12, 'nonce')
      w.u64(e.epoch).raw(e.committer).raw(e.nonce).bytes(e.ciphertext)
      break
    case 'announce':
      w.u64(e.epoch)
      writeList(w, e.commits, writeAnnounced)
      break
    case 'commit-request':
      if (e.candidateHash !== undefined) checkLength(e.candidateHash, HASH_LENGTH, 'candidate hash')
      w.u64(e.epoch).bytes(e.candidateHash ?? new Uint8Array(0))
      break
    case 'key-package':
      w.bytes(e.keyPackage)
      break
    case 'welcome':
      writeAnnounced(w, e.commit)
      writeList(w, e.keyPackageRefs, (w, ref) => w.bytes(ref))
      w.bytes(e.welcome)
      break
    case 'welcome-request':
      w.bytes(e.keyPackageRef)
      break
  }
  return w.finish()
}

export function decodeEnvelope (bytes: Uint8Array): Envelope {
  const r = new Reader(bytes)
  readVersion(r)
  const type = typeOf(ENVELOPE_TYPES, r.u8('type'), 'envelope')
  const groupId = readGroupId(r)
  let e: Envelope
  switch (type) {
    case 'mls':
      e = { type, groupId, epoch: r.u64n('epoch'), message: r.bytes('mls message') }
      break
    case 'candidate':
      e = {
        type,
        groupId,
        epoch: r.u64n('epoch'),
        committer: fixed(r, MEMBER_ID_LENGTH, 'committer'),
        nonce: fixed(r, 12, 'nonce'),
        ciphertext: r.bytes('ciphertext')
      }
      break
    case 'announce':
      e = {
        type,
        groupId,
        epoch: r.u64n('epoch'),
        commits: r.list(readAnnounced, 'announced commits', 16)
      }
      break
    case 'commit-request': {
      const epoch = r.u64n('epoch')
      const hash = r.bytes('candidate hash', HASH_LENGTH)
      if (hash.length !== 0 && hash.length !== HASH_LENGTH) throw new DemlsDecodeError('candidate hash must be empty or 32 bytes')
      e = { type, groupId, epoch, candidateHash: hash.length === 0 ? undefined : hash }
      break
    }
    case 'key-package':
      e = { type, groupId, keyPackage: r.bytes('key package') }
      break
    case 'welcome':
      e = {
        type,
        groupId,
        commit: readAnnounced(r),
        keyPackageRefs: r.list(r => r.bytes('key package ref', 64), 'key package refs'),
        welcome: r.bytes('welcome')
      }
      break
    case 'welcome-request':
      e = { type, groupId, keyPackageRef: r.bytes('key package ref', 64) }
      break
  }
  r.end('envelope')
  return e
}

/** The authenticated header of a candidate envelope (AEAD associated data). */
export function candidateAad (groupId: Uint8Array, epoch: number, committer: Uint8Array): Uint8Array {
  const w = new Writer(96)
  w.u8(WIRE_VERSION).u8(typeCode(ENVELOPE_TYPES, 'candidate'))
  writeGroupId(w, groupId)
  w.u64(epoch).raw(committer)
  return w.finish()
}

// ---- candidate body ----

function writeCandidateUnsigned (w: Writer, b: Omit<CandidateBody, 'signature'>): void {
  checkLength(b.committer, MEMBER_ID_LENGTH, 'committer')
  w.u8(WIRE_VERSION).u64(b.epoch).raw(b.committer)
  writeList(w, b.certificates, writeCertificate)
  w.bytes(b.commit)
  w.bytes(b.welcome ?? new Uint8Array(0))
}

/** What the committer signs: a domain tag, the group, then the body without its signature. */
export function candidateSigningBytes (groupId: Uint8Array, b: Omit<CandidateBody, 'signature'>): Uint8Array {
  const w = new Writer(1024)
  w.string('demls/candidate/v1')
  writeGroupId(w, groupId)
  writeCandidateUnsigned(w, b)
  return w.finish()
}

export function encodeCandidateBody (b: CandidateBody): Uint8Array {
  const w = new Writer(1024)
  writeCandidateUnsigned(w, b)
  checkLength(b.signature, SIGNATURE_LENGTH, 'candidate signature')
  w.raw(b.signature)
  return w.finish()
}

export function decodeCandidateBody (bytes: Uint8Array): CandidateBody {
  const r = new Reader(bytes)
  readVersion(r)
  const epoch = r.u64n('epoch')
  const committer = fixed(r, MEMBER_ID_LENGTH, 'committer')
  const certificates = r.list(readCertificate, 'certificates')
  const commit = r.bytes('commit')
  const welcome = r.bytes('welcome')
  const signature = fixed(r, SIGNATURE_LENGTH, 'signature')
  r.end('candidate')
  return { epoch, committer, certificates, commit, welcome: welcome.length === 0 ? undefined : welcome, signature }
}
