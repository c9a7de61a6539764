import type { DatabaseSync } from 'node:sqlite'
import { openDatabase } from '../../common/index.ts'
import { DEFAULT_ROOT_WINDOW, DEFAULT_USER_MESSAGE_LIMIT, FIELD_ORDER, MAX_USER_MESSAGE_LIMIT, TREE_DEPTH } from './constants.ts'
import { RlnGroupError, RlnNotAMemberError } from './errors.ts'
import { fieldFromHex, fieldToHex } from './field.ts'
import { rateCommitment } from './identity.ts'
import { MerkleTree } from './merkle-tree.ts'
import type { MerkleProof } from './merkle-tree.ts'

export interface Member {
  index: number
  commitment: bigint
  userMessageLimit: number
  /** The tree leaf: Poseidon(commitment, userMessageLimit). */
  rateCommitment: bigint
  removed: boolean
}

export interface MemberChange {
  member: Member
  /** The root after the change. */
  root: bigint
  /** Why a member was removed ("slashed", "withdrawn", ...). */
  reason?: string
}

export interface GroupOptions {
  /** SQLite file; ':memory:' (the default) keeps nothing across restarts. */
  path?: string
  /** Recent roots accepted by verify (LOGOS-MIXNET: 5). */
  rootWindow?: number
  depth?: number
}

/**
 * The RLN membership group: members in the leaves of a depth-20 Poseidon Merkle tree (rate commitments, RLN v2),
 * persisted with node:sqlite so a restart loses nothing, and the window of recent roots a verifier accepts
 * (mix-spam-protection-rln.md "Group Synchronization": nodes MUST keep a window of recent roots).
 *
 * Members are appended at the next free index, as zerokit's set_next_leaf does; a removed member's leaf is set to
 * zero (rln-v1.md "Slashing") and its commitment stays known so it cannot register again. Additions keep the
 * window of roots; a removal restarts it at the new root, since every older root still contains the removed member.
 *
 * Events: 'member:added' and 'member:removed', each a CustomEvent<MemberChange>.
 */
export class MembershipGroup extends EventTarget {
  readonly rootWindow: number
  readonly depth: number
  private readonly db: DatabaseSync
  private tree: MerkleTree
  private readonly byCommitment = new Map<bigint, Member>()
  private readonly byIndex = new Map<number, Member>()
  private recentRoots: bigint[] = []
  private nextIndex = 0
  private closed = false

