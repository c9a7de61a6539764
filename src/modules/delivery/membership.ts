import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from '../../common/index.ts'
import {
  MEMBERSHIP_TOPIC, decodeMembership, encodeJoin, encodeSlashing, encodeSnapshot, generateRegistrarKey,
  registrarPublicKey
} from '../../net/delivery/index.ts'
import type { MembershipMessage, RelayVerdict, SnapshotMember } from '../../net/delivery/index.ts'
import type { ModuleContext } from '../../sdk/index.ts'
import type { MembershipConfig } from './config.ts'
import { JOIN_RETRY_MS, MAX_JOINS_PER_MINUTE, MAX_SLASHING_NOTICES, REGISTRAR_KEY_FILE, SNAPSHOT_DEBOUNCE_MS } from './constants.ts'
import type { RlnMember } from './rln-bridge.ts'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

export interface MembershipState {
  mode: MembershipConfig['mode']
  /** The registrar's public key (hex): ours when we are the registrar. */
  registrarKey?: string
  /** Whether this node's commitment is a member (not removed). */
  member: boolean
  members: number
  /** The seq of the last snapshot applied (follower) or published (registrar). */
  seq?: string
  /** A follower whose local group disagrees with the registrar's order says so here. */
  conflict?: string
}

/**
 * The devnet's RLN membership registry (docs/delivery.md "Membership"). The RLN library keeps one group per node
 * and nodes share roots only if they apply the same registrations in the same order, so one node, the registrar,
 * orders them the way a membership contract would:
 * - a node that is not a member publishes its commitment (`join`) on MEMBERSHIP_TOPIC until a snapshot lists it;
 * - the registrar registers joins in arrival order and publishes a signed snapshot of the whole membership (tree
 *   order, removed members flagged) after each change and every `snapshotIntervalMs`;
 * - followers apply a snapshot signed by the registrar key they were configured with, when their own group is a
 *   prefix of it: missing members are registered in order, flagged ones removed;
 * - slashing is not trusted to the registrar: the node that catches a double signal publishes the evidence, and
 *   every node checks it (the secret it reveals is the proof) and removes the member through its rln module.
 * A production deployment replaces the registrar by the RLN membership contract (Waku: on Linea, registrations
 * paid for, the tree rebuilt from contract events and roots checked against the contract's root history).
 */
export class MembershipRegistry {
  private readonly ctx: ModuleContext
  private readonly config: MembershipConfig
  private readonly dataDir: string
  private readonly defaultLimit: number
  private readonly publish: (data: Uint8Array) => Promise<void>
  private readonly onChange: (state: MembershipState) => void
  private secret: Uint8Array | undefined
  private publicKey: string | undefined
  private own = ''
  private lastSeq = -1n
  private conflict: string | undefined
  private members: RlnMember[] = []
  private queue: Promise<unknown> = Promise.resolve()
  private joinTimer: ReturnType<typeof setInterval> | undefined
  private snapshotTimer: ReturnType<typeof setInterval> | undefined
  private debounce: ReturnType<typeof setTimeout> | undefined
  private readonly joinsThisMinute: number[] = []
  private readonly noticed = new Set<string>()
  private readonly waiters = new Set<() => void>()
  private stopped = false

  constructor (init: { ctx: ModuleContext, config: MembershipConfig, dataDir: string, defaultLimit: number, publish: (data: Uint8Array) => Promise<void>, onChange: (state: MembershipState) => void }) {
    this.ctx = init.ctx
    this.config = init.config
    this.dataDir = init.dataDir
    this.defaultLimit = init.defaultLimit
    this.publish = init.publish
    this.onChange = init.onChange
  }

  get registrarKey (): string | undefined {
    return this.publicKey ?? this.config.registrarKey
  }

  get isMember (): boolean {
    return this.members.some(m => m.commitment === this.own && !m.removed)
  }

  /** Whether this node's commitment was a member and is removed (slashed): it can never prove again. */
  get isRemoved (): boolean {
    return this.members.some(m => m.commitment === this.own && m.removed)
  }

  state (): MembershipState {
    return { mode: this.config.mode, registrarKey: this.registrarKey, member: this.isMember, members: this.members.length, seq: this.lastSeq >= 0n ? this.lastSeq.toString() : undefined, conflict: this.conflict }
  }

