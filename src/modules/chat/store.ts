import type * as Sqlite from 'node:sqlite'
import { openDatabase } from '../../common/index.ts'
import { Reader, Writer, decodeMlsBytes } from './crypto.ts'
import type { OwnKeyPackage } from './crypto.ts'
import { MAX_KEY_PACKAGES, MAX_SEEN_HASHES } from './constants.ts'
import { ChatStoreError } from './errors.ts'

export type ConversationKind = 'direct' | 'group'
/** active: messages flow; joining: a group invite accepted, waiting for the Welcome; failed: the join gave up. */
export type ConversationStatus = 'active' | 'joining' | 'failed' | 'left'
export type DeliveryState = 'pending' | 'propagated' | 'sent' | 'failed' | 'received'

export interface ConversationRow {
  id: string
  kind: ConversationKind
  name: string
  /** The other member of a 1:1 conversation. */
  peer: string | undefined
  status: ConversationStatus
  /** The serialized MLS state of a 1:1 conversation (groups keep theirs in the demls module). */
  state: Uint8Array | undefined
  createdAt: number
  updatedAt: number
}

export interface MessageRow {
  id: string
  conversationId: string
  /** The sender's chat address (or, in a group, its De-MLS member id until a hello binds it). */
  sender: string
  /** The De-MLS member id of a group message's sender. */
  senderMember: string | undefined
  text: string
  sentAt: number
  receivedAt: number
  outgoing: boolean
  deliveryState: DeliveryState
  requestId: string | undefined
}

/**
 * The chat module's durable state in one SQLite file (node:sqlite, WAL, synchronous=FULL): identity, own key
 * packages (with private keys), conversations (1:1 MLS states), messages with their delivery state, the address
 * bindings of group members, and the delivery message hashes already processed. A restart keeps history and
 * conversations; MLS state is saved before the message it produced is sent, so a ratchet generation is never reused.
 */
export class ChatStore {
  private readonly db: Sqlite.DatabaseSync
  private readonly stmt: Record<string, Sqlite.StatementSync> = {}

  constructor (path: string) {
    try {
      this.db = openDatabase(path, { synchronous: 'FULL' })
      this.db.exec(`
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
        CREATE TABLE IF NOT EXISTS key_packages (ref TEXT PRIMARY KEY, record BLOB NOT NULL, created INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS conversations (
          id TEXT PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL, peer TEXT, status TEXT NOT NULL, state BLOB,
          created INTEGER NOT NULL, updated INTEGER NOT NULL
        );
        CREATE TABLE IF NOT EXISTS messages (
          seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, conversation_id TEXT NOT NULL, sender TEXT NOT NULL,
          sender_member TEXT, text TEXT NOT NULL, sent_at INTEGER NOT NULL, received_at INTEGER NOT NULL, outgoing INTEGER NOT NULL,
          delivery_state TEXT NOT NULL, request_id TEXT
        );
        CREATE INDEX IF NOT EXISTS messages_conversation ON messages (conversation_id, sent_at, seq);
        CREATE INDEX IF NOT EXISTS messages_request ON messages (request_id);
        CREATE TABLE IF NOT EXISTS bindings (group_id TEXT NOT NULL, member_id TEXT NOT NULL, address TEXT NOT NULL, PRIMARY KEY (group_id, member_id));
        CREATE TABLE IF NOT EXISTS seen (hash TEXT PRIMARY KEY, at INTEGER NOT NULL);
      `)
    } catch (err) {
      throw new ChatStoreError(`cannot open the chat database at ${path}`, { cause: err })
    }
  }

  private run<T> (sql: string, fn: (s: Sqlite.StatementSync) => T): T {
    try {
      let s = this.stmt[sql]
      if (s === undefined) {
        s = this.db.prepare(sql)
        this.stmt[sql] = s
      }
      return fn(s)
    } catch (err) {
      throw new ChatStoreError(`chat database: ${(err as Error).message}`, { cause: err })
    }
  }