  constructor (options: GroupOptions = {}) {
    super()
    this.rootWindow = options.rootWindow ?? DEFAULT_ROOT_WINDOW
    this.depth = options.depth ?? TREE_DEPTH
    if (!Number.isInteger(this.rootWindow) || this.rootWindow < 1) throw new RangeError('rootWindow must be a positive integer')
    const path = options.path ?? ':memory:'
    this.db = openDatabase(path, { synchronous: 'FULL' })
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS members (
        idx INTEGER PRIMARY KEY,
        commitment TEXT NOT NULL UNIQUE,
        user_message_limit INTEGER NOT NULL,
        removed INTEGER NOT NULL DEFAULT 0,
        reason TEXT
      );
      CREATE TABLE IF NOT EXISTS roots (seq INTEGER PRIMARY KEY AUTOINCREMENT, root TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS nodes (level INTEGER NOT NULL, idx INTEGER NOT NULL, value TEXT NOT NULL, PRIMARY KEY (level, idx));
    `)
    this.tree = new MerkleTree(this.depth)
    this.load()
  }

  private load (): void {
    const depth = this.db.prepare('SELECT value FROM meta WHERE key = ?').get('depth') as { value: string } | undefined
    if (depth === undefined) {
      this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run('depth', String(this.depth))
    } else if (Number(depth.value) !== this.depth) {
      throw new RlnGroupError(`the stored group has depth ${depth.value}, not ${this.depth}`)
    }
    const rows = this.db.prepare('SELECT idx, commitment, user_message_limit, removed FROM members ORDER BY idx').all() as Array<{ idx: number, commitment: string, user_message_limit: number, removed: number }>
    const leaves: Array<[number, bigint]> = []
    for (const row of rows) {
      const commitment = fieldFromHex(row.commitment, 'commitment')
      const member: Member = {
        index: row.idx,
        commitment,
        userMessageLimit: row.user_message_limit,
        rateCommitment: rateCommitment(commitment, row.user_message_limit),
        removed: row.removed !== 0
      }
      this.byCommitment.set(commitment, member)
      this.byIndex.set(member.index, member)
      if (!member.removed) leaves.push([member.index, member.rateCommitment])
      this.nextIndex = Math.max(this.nextIndex, member.index + 1)
    }
    const roots = this.db.prepare('SELECT root FROM roots ORDER BY seq DESC LIMIT ?').all(this.rootWindow) as Array<{ root: string }>
    this.recentRoots = roots.map(r => fieldFromHex(r.root, 'root')).reverse()
    const last = this.recentRoots[this.recentRoots.length - 1]
    // The tree's inner nodes are stored too (written in the same transactions as the members), so opening a large
    // group needs no hashing. A store without them, or whose nodes do not give the last root, is rebuilt from the
    // members: about two hashes per member.
    const nodes = this.db.prepare('SELECT level, idx, value FROM nodes').all() as Array<{ level: number, idx: number, value: string }>
    if (nodes.length > 0) this.tree.loadNodes(nodes.map(n => [n.level, n.idx, fieldFromHex(n.value, 'node')] as const))
    if (nodes.length === 0 || (last !== undefined && this.tree.root !== last)) {
      this.tree = new MerkleTree(this.depth)
      this.tree.setMany(leaves)
      this.transaction(() => {
        this.db.prepare('DELETE FROM nodes').run()
        this.writeNodes()
      }, () => {})
    }
    if (last === undefined) {
      this.transaction(() => { this.pushRoot() }, () => {})
    } else if (last !== this.tree.root) {
      // The members, nodes and roots are written in one transaction each time, so this means damage on disk.
      throw new RlnGroupError('the stored group is inconsistent: its members do not give its last root')
    }
  }

  /** Writes the nodes the tree changed (inside the caller's transaction). */
  private writeNodes (): void {
    const upsert = this.db.prepare('INSERT OR REPLACE INTO nodes (level, idx, value) VALUES (?, ?, ?)')
    const remove = this.db.prepare('DELETE FROM nodes WHERE level = ? AND idx = ?')
    for (const [level, index, value] of this.tree.drainChanges()) {
      if (value === undefined) remove.run(level, index)
      else upsert.run(level, index, fieldToHex(value))
    }
  }

  get root (): bigint {
    return this.tree.root
  }

  /** The roots a proof may use, oldest first, the current root last. */
  get roots (): readonly bigint[] {
    return this.recentRoots
  }

  isAcceptableRoot (root: bigint): boolean {
    return this.recentRoots.includes(root)
  }

  /** Members registered and not removed. */
  get size (): number {
    let n = 0
    for (const m of this.byIndex.values()) if (!m.removed) n++
    return n
  }

  members (): Member[] {
    return [...this.byIndex.values()].sort((a, b) => a.index - b.index).map(m => ({ ...m }))
  }

  memberByCommitment (commitment: bigint): Member | undefined {
    const m = this.byCommitment.get(commitment)
    return m === undefined ? undefined : { ...m }
  }

  memberByIndex (index: number): Member | undefined {
    const m = this.byIndex.get(index)
    return m === undefined ? undefined : { ...m }
  }

  /** Adds a member at the next free index; returns it. A commitment seen before (even removed) is refused. */
  register (commitment: bigint, userMessageLimit = DEFAULT_USER_MESSAGE_LIMIT): Member {
    this.checkOpen()
    if (commitment <= 0n || commitment >= FIELD_ORDER) throw new RlnGroupError('the commitment is not a non-zero field element')
    if (!Number.isInteger(userMessageLimit) || userMessageLimit < 1 || userMessageLimit > MAX_USER_MESSAGE_LIMIT) {
      throw new RlnGroupError(`user_message_limit must be an integer in [1, ${MAX_USER_MESSAGE_LIMIT}]`)
    }
    const existing = this.byCommitment.get(commitment)
    if (existing !== undefined) {
      throw new RlnGroupError(existing.removed ? 'this commitment was removed from the group and cannot register again' : `already a member at index ${existing.index}`, {
        data: { index: existing.index, removed: existing.removed }
      })
    }
    if (this.nextIndex >= this.tree.capacity) throw new RlnGroupError(`the group is full (${this.tree.capacity} members)`)
    const member: Member = {
      index: this.nextIndex,
      commitment,
      userMessageLimit,
      rateCommitment: rateCommitment(commitment, userMessageLimit),
      removed: false
    }
    this.tree.set(member.index, member.rateCommitment)
    this.transaction(() => {
      this.db.prepare('INSERT INTO members (idx, commitment, user_message_limit) VALUES (?, ?, ?)').run(member.index, fieldToHex(commitment), userMessageLimit)
      this.writeNodes()
      this.pushRoot()
    }, () => { this.tree.set(member.index, 0n); this.tree.drainChanges() })
    this.nextIndex++
    this.byCommitment.set(commitment, member)
    this.byIndex.set(member.index, member)
    this.dispatchEvent(new CustomEvent<MemberChange>('member:added', { detail: { member: { ...member }, root: this.root } }))
    return { ...member }
  }

  /** Removes a member (zeroes its leaf). Returns false when it was already removed. */
  remove (index: number, reason = 'removed'): boolean {
    this.checkOpen()
    const member = this.byIndex.get(index)
    if (member === undefined) throw new RlnGroupError(`no member at index ${index}`)
    if (member.removed) return false
    this.tree.set(index, 0n)
    this.transaction(() => {
      this.db.prepare('UPDATE members SET removed = 1, reason = ? WHERE idx = ?').run(reason, index)
      this.writeNodes()
      // Every earlier root still holds the removed leaf, so a removal restarts the window at the new root:
      // otherwise a slashed member could keep proving against the old roots until they age out.
      this.db.prepare('DELETE FROM roots').run()
      this.recentRoots = []
      this.pushRoot()
    }, () => { this.tree.set(index, member.rateCommitment); this.tree.drainChanges() })
    member.removed = true
    this.dispatchEvent(new CustomEvent<MemberChange>('member:removed', { detail: { member: { ...member }, root: this.root, reason } }))
    return true
  }

  /** The Merkle proof of a member's leaf against the current root. */
  merkleProof (index: number): MerkleProof {
    const member = this.byIndex.get(index)
    if (member === undefined || member.removed) throw new RlnNotAMemberError(`index ${index} holds no member`)
    return this.tree.proof(index)
  }

  close (): void {
    if (this.closed) return
    this.closed = true
    this.db.close()
  }

  private pushRoot (): void {
    const root = this.tree.root
    this.db.prepare('INSERT INTO roots (root) VALUES (?)').run(fieldToHex(root))
    // Older roots are never accepted again: keep only the window on disk.
    this.db.prepare('DELETE FROM roots WHERE seq <= (SELECT MAX(seq) FROM roots) - ?').run(this.rootWindow)
    this.recentRoots.push(root)
    if (this.recentRoots.length > this.rootWindow) this.recentRoots.splice(0, this.recentRoots.length - this.rootWindow)
  }

  /** Runs `write` in one SQLite transaction; on failure rolls back and undoes the in-memory change. */
  private transaction (write: () => void, undo: () => void): void {
    const rootsBefore = [...this.recentRoots]
    this.db.exec('BEGIN IMMEDIATE')
    try {
      write()
      this.db.exec('COMMIT')
    } catch (err) {
      this.db.exec('ROLLBACK')
      undo()
      this.recentRoots = rootsBefore
      throw new RlnGroupError('could not store the group change', { cause: err })
    }
  }

  private checkOpen (): void {
    if (this.closed) throw new RlnGroupError('the group is closed')
  }
}
