import { bytesEqual, fromHex, toHex, utf8 } from './bytes.ts'
import { systemClock } from './clock.ts'
import type { Clock, TimerHandle } from './clock.ts'
import { MAX_GROUP_ID_LENGTH, WIRE_VERSION } from './constants.ts'
import { Reader, Writer } from './codec.ts'
import { Emitter } from './emitter.ts'
import { GroupExistsError, UnknownGroupError } from './errors.ts'
import { defaultGroupConfig } from './governance.ts'
import type { Governance, GroupConfigInit } from './governance.ts'
import { DemlsGroup } from './group.ts'
import type { CommitPolicy, GroupOptions, VotePolicy } from './group.ts'
import { generateIdentity, identityFromSecret } from './identity.ts'
import type { Identity } from './identity.ts'
import { decodeEnvelope, encodeEnvelope } from './messages.ts'
import type { Envelope } from './messages.ts'
import { createKeyPackage, createMlsGroup, decodeMlsBytes, decodeWelcome, joinMlsGroup, loadCipherSuite } from './mls.ts'
import type { CiphersuiteImpl, OwnKeyPackage } from './mls.ts'
import { makeKeyPackageRef } from 'ts-mls/keyPackage.js'
import type { DemlsStore } from './store.ts'
import { abortReason } from '../../common/index.ts'

/** How often a joiner re-announces its key package until its Welcome arrives. */
export const DEFAULT_JOIN_RETRY_MS = 5_000
/** Joins whose key package is kept after joining (for joining again after a losing-branch Welcome). */
const MAX_REMEMBERED_JOINS = 64

/**
 * A node's De-MLS endpoint: its identity, its groups, and joins in progress. It is transport-independent: feed it
 * what arrives on its topics (`handle`), and publish what it emits ('outbound'). Topics follow the Rust demo's
 * content topics: /demls/1/{group id hex}/app carries group traffic, /demls/1/{group id hex}/welcome key packages
 * and Welcomes.
 */
export interface ClientEvents extends Record<string, unknown> {
  outbound: { topic: string, data: Uint8Array }
  /** The set of topics to subscribe to changed. */
  topics: { topics: string[] }
  group: { group: DemlsGroup, how: 'created' | 'joined' | 'restored' }
  message: { groupId: Uint8Array, sender: Uint8Array, data: Uint8Array, epoch: number }
  left: { groupId: Uint8Array, removed: boolean }
}

export interface ClientOptions {
  /** Defaults to the identity in the store, else a new one (saved to the store). */
  identity?: Identity
  store?: DemlsStore
  clock?: Clock
  cipherSuite?: CiphersuiteImpl
  votePolicy?: VotePolicy
  commitPolicy?: CommitPolicy
  joinRetryMs?: number
}

export function topicsFor (groupId: Uint8Array): { app: string, welcome: string } {
  const hex = toHex(groupId)
  return { app: `/demls/1/${hex}/app`, welcome: `/demls/1/${hex}/welcome` }
}

/** Group ids given as strings are their UTF-8 bytes. */
export function toGroupId (groupId: Uint8Array | string): Uint8Array {
  const id = typeof groupId === 'string' ? utf8(groupId) : groupId
  if (id.length === 0 || id.length > MAX_GROUP_ID_LENGTH) throw new RangeError(`a group id is 1-${MAX_GROUP_ID_LENGTH} bytes`)
  return id
}

interface PendingJoin {
  groupId: Uint8Array
  own: OwnKeyPackage
  /** An invitation: the key package was handed out, not announced on the welcome topic. */
  quiet: boolean
  timer: TimerHandle | undefined
  waiters: Array<{ resolve: (g: DemlsGroup) => void, reject: (err: Error) => void }>
}

const IDENTITY_KEY = 'identity'

export class DemlsClient extends Emitter<ClientEvents> {
  readonly identity: Identity
  readonly cipherSuite: CiphersuiteImpl
  private readonly clock: Clock
  private readonly store: DemlsStore | undefined
  private readonly votePolicy: VotePolicy | undefined
  private readonly commitPolicy: CommitPolicy | undefined
  private readonly joinRetryMs: number
  private readonly groupMap = new Map<string, DemlsGroup>()
  private readonly joins = new Map<string, PendingJoin>()
  /** Key packages of recent joins, to join again with the same one if the Welcome came from a losing branch. */
  private readonly joinedWith = new Map<string, OwnKeyPackage>()
  private stopped = false

