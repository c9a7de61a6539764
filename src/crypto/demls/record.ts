import { HASH_LENGTH, MEMBER_ID_LENGTH, WIRE_VERSION } from './constants.ts'
import { Reader, Writer, writeList } from './codec.ts'
import { DemlsVersionError } from './errors.ts'
import { readAnnounced, readPayload, writeAnnounced, writePayload } from './messages.ts'
import type { AnnouncedCommit, ProposalPayload } from './messages.ts'

/**
 * The persisted form of a group (what DemlsStore.saveGroup keeps): enough to resume where the member was after a
 * restart. Voting sessions in flight are not kept; requests of our own that were not committed are (the outbox), and
 * are proposed again.
 */
export interface HistoryRecord {
  epoch: number
  /** The MLS state before the commit (kept for the last few epochs, for rollback to a better commit). */
  preState: Uint8Array | undefined
  preGovernance: Uint8Array | undefined
  /** The candidate envelope as it travelled, re-served to members that missed it (a joiner has none for the commit that let it in). */
  wire: Uint8Array | undefined
  hash: Uint8Array
  proposalCount: number
  committer: Uint8Array
  byEpochSteward: boolean
}

export interface OutboxRecord {
  payload: ProposalPayload
  attempts: number
}

export interface WelcomeRecord {
  commit: AnnouncedCommit
  refs: Uint8Array[]
  welcome: Uint8Array
}

export interface GroupRecord {
  state: Uint8Array
  /** The governance in force (encodeGovernance). */
  governance: Uint8Array
  closed: boolean
  history: HistoryRecord[]
  scores: Array<[Uint8Array, number]>
  outbox: OutboxRecord[]
  keyPackages: Array<{ bytes: Uint8Array, firstEpoch: number }>
  welcomes: WelcomeRecord[]
}

export function encodeGroupRecord (r: GroupRecord): Uint8Array {
  const w = new Writer(r.state.length + 1024)
  w.u8(WIRE_VERSION).bool(r.closed).bytes(r.state).bytes(r.governance)
  writeList(w, r.history, (w, h) => {
    w.u64(h.epoch).bytes(h.preState ?? new Uint8Array(0)).bytes(h.preGovernance ?? new Uint8Array(0)).bytes(h.wire ?? new Uint8Array(0)).raw(h.hash).u16(h.proposalCount).raw(h.committer).bool(h.byEpochSteward)
  })
  writeList(w, r.scores, (w, [id, score]) => { w.raw(id).u64(BigInt.asUintN(64, BigInt(score))) })
  writeList(w, r.outbox, (w, o) => { writePayload(w, o.payload); w.u8(o.attempts) })
  writeList(w, r.keyPackages, (w, k) => { w.bytes(k.bytes).u64(k.firstEpoch) })
  writeList(w, r.welcomes, (w, x) => {
    writeAnnounced(w, x.commit)
    writeList(w, x.refs, (w, ref) => w.bytes(ref))
    w.bytes(x.welcome)
  })
  return w.finish()
}

export function decodeGroupRecord (bytes: Uint8Array): GroupRecord {
  const r = new Reader(bytes)
  const v = r.u8('version')
  if (v !== WIRE_VERSION) throw new DemlsVersionError(`unsupported group record version ${v}`)
  const closed = r.bool()
  const state = r.bytes('state')
  const governance = r.bytes('governance')
  const history = r.list(r => {
    const epoch = r.u64n('epoch')
    const pre = r.bytes('pre-state')
    const preGov = r.bytes('pre-governance')
    return {
      epoch,
      preState: pre.length === 0 ? undefined : pre,
      preGovernance: preGov.length === 0 ? undefined : preGov,
      wire: (w => w.length === 0 ? undefined : w)(r.bytes('wire')),
      hash: r.raw(HASH_LENGTH, 'hash'),
      proposalCount: r.u16(),
      committer: r.raw(MEMBER_ID_LENGTH, 'committer'),
      byEpochSteward: r.bool()
    }
  }, 'history')
  const scores = r.list((r): [Uint8Array, number] => [r.raw(MEMBER_ID_LENGTH, 'member'), Number(BigInt.asIntN(64, r.u64()))], 'scores')
  const outbox = r.list(r => ({ payload: readPayload(r), attempts: r.u8() }), 'outbox')
  const keyPackages = r.list(r => ({ bytes: r.bytes('key package'), firstEpoch: r.u64n() }), 'key packages')
  const welcomes = r.list(r => ({ commit: readAnnounced(r), refs: r.list(r => r.bytes('ref', 64), 'refs'), welcome: r.bytes('welcome') }), 'welcomes')
  r.end('group record')
  return { state, governance, closed, history, scores, outbox, keyPackages, welcomes }
}