  getMeta (key: string): Uint8Array | undefined {
    const row = this.run('SELECT value FROM meta WHERE key = ?', s => s.get(key)) as { value: Uint8Array } | undefined
    return row === undefined ? undefined : new Uint8Array(row.value)
  }

  setMeta (key: string, value: Uint8Array): void {
    this.run('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value', s => s.run(key, value))
  }

  // ---- key packages --------------------------------------------------------------------------------------------

  saveKeyPackage (kp: OwnKeyPackage): void {
    const p = kp.privatePackage
    const record = new Writer(1024).u8(1).bytes(kp.encoded).bytes(p.initPrivateKey).bytes(p.hpkePrivateKey).bytes(p.signaturePrivateKey).bytes(kp.ref).finish()
    this.run('INSERT OR REPLACE INTO key_packages (ref, record, created) VALUES (?, ?, ?)', s => s.run(Buffer.from(kp.ref).toString('hex'), record, Date.now()))
    this.run('DELETE FROM key_packages WHERE ref NOT IN (SELECT ref FROM key_packages ORDER BY created DESC LIMIT ?)', s => s.run(MAX_KEY_PACKAGES))
  }

  keyPackages (): OwnKeyPackage[] {
    const rows = this.run('SELECT record FROM key_packages ORDER BY created DESC', s => s.all()) as Array<{ record: Uint8Array }>
    const out: OwnKeyPackage[] = []
    for (const row of rows) {
      try {
        const r = new Reader(new Uint8Array(row.record))
        if (r.u8() !== 1) continue
        const encoded = r.bytes()
        const privatePackage = { initPrivateKey: r.bytes(), hpkePrivateKey: r.bytes(), signaturePrivateKey: r.bytes() }
        const ref = r.bytes()
        const msg = decodeMlsBytes(encoded)
        if (msg.wireformat !== 'mls_key_package') continue
        out.push({ publicPackage: msg.keyPackage, privatePackage, encoded, ref })
      } catch {
        // A damaged record is skipped; the others still work.
      }
    }
    return out
  }

  // ---- conversations -------------------------------------------------------------------------------------------

  saveConversation (c: ConversationRow): void {
    this.run(`INSERT INTO conversations (id, kind, name, peer, status, state, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT(id) DO UPDATE SET name = excluded.name, peer = excluded.peer, status = excluded.status, state = excluded.state, updated = excluded.updated`,
    s => s.run(c.id, c.kind, c.name, c.peer ?? null, c.status, c.state ?? null, c.createdAt, c.updatedAt))
  }

  conversation (id: string): ConversationRow | undefined {
    const row = this.run('SELECT * FROM conversations WHERE id = ?', s => s.get(id)) as DbConversation | undefined
    return row === undefined ? undefined : toConversation(row)
  }

  conversations (): ConversationRow[] {
    return (this.run('SELECT * FROM conversations ORDER BY created', s => s.all()) as unknown as DbConversation[]).map(toConversation)
  }

  // ---- messages ------------------------------------------------------------------------------------------------