  private constructor (identity: Identity, cs: CiphersuiteImpl, options: ClientOptions) {
    super()
    this.identity = identity
    this.cipherSuite = cs
    this.clock = options.clock ?? systemClock
    this.store = options.store
    this.votePolicy = options.votePolicy
    this.commitPolicy = options.commitPolicy
    this.joinRetryMs = options.joinRetryMs ?? DEFAULT_JOIN_RETRY_MS
  }

  /** Opens a client: loads (or creates) its identity and restores its groups and pending joins from the store. */
  static async open (options: ClientOptions = {}): Promise<DemlsClient> {
    let identity = options.identity
    const stored = options.store?.getMeta(IDENTITY_KEY)
    if (identity === undefined && stored !== undefined) identity = identityFromSecret(stored)
    identity ??= generateIdentity()
    if (stored === undefined) options.store?.setMeta(IDENTITY_KEY, identity.secretKey)
    const cs = options.cipherSuite ?? await loadCipherSuite()
    const client = new DemlsClient(identity, cs, options)
    await client.restore()
    return client
  }

  get memberId (): Uint8Array {
    return this.identity.memberId
  }

  group (groupId: Uint8Array | string): DemlsGroup | undefined {
    return this.groupMap.get(toHex(toGroupId(groupId)))
  }

  groups (): DemlsGroup[] {
    return [...this.groupMap.values()]
  }

  /** Topics this client needs: app and welcome of each group, welcome of each join in progress. */
  topics (): string[] {
    const out: string[] = []
    for (const g of this.groupMap.values()) {
      const t = topicsFor(g.groupId)
      out.push(t.app, t.welcome)
    }
    for (const j of this.joins.values()) out.push(topicsFor(j.groupId).welcome)
    return out
  }

  /** Creates a group with this member as its only member and first steward. */
  async createGroup (groupId: Uint8Array | string, config: GroupConfigInit = {}): Promise<DemlsGroup> {
    const id = toGroupId(groupId)
    if (this.groupMap.has(toHex(id))) throw new GroupExistsError(`group ${toHex(id)} exists`)
    const governance: Governance = {
      config: defaultGroupConfig(config),
      // The creator alone governs epoch 0; the first commit that adds members elects the next list.
      stewards: { stewards: [this.identity.memberId], startEpoch: 0, electionEpoch: 0, retryRound: 0 }
    }
    const own = await createKeyPackage(this.identity, this.cipherSuite)
    const state = await createMlsGroup(id, own, governance, this.cipherSuite)
    const group = this.adopt(DemlsGroup.fromState(state, this.groupOptions(id)), 'created')
    return group
  }

  /**
   * A key package of this member (MLSMessage bytes) to hand out for an invitation (a member then calls
   * `invite(keyPackage)`). With a group id, the client keeps its private part as a join of that group in progress, not
   * announced on the welcome topic, and joins when the Welcome for it arrives: `join(groupId)` then waits for that
   * Welcome. Asked again for the same group, it returns the same key package. Without a group id the key package is
   * fresh and its private part is not kept (a Welcome for it cannot be used).
   */
  async keyPackage (groupId?: Uint8Array | string): Promise<Uint8Array> {
    if (groupId === undefined) return (await createKeyPackage(this.identity, this.cipherSuite)).encoded
    const id = toGroupId(groupId)
    const key = toHex(id)
    if (this.groupMap.has(key)) throw new GroupExistsError(`already a member of group ${key}`)
    const pending = this.joins.get(key)
    if (pending !== undefined) return pending.own.encoded
    const own = await createKeyPackage(this.identity, this.cipherSuite)
    this.joins.set(key, { groupId: id, own, quiet: true, timer: undefined, waiters: [] })
    this.store?.saveJoin(key, encodeJoinRecord(id, own, true))
    this.emit('topics', { topics: this.topics() })
    return own.encoded
  }