  async start (): Promise<void> {
    this.own = (await this.ctx.call<{ commitment: string }>('rln', 'identity')).commitment
    await this.refresh()
    if (this.config.mode === 'registrar') {
      this.secret = await this.loadKey()
      this.publicKey = hex(registrarPublicKey(this.secret))
      if (!this.isMember) await this.ctx.call('rln', 'join', { userMessageLimit: this.limit })
      await this.refresh()
      this.snapshotTimer = setInterval(() => { this.publishSnapshot() }, this.config.snapshotIntervalMs)
      this.publishSnapshot()
    } else if (this.config.mode === 'follow') {
      this.joinTimer = setInterval(() => { this.announce() }, JOIN_RETRY_MS)
      this.announce()
    }
  }

  stop (): void {
    this.stopped = true
    if (this.joinTimer !== undefined) clearInterval(this.joinTimer)
    if (this.snapshotTimer !== undefined) clearInterval(this.snapshotTimer)
    if (this.debounce !== undefined) clearTimeout(this.debounce)
    for (const w of this.waiters) w()
  }

  private get limit (): number {
    return this.config.userMessageLimit ?? this.defaultLimit
  }

  private async loadKey (): Promise<Uint8Array> {
    const path = join(this.dataDir, REGISTRAR_KEY_FILE)
    try {
      const bytes = new Uint8Array(await readFile(path))
      if (bytes.length === 32) return bytes
      this.ctx.log.warn('registrar key file malformed; making a new key', { path })
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
    const { secretKey } = generateRegistrarKey()
    await writeFileAtomic(path, secretKey, { mode: 0o600 })
    return secretKey
  }

  private async refresh (): Promise<void> {
    this.members = await this.ctx.call<RlnMember[]>('rln', 'members')
    if (this.isMember) for (const w of [...this.waiters]) w()
  }

  /** Resolves once this node is a member (true), or after `timeoutMs` / when stopped (false). */
  async waitForMembership (timeoutMs: number): Promise<boolean> {
    if (this.isMember) return true
    if (this.config.mode === 'off' || this.stopped) return false
    await new Promise<void>((resolve) => {
      const done = (): void => { clearTimeout(timer); this.waiters.delete(done); resolve() }
      const timer = setTimeout(done, timeoutMs)
      this.waiters.add(done)
    })
    return this.isMember
  }

  private announce (): void {
    if (this.stopped || this.isMember || this.own === '') return
    this.publish(encodeJoin(Buffer.from(this.own, 'hex'), this.limit)).catch((err: unknown) => {
      this.ctx.log.debug('join announcement not sent', { error: (err as Error).message })
    })
  }

  private publishSnapshot (): void {
    if (this.stopped || this.secret === undefined) return
    const secret = this.secret
    const members: SnapshotMember[] = this.members.map(m => ({ commitment: Buffer.from(m.commitment, 'hex'), userMessageLimit: m.userMessageLimit, removed: m.removed }))
    const seq = BigInt(Date.now())
    this.lastSeq = seq
    this.publish(encodeSnapshot(seq, members, secret)).catch((err: unknown) => {
      this.ctx.log.debug('snapshot not sent', { error: (err as Error).message })
    })
  }

  private changed (): void {
    this.onChange(this.state())
    if (this.secret !== undefined) {
      if (this.debounce !== undefined) clearTimeout(this.debounce)
      this.debounce = setTimeout(() => { this.debounce = undefined; this.publishSnapshot() }, SNAPSHOT_DEBOUNCE_MS)
    }
  }

  /** Handles a message of MEMBERSHIP_TOPIC; the verdict tells the relay whether to forward it. Serialized. */
  async handle (data: Uint8Array): Promise<RelayVerdict> {
    let msg: MembershipMessage
    try {
      msg = decodeMembership(data)
    } catch {
      return 'reject'
    }
    const run = this.queue.then(async () => await this.apply(msg))
    this.queue = run.catch(() => {})
    return await run
  }

  private async apply (msg: MembershipMessage): Promise<RelayVerdict> {
    if (this.stopped) return 'ignore'
    switch (msg.type) {
      case 'join': return await this.onJoin(msg.commitment, msg.userMessageLimit)
      case 'snapshot': return await this.onSnapshot(msg)
      case 'slashing': return await this.onSlashing(msg.evidenceJson)
    }
  }

  private async onJoin (commitment: Uint8Array, requested: number): Promise<RelayVerdict> {
    // Everyone forwards joins (the registrar may be several hops away); only the registrar acts on them.
    if (this.secret === undefined) return 'accept'
    const c = hex(commitment)
    if (this.members.some(m => m.commitment === c)) {
      this.publishSnapshot()
      return 'accept'
    }
    const now = Date.now()
    while (this.joinsThisMinute.length > 0 && (this.joinsThisMinute[0] as number) < now - 60_000) this.joinsThisMinute.shift()
    if (this.joinsThisMinute.length >= MAX_JOINS_PER_MINUTE) return 'ignore'
    this.joinsThisMinute.push(now)
    try {
      await this.ctx.call('rln', 'register', { commitment: c, userMessageLimit: Math.min(Math.max(1, requested), this.config.maxUserMessageLimit) })
    } catch (err) {
      this.ctx.log.warn('join refused', { commitment: c, error: (err as Error).message })
      return 'reject'
    }
    await this.refresh()
    this.changed()
    return 'accept'
  }

  private async onSnapshot (msg: Extract<MembershipMessage, { type: 'snapshot' }>): Promise<RelayVerdict> {
    if (this.config.mode !== 'follow' || hex(msg.registrarKey) !== this.config.registrarKey) return 'ignore'
    if (msg.seq <= this.lastSeq) return 'accept'
    this.lastSeq = msg.seq
    await this.refresh()
    const local = this.members
    for (let i = 0; i < local.length; i++) {
      const theirs = msg.members[i]
      const mine = local[i] as RlnMember
      if (theirs === undefined || hex(theirs.commitment) !== mine.commitment || theirs.userMessageLimit !== mine.userMessageLimit) {
        this.conflict = `member ${i} of the local group is not the registrar's member ${i}`
        this.ctx.log.error('the local RLN group disagrees with the registrar; not applying its snapshot', { index: i })
        this.onChange(this.state())
        return 'accept'
      }
    }
    let changed = false
    for (let i = local.length; i < msg.members.length; i++) {
      const m = msg.members[i] as SnapshotMember
      await this.ctx.call('rln', 'register', { commitment: hex(m.commitment), userMessageLimit: m.userMessageLimit })
      changed = true
    }
    for (let i = 0; i < msg.members.length; i++) {
      const m = msg.members[i] as SnapshotMember
      const mine = local[i]
      if (m.removed && (mine === undefined || !mine.removed)) {
        await this.ctx.call('rln', 'remove', { commitment: hex(m.commitment), reason: 'removed by the registrar' })
        changed = true
      }
    }
    const wasMember = this.isMember
    await this.refresh()
    if (!wasMember && this.isMember) {
      // join() on an existing membership refills the stock of precomputed proofs.
      await this.ctx.call('rln', 'join', { userMessageLimit: this.limit }).catch(() => {})
    }
    if (changed || this.conflict !== undefined) {
      this.conflict = undefined
      this.onChange(this.state())
    }
    return 'accept'
  }

  private async onSlashing (evidenceJson: string): Promise<RelayVerdict> {
    let evidence: unknown
    try {
      evidence = JSON.parse(evidenceJson)
    } catch {
      return 'reject'
    }
    try {
      await this.ctx.call('rln', 'slash', { evidence })
    } catch (err) {
      const code = (err as { code?: string }).code
      if (code === 'ERR_RLN_INVALID_EVIDENCE' || code === 'ERR_INVALID_ARGUMENT' || code === 'ERR_RLN_ENCODING') return 'reject'
      return 'ignore'
    }
    await this.refresh()
    this.changed()
    return 'accept'
  }

  /** Publishes the evidence of a slashing this node's rln module made (once per slashed commitment). */
  async noticeSlashing (commitment: string, evidence: unknown): Promise<void> {
    await this.refresh()
    this.changed()
    if (this.noticed.has(commitment)) return
    if (this.noticed.size >= MAX_SLASHING_NOTICES) this.noticed.delete(this.noticed.values().next().value as string)
    this.noticed.add(commitment)
    await this.publish(encodeSlashing(JSON.stringify(evidence))).catch((err: unknown) => {
      // A notice this node got from a peer is already in gossipsub's seen cache: publishing it again is refused.
      this.ctx.log.debug('slashing notice not sent', { error: (err as Error).message })
    })
  }
}

export { MEMBERSHIP_TOPIC }