  /** Inserts a message; false when one with that id is already stored (a duplicate delivery). */
  addMessage (m: MessageRow): boolean {
    const r = this.run(`INSERT OR IGNORE INTO messages (id, conversation_id, sender, sender_member, text, sent_at, received_at, outgoing, delivery_state, request_id)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, s => s.run(m.id, m.conversationId, m.sender, m.senderMember ?? null, m.text, m.sentAt, m.receivedAt, m.outgoing ? 1 : 0, m.deliveryState, m.requestId ?? null))
    return Number(r.changes) > 0
  }

  setDeliveryState (requestId: string, state: DeliveryState): MessageRow | undefined {
    const row = this.run('SELECT * FROM messages WHERE request_id = ?', s => s.get(requestId)) as DbMessage | undefined
    if (row === undefined) return undefined
    // States only move forward: a late "propagated" never undoes "sent".
    const order: DeliveryState[] = ['pending', 'propagated', 'sent']
    if (state !== 'failed' && order.indexOf(state) <= order.indexOf(row.delivery_state as DeliveryState)) return undefined
    if (state === 'failed' && row.delivery_state === 'sent') return undefined
    this.run('UPDATE messages SET delivery_state = ? WHERE request_id = ?', s => s.run(state, requestId))
    return { ...toMessage(row), deliveryState: state }
  }

  setRequestId (messageId: string, requestId: string): void {
    this.run('UPDATE messages SET request_id = ? WHERE id = ?', s => s.run(requestId, messageId))
  }

  setMessageState (messageId: string, state: DeliveryState): void {
    this.run('UPDATE messages SET delivery_state = ? WHERE id = ?', s => s.run(state, messageId))
  }

  messages (conversationId: string, limit: number, beforeSeq?: number): Array<MessageRow & { seq: number }> {
    const rows = (beforeSeq === undefined
      ? this.run('SELECT * FROM messages WHERE conversation_id = ? ORDER BY seq DESC LIMIT ?', s => s.all(conversationId, limit))
      : this.run('SELECT * FROM messages WHERE conversation_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?', s => s.all(conversationId, beforeSeq, limit))) as unknown as DbMessage[]
    return rows.reverse().map(r => ({ ...toMessage(r), seq: Number(r.seq) }))
  }

  lastMessageAt (conversationId: string): number | undefined {
    const row = this.run('SELECT MAX(received_at) AS at FROM messages WHERE conversation_id = ?', s => s.get(conversationId)) as { at: number | null }
    return row.at ?? undefined
  }

  // ---- group member bindings, processed hashes ----------------------------------------------------------------

  bind (groupId: string, memberId: string, address: string): boolean {
    const r = this.run('INSERT OR REPLACE INTO bindings (group_id, member_id, address) VALUES (?, ?, ?)', s => s.run(groupId, memberId, address))
    return Number(r.changes) > 0
  }

  bindings (groupId: string): Map<string, string> {
    const rows = this.run('SELECT member_id, address FROM bindings WHERE group_id = ?', s => s.all(groupId)) as Array<{ member_id: string, address: string }>
    return new Map(rows.map(r => [r.member_id, r.address]))
  }

  /** Records a processed delivery message; false when it was processed before. */
  markSeen (hash: string): boolean {
    const r = this.run('INSERT OR IGNORE INTO seen (hash, at) VALUES (?, ?)', s => s.run(hash, Date.now()))
    if (Number(r.changes) > 0 && Math.random() < 0.001) {
      this.run('DELETE FROM seen WHERE hash NOT IN (SELECT hash FROM seen ORDER BY at DESC LIMIT ?)', s => s.run(MAX_SEEN_HASHES))
    }
    return Number(r.changes) > 0
  }

  close (): void {
    this.db.close()
  }
}

interface DbConversation { id: string, kind: string, name: string, peer: string | null, status: string, state: Uint8Array | null, created: number, updated: number }
interface DbMessage { seq: number, id: string, conversation_id: string, sender: string, sender_member: string | null, text: string, sent_at: number, received_at: number, outgoing: number, delivery_state: string, request_id: string | null }

function toConversation (r: DbConversation): ConversationRow {
  return { id: r.id, kind: r.kind as ConversationKind, name: r.name, peer: r.peer ?? undefined, status: r.status as ConversationStatus, state: r.state === null ? undefined : new Uint8Array(r.state), createdAt: Number(r.created), updatedAt: Number(r.updated) }
}

function toMessage (r: DbMessage): MessageRow {
  return { id: r.id, conversationId: r.conversation_id, sender: r.sender, senderMember: r.sender_member ?? undefined, text: r.text, sentAt: Number(r.sent_at), receivedAt: Number(r.received_at), outgoing: r.outgoing === 1, deliveryState: r.delivery_state as DeliveryState, requestId: r.request_id ?? undefined }
}