  /**
   * Asks to join a group: publishes a key package on its welcome topic (again every joinRetryMs) and resolves with
   * the group once a Welcome for it arrives and is processed. After `keyPackage(groupId)` (an invitation) it only
   * waits for the Welcome.
   */
  async join (groupId: Uint8Array | string, options: { signal?: AbortSignal } = {}): Promise<DemlsGroup> {
    const id = toGroupId(groupId)
    const key = toHex(id)
    const existing = this.groupMap.get(key)
    if (existing !== undefined) return existing
    let pending = this.joins.get(key)
    if (pending === undefined) {
      const own = await createKeyPackage(this.identity, this.cipherSuite)
      pending = { groupId: id, own, quiet: false, timer: undefined, waiters: [] }
      this.joins.set(key, pending)
      this.store?.saveJoin(key, encodeJoinRecord(id, own, false))
      this.emit('topics', { topics: this.topics() })
      this.announceKeyPackage(pending)
    }
    const p = pending
    return await new Promise<DemlsGroup>((resolve, reject) => {
      const signal = options.signal
      if (signal?.aborted === true) {
        reject(abortReason(signal))
        return
      }
      const waiter = {
        resolve: (g: DemlsGroup) => { signal?.removeEventListener('abort', onAbort); resolve(g) },
        reject: (err: Error) => { signal?.removeEventListener('abort', onAbort); reject(err) }
      }
      const onAbort = (): void => {
        p.waiters = p.waiters.filter(w => w !== waiter)
        reject(abortReason(signal as AbortSignal))
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      p.waiters.push(waiter)
    })
  }

  /** Gives up a join in progress. */
  cancelJoin (groupId: Uint8Array | string): void {
    const key = toHex(toGroupId(groupId))
    const p = this.joins.get(key)
    if (p === undefined) return
    if (p.timer !== undefined) this.clock.clearTimer(p.timer)
    this.joins.delete(key)
    this.store?.deleteJoin(key)
    for (const w of p.waiters) w.reject(new UnknownGroupError('join cancelled'))
    this.emit('topics', { topics: this.topics() })
  }

  /** Feeds one message received on a topic. Malformed input is dropped. */
  async handle (topic: string, data: Uint8Array): Promise<void> {
    if (this.stopped) return
    let env: Envelope
    try {
      env = decodeEnvelope(data)
    } catch {
      return
    }
    const key = toHex(env.groupId)
    const expected = topicsFor(env.groupId)
    if (topic !== expected.app && topic !== expected.welcome) return
    const group = this.groupMap.get(key)
    if (group !== undefined) {
      await group.handle(env, data)
      return
    }
    const pending = this.joins.get(key)
    if (pending !== undefined && env.type === 'welcome') await this.tryWelcome(pending, env)
  }

  /** Stops timers. Groups stay in the store and come back with the next open(). */
  stop (): void {
    this.stopped = true
    for (const g of this.groupMap.values()) g.stop()
    for (const j of this.joins.values()) if (j.timer !== undefined) this.clock.clearTimer(j.timer)
  }

  // ---- internals ---------------------------------------------------------------------------------------------

  private groupOptions (groupId: Uint8Array): GroupOptions {
    const topics = topicsFor(groupId)
    return {
      identity: this.identity,
      cipherSuite: this.cipherSuite,
      clock: this.clock,
      store: this.store,
      votePolicy: this.votePolicy,
      commitPolicy: this.commitPolicy,
      publish: (topic, data) => {
        if (this.stopped) return
        this.emit('outbound', { topic: topic === 'app' ? topics.app : topics.welcome, data })
      }
    }
  }

  private adopt (group: DemlsGroup, how: 'created' | 'joined' | 'restored'): DemlsGroup {
    this.groupMap.set(group.groupIdHex, group)
    group.on('message', m => { this.emit('message', { groupId: group.groupId, ...m }) })
    group.on('stale', () => {
      // Our Welcome came from a commit the group did not keep: drop that state and join again with the same key
      // package (a member on the kept branch re-serves its Welcome if that branch added us too).
      this.groupMap.delete(group.groupIdHex)
      this.store?.deleteGroup(group.groupIdHex)
      const own = this.joinedWith.get(group.groupIdHex)
      if (own !== undefined && !this.stopped) {
        const p: PendingJoin = { groupId: group.groupId, own, quiet: false, timer: undefined, waiters: [] }
        this.joins.set(group.groupIdHex, p)
        this.store?.saveJoin(group.groupIdHex, encodeJoinRecord(group.groupId, own, false))
        this.announceKeyPackage(p)
      }
      this.emit('left', { groupId: group.groupId, removed: false })
      this.emit('topics', { topics: this.topics() })
    })
    group.on('removed', () => {
      this.groupMap.delete(group.groupIdHex)
      this.store?.deleteGroup(group.groupIdHex)
      this.emit('left', { groupId: group.groupId, removed: true })
      this.emit('topics', { topics: this.topics() })
    })
    this.emit('group', { group, how })
    this.emit('topics', { topics: this.topics() })
    return group
  }

  private announceKeyPackage (p: PendingJoin): void {
    if (this.stopped || p.quiet || !this.joins.has(toHex(p.groupId))) return
    const t = topicsFor(p.groupId)
    this.emit('outbound', { topic: t.welcome, data: encodeEnvelope({ type: 'key-package', groupId: p.groupId, keyPackage: p.own.encoded }) })
    p.timer = this.clock.setTimer(() => { this.announceKeyPackage(p) }, this.joinRetryMs)
  }

  private async tryWelcome (p: PendingJoin, env: Extract<Envelope, { type: 'welcome' }>): Promise<void> {
    if (!env.keyPackageRefs.some(r => bytesEqual(r, p.own.ref))) return
    const key = toHex(p.groupId)
    let group: DemlsGroup
    try {
      const { state, governance } = await joinMlsGroup(decodeWelcome(env.welcome), p.own, this.cipherSuite)
      if (!bytesEqual(state.groupContext.groupId, p.groupId) || !this.joins.has(key)) return
      group = DemlsGroup.fromState(state, this.groupOptions(p.groupId), governance, env.commit)
    } catch {
      return // a Welcome we cannot use (stale or broken); keep waiting for a good one
    }
    if (p.timer !== undefined) this.clock.clearTimer(p.timer)
    this.joins.delete(key)
    this.store?.deleteJoin(key)
    this.joinedWith.set(key, p.own)
    while (this.joinedWith.size > MAX_REMEMBERED_JOINS) this.joinedWith.delete(this.joinedWith.keys().next().value as string)
    this.adopt(group, 'joined')
    // Ask whether the group moved on since the Welcome's epoch.
    await group.catchUp()
    for (const w of p.waiters) w.resolve(group)
  }

  private async restore (): Promise<void> {
    if (this.store === undefined) return
    for (const { groupIdHex, record } of this.store.loadGroups()) {
      const id = fromHex(groupIdHex)
      const group = DemlsGroup.restore(record, this.groupOptions(id))
      if (group.closed) {
        this.store.deleteGroup(groupIdHex)
        continue
      }
      this.adopt(group, 'restored')
      await group.resume()
    }
    for (const { groupIdHex, record } of this.store.loadJoins()) {
      const decoded = await decodeJoinRecord(record, this.cipherSuite)
      if (decoded === undefined || toHex(decoded.groupId) !== groupIdHex) continue
      const p: PendingJoin = { groupId: decoded.groupId, own: decoded.own, quiet: decoded.quiet, timer: undefined, waiters: [] }
      this.joins.set(groupIdHex, p)
      this.announceKeyPackage(p)
    }
  }
}

/** `u8 version, bytes group_id, bytes key_package, 3 × bytes private key, u8 quiet` (records without the flag: 0). */
function encodeJoinRecord (groupId: Uint8Array, own: OwnKeyPackage, quiet: boolean): Uint8Array {
  const w = new Writer(512)
  w.u8(WIRE_VERSION).bytes(groupId).bytes(own.encoded)
  w.bytes(own.privatePackage.initPrivateKey).bytes(own.privatePackage.hpkePrivateKey).bytes(own.privatePackage.signaturePrivateKey)
  w.bool(quiet)
  return w.finish()
}

async function decodeJoinRecord (bytes: Uint8Array, cs: CiphersuiteImpl): Promise<{ groupId: Uint8Array, own: OwnKeyPackage, quiet: boolean } | undefined> {
  try {
    const r = new Reader(bytes)
    if (r.u8() !== WIRE_VERSION) return undefined
    const groupId = r.bytes('group id', MAX_GROUP_ID_LENGTH)
    const encoded = r.bytes('key package')
    const privatePackage = { initPrivateKey: r.bytes(), hpkePrivateKey: r.bytes(), signaturePrivateKey: r.bytes() }
    const quiet = r.remaining > 0 ? r.bool('quiet') : false
    r.end()
    const msg = decodeMlsBytes(encoded)
    if (msg.wireformat !== 'mls_key_package') return undefined
    const publicPackage = msg.keyPackage
    return { groupId, own: { publicPackage, privatePackage, encoded, ref: await makeKeyPackageRef(publicPackage, cs.hash) }, quiet }
  } catch {
    return undefined
  }
}

