import { randomBytes } from 'node:crypto'
import { delay } from '../../common/index.ts'
import type { ModuleContext } from '../../sdk/index.ts'
import {
  commitProposals, createKeyPackage, createMlsGroup, decodeKeyPackage, decodeState, decodeWelcome, decryptApplication,
  defaultGroupConfig, encodeState, encryptApplication, generateIdentity, identityFromSecret, joinMlsGroup,
  membersOf, toHex, utf8Bytes
} from './crypto.ts'
import type { CiphersuiteImpl, ClientState, Identity, OwnKeyPackage } from './crypto.ts'
import {
  CATCH_UP_PEER_WAIT_MS, CATCH_UP_WINDOW_MS, CHAT_GROUP_TIMERS, GROUP_JOIN_TIMEOUT_MS, INTRO_PROPAGATION_WAIT_MS, INTRO_REFRESH_MS,
  MAX_CONTENT_BYTES, MAX_CONVERSATIONS, MAX_NAME_LENGTH, MAX_PAGE, MAX_TRACKED_SENDS
} from './constants.ts'
import { ChatConversationStateError, ChatParamsError, ChatPeerUnknownError, ChatUnknownConversationError } from './errors.ts'
import type { ChatStore, ConversationRow, DeliveryState, MessageRow } from './store.ts'
import {
  ADDRESS_PATTERN, addressOf, conversationTopic, decodeContent, decodeInboxFrame, encodeHello, encodeInviteFrame,
  encodeText, encodeWelcomeFrame, inboxTopic, introTopic, verifyHello, verifyInvite
} from './wire.ts'

const IDENTITY_KEY = 'identity'
const INTRO_AT_KEY = 'intro-published-at'

interface DeliveryMessage { messageHash: string, contentTopic: string, payload: Uint8Array, timestampMs: number }
interface SendOutcome { state: 'propagated' | 'sent' | 'failed', code?: string, error?: string }

export interface MessageView {
  messageId: string
  conversationId: string
  sender: string
  text: string
  sentAt: number
  receivedAt: number
  outgoing: boolean
  deliveryState: DeliveryState
  seq: number
}

export interface MemberView {
  memberId: string
  address: string | null
}

/**
 * The chat node behind the module's methods: an identity (Ed25519; the address is its De-MLS member id), an inbox
 * on the delivery layer, 1:1 conversations as two-member MLS groups carried by delivery, group conversations as
 * De-MLS groups run by the demls module, and everything on disk (ChatStore).
 */
export class ChatService {
  private readonly ctx: ModuleContext
  private readonly store: ChatStore
  private readonly cs: CiphersuiteImpl
  private readonly groupTimers: Record<string, number>
  private identity!: Identity
  address = ''
  private demlsMemberId = ''
  private readonly queues = new Map<string, Promise<unknown>>()
  private readonly outcomes = new Map<string, SendOutcome>()
  private readonly waiters = new Map<string, (o: SendOutcome) => void>()
  private readonly helloEpochs = new Map<string, number>()
  private readonly offs: Array<() => void> = []
  private stopped = false

  constructor (ctx: ModuleContext, store: ChatStore, cs: CiphersuiteImpl, groupTimers: Record<string, number> = {}) {
    this.ctx = ctx
    this.store = store
    this.cs = cs
    this.groupTimers = { ...CHAT_GROUP_TIMERS, ...groupTimers }
  }

  // ---- lifecycle -----------------------------------------------------------------------------------------------

  async start (): Promise<void> {
    const secret = this.store.getMeta(IDENTITY_KEY)
    if (secret !== undefined) {
      this.identity = identityFromSecret(secret)
    } else {
      this.identity = generateIdentity()
      this.store.setMeta(IDENTITY_KEY, this.identity.secretKey)
    }
    this.address = toHex(this.identity.memberId)
    this.demlsMemberId = (await this.ctx.call<{ memberId: string }>('demls', 'info')).memberId
    const on = (source: string, event: string, fn: (p: Record<string, unknown>) => void): void => {
      this.offs.push(this.ctx.on(source, event, (payload) => { fn(payload as Record<string, unknown>) }))
    }
    on('delivery', 'message_received', (p) => { this.onDelivery(p as unknown as DeliveryMessage) })
    on('delivery', 'message_propagated', (p) => {
      // Our own ciphertext comes back from store nodes in a catch-up: it is never ours to decrypt.
      if (typeof p.messageHash === 'string') this.store.markSeen(p.messageHash)
      this.onOutcome(p.requestId as string, { state: 'propagated' })
    })
    on('delivery', 'message_sent', (p) => { this.onOutcome(p.requestId as string, { state: 'sent' }) })
    on('delivery', 'message_error', (p) => { this.onOutcome(p.requestId as string, { state: 'failed', code: p.code as string, error: p.error as string }) })
    on('demls', 'message', (p) => { this.onGroupMessage(p as { groupId: string, sender: string, data: Uint8Array, epoch: number }).catch(() => {}) })
    on('demls', 'group', (p) => { this.onGroup(p.groupId as string, p.how as string).catch(() => {}) })
    on('demls', 'epoch', (p) => { this.onEpoch(p.groupId as string, p.epoch as number).catch(() => {}) })
    on('demls', 'left', (p) => { this.onLeft(p.groupId as string) })
    const topics = [inboxTopic(this.address), ...this.store.conversations().filter(c => c.kind === 'direct').map(c => conversationTopic(c.id))]
    await this.ctx.call('delivery', 'subscribe', { contentTopics: topics })
    // Group invites accepted before a restart and still waiting: ask again.
    for (const c of this.store.conversations()) if (c.kind === 'group' && c.status === 'joining') this.joinGroup(c.id)
    this.catchUp(topics).catch((err: unknown) => { this.ctx.log.debug('catch-up from the store failed', { error: (err as Error).message }) })
  }

  stop (): void {
    this.stopped = true
    for (const off of this.offs) off()
    for (const w of this.waiters.values()) w({ state: 'failed', code: 'ERR_ABORTED', error: 'the chat module stopped' })
  }

  /**
   * Messages of our topics this node missed while it was down, from store nodes (deduplicated by hash), once the
   * delivery node knows a store peer (right after a start it may know none yet).
   */
  private async catchUp (topics: string[]): Promise<void> {
    const end = Date.now() + CATCH_UP_PEER_WAIT_MS
    while (!this.stopped && Date.now() < end) {
      const h = await this.ctx.call<{ storePeers: number }>('delivery', 'health').catch(() => ({ storePeers: 0 }))
      if (h.storePeers > 0) break
      await delay(500)
    }
    if (this.stopped) return
    const timeStart = Date.now() - CATCH_UP_WINDOW_MS
    for (const topic of topics) {
      for (const peerId of ['self', 'remote']) {
        const r = await this.ctx.call<{ messages: Array<{ message?: DeliveryMessage & { messageHash: string } }> }>('delivery', 'storeQuery', { contentTopics: [topic], timeStart, forward: true, limit: 100, peerId }).catch(() => ({ messages: [] }))
        for (const m of r.messages) {
          if (m.message === undefined) continue
          // One message we cannot use (our own ciphertext, a broken one) must not stop the others.
          await this.route(m.message).catch((err: unknown) => { this.ctx.log.debug('a stored chat message was skipped', { error: (err as Error).message }) })
        }
      }
    }
  }

  // ---- sends through delivery --------------------------------------------------------------------------------------

  private onOutcome (requestId: string, o: SendOutcome): void {
    if (typeof requestId !== 'string') return
    const prev = this.outcomes.get(requestId)
    if (prev === undefined || prev.state === 'propagated') {
      this.outcomes.set(requestId, o)
      if (this.outcomes.size > MAX_TRACKED_SENDS) this.outcomes.delete(this.outcomes.keys().next().value as string)
    }
    this.waiters.get(requestId)?.(o)
    const row = this.store.setDeliveryState(requestId, o.state)
    if (row !== undefined) this.ctx.emit('delivery_state_changed', { conversationId: row.conversationId, messageId: row.id, state: o.state, error: o.error })
  }

  private async send (contentTopic: string, payload: Uint8Array): Promise<{ requestId: string }> {
    return await this.ctx.call('delivery', 'send', { contentTopic, payload })
  }

  /**
   * Waits until a send is stored by a store node (sent) or failed, bounded; returns the last outcome seen (a send
   * only propagated by then counts as propagated).
   */
  private async outcome (requestId: string, timeoutMs: number): Promise<SendOutcome | undefined> {
    const known = this.outcomes.get(requestId)
    if (known !== undefined && known.state !== 'propagated') return known
    return await new Promise<SendOutcome | undefined>((resolve) => {
      let latest = known
      const timer = setTimeout(() => { this.waiters.delete(requestId); resolve(latest) }, timeoutMs)
      this.waiters.set(requestId, (o) => {
        latest = o
        if (o.state === 'propagated') return
        clearTimeout(timer)
        this.waiters.delete(requestId)
        resolve(o)
      })
    })
  }

  // ---- init and intros -----------------------------------------------------------------------------------------

  /**
   * Publishes this identity's intro (a key package) to its intro topic, where store nodes keep it for peers that
   * want to open a conversation; again when the last one is a day old. Returns the address.
   */
  async init (options: { force?: boolean } = {}): Promise<{ address: string, introPublished: boolean }> {
    const last = this.store.getMeta(INTRO_AT_KEY)
    const lastAt = last === undefined ? 0 : Number(Buffer.from(last).readBigUInt64BE())
    if (options.force !== true && Date.now() - lastAt < INTRO_REFRESH_MS && this.store.keyPackages().length > 0) return { address: this.address, introPublished: false }
    const kp = await createKeyPackage(this.identity, this.cs)
    this.store.saveKeyPackage(kp)
    const { requestId } = await this.send(introTopic(this.address), kp.encoded)
    const o = await this.outcome(requestId, INTRO_PROPAGATION_WAIT_MS)
    if (o?.state === 'failed') throw new ChatPeerUnknownError(`the intro could not be published: ${o.code ?? ''} ${o.error ?? ''}`.trim())
    const at = Buffer.alloc(8)
    at.writeBigUInt64BE(BigInt(Date.now()))
    this.store.setMeta(INTRO_AT_KEY, at)
    return { address: this.address, introPublished: o !== undefined }
  }

  /** The newest intro of `address` a store node (this one first) holds, checked: self-signed, credential = address. */
  private async introOf (address: string): Promise<Uint8Array> {
    for (const peerId of ['self', 'remote']) {
      const r = await this.ctx.call<{ messages: Array<{ message?: { payload: Uint8Array } }> }>('delivery', 'storeQuery', { contentTopics: [introTopic(address)], limit: 5, peerId }).catch(() => ({ messages: [] }))
      for (const m of [...r.messages].reverse()) {
        if (m.message === undefined) continue
        try {
          const kp = await decodeKeyPackage(m.message.payload, this.cs)
          if (toHex(kp.memberId) === address) return m.message.payload
        } catch {
          // Not a valid key package of this address: look further.
        }
      }
    }
    throw new ChatPeerUnknownError(`no key package of ${address} was found: the peer must run init first`, { data: { address } })
  }

  // ---- conversations -------------------------------------------------------------------------------------------

  private conversation (id: unknown): ConversationRow {
    if (typeof id !== 'string') throw new ChatParamsError('"conversationId" must be a string')
    const c = this.store.conversation(id)
    if (c === undefined) throw new ChatUnknownConversationError(`no conversation ${id}`)
    return c
  }

  private checkCapacity (): void {
    if (this.store.conversations().length >= MAX_CONVERSATIONS) throw new ChatConversationStateError(`at most ${MAX_CONVERSATIONS} conversations`)
  }

  /** Serializes the MLS work of one conversation (each step makes the next state). */
  private async serial<T> (id: string, fn: () => Promise<T>): Promise<T> {
    const run = (this.queues.get(id) ?? Promise.resolve()).then(fn)
    const tail = run.catch(() => {})
    this.queues.set(id, tail)
    tail.finally(() => { if (this.queues.get(id) === tail) this.queues.delete(id) }).catch(() => {})
    return await run
  }

  /**
   * Opens a 1:1 conversation with `peer` (an address): a two-member MLS group made from the peer's intro, whose
   * Welcome goes to the peer's inbox. Returns the existing one if there is an active conversation with that peer.
   */
  async createConversation (peer: unknown): Promise<{ conversationId: string }> {
    if (typeof peer !== 'string' || !ADDRESS_PATTERN.test(peer)) throw new ChatParamsError('"peer" must be an address (40 hex characters)')
    if (peer === this.address) throw new ChatParamsError('a conversation needs another address than this one')
    const existing = this.store.conversations().find(c => c.kind === 'direct' && c.peer === peer && c.status === 'active')
    if (existing !== undefined) return { conversationId: existing.id }
    this.checkCapacity()
    const kpBytes = await this.introOf(peer)
    const theirs = await decodeKeyPackage(kpBytes, this.cs)
    const id = toHex(new Uint8Array(randomBytes(16)))
    const own = await createKeyPackage(this.identity, this.cs)
    const governance = { config: defaultGroupConfig(), stewards: { stewards: [this.identity.memberId], startEpoch: 0, electionEpoch: 0, retryRound: 0 } }
    const created = await createMlsGroup(Buffer.from(id, 'hex'), own, governance, this.cs)
    const { state, welcome } = await commitProposals(created, [{ proposalType: 'add', add: { keyPackage: theirs.keyPackage } }], this.cs)
    if (welcome === undefined) throw new ChatConversationStateError('the commit made no Welcome')
    const now = Date.now()
    this.store.saveConversation({ id, kind: 'direct', name: '', peer, status: 'active', state: encodeState(state), createdAt: now, updatedAt: now })
    await this.ctx.call('delivery', 'subscribe', { contentTopic: conversationTopic(id) })
    await this.send(inboxTopic(peer), encodeWelcomeFrame(id, welcome))
    this.ctx.emit('conversation_created', { conversationId: id, kind: 'direct', peer, name: '', initiator: this.address })
    return { conversationId: id }
  }

  /** Creates a De-MLS group with this node as its only member and first steward. */
  async createGroupConversation (name: unknown): Promise<{ conversationId: string }> {
    const title = name === undefined ? '' : name
    if (typeof title !== 'string' || title.length > MAX_NAME_LENGTH) throw new ChatParamsError(`"name" must be a string of at most ${MAX_NAME_LENGTH} characters`)
    this.checkCapacity()
    const id = toHex(new Uint8Array(randomBytes(16)))
    await this.ctx.call('demls', 'createGroup', { groupId: id, config: { timers: this.groupTimers } })
    const now = Date.now()
    this.store.saveConversation({ id, kind: 'group', name: title, peer: undefined, status: 'active', state: undefined, createdAt: now, updatedAt: now })
    this.store.bind(id, this.demlsMemberId, this.address)
    this.ctx.emit('conversation_created', { conversationId: id, kind: 'group', name: title, initiator: this.address })
    return { conversationId: id }
  }

  /**
   * Invites `address` into a group: a signed invite goes to its inbox; the invitee asks the group to join (a De-MLS
   * join), the members vote, a steward commits, and the Welcome brings it in. Asynchronous: members_changed says when.
   */
  async addGroupMember (conversationId: unknown, address: unknown): Promise<{ invited: string, requestId: string }> {
    const c = this.conversation(conversationId)
    if (c.kind !== 'group') throw new ChatConversationStateError('members are added to group conversations only')
    if (c.status !== 'active') throw new ChatConversationStateError(`the group is ${c.status}`)
    if (typeof address !== 'string' || !ADDRESS_PATTERN.test(address)) throw new ChatParamsError('"address" must be an address (40 hex characters)')
    const { requestId } = await this.send(inboxTopic(address), encodeInviteFrame(c.id, c.name, address, this.identity.secretKey, this.identity.publicKey))
    return { invited: address, requestId }
  }

  async sendMessage (conversationId: unknown, text: unknown): Promise<{ messageId: string }> {
    const c = this.conversation(conversationId)
    if (typeof text !== 'string' || text.length === 0) throw new ChatParamsError('"content" must be a non-empty string')
    if (utf8Bytes(text).length > MAX_CONTENT_BYTES) throw new ChatParamsError(`a message is at most ${MAX_CONTENT_BYTES} bytes`)
    if (c.status !== 'active') throw new ChatConversationStateError(`the conversation is ${c.status}`)
    const sentAt = Date.now()
    const messageId = toHex(new Uint8Array(randomBytes(16)))
    const frame = encodeText(text, sentAt, messageId)
    if (c.kind === 'direct') {
      return await this.serial(c.id, async () => {
        const fresh = this.conversation(c.id)
        const { state, message } = await encryptApplication(decodeState(fresh.state as Uint8Array), frame, this.cs)
        // Saved before it is sent: a restart must never reuse this ratchet generation.
        this.store.saveConversation({ ...fresh, state: encodeState(state), updatedAt: sentAt })
        const { requestId } = await this.send(conversationTopic(c.id), message)
        this.store.addMessage({ id: messageId, conversationId: c.id, sender: this.address, senderMember: undefined, text, sentAt, receivedAt: sentAt, outgoing: true, deliveryState: 'pending', requestId })
        // An outcome that arrived before the row existed.
        const early = this.outcomes.get(requestId)
        if (early !== undefined) this.onOutcome(requestId, early)
        return { messageId }
      })
    }
    this.store.addMessage({ id: messageId, conversationId: c.id, sender: this.address, senderMember: this.demlsMemberId, text, sentAt, receivedAt: sentAt, outgoing: true, deliveryState: 'pending', requestId: undefined })
    try {
      await this.ctx.call('demls', 'send', { groupId: c.id, data: frame })
      this.store.setMessageState(messageId, 'sent')
      this.ctx.emit('delivery_state_changed', { conversationId: c.id, messageId, state: 'sent' })
    } catch (err) {
      this.store.setMessageState(messageId, 'failed')
      this.ctx.emit('delivery_state_changed', { conversationId: c.id, messageId, state: 'failed', error: (err as Error).message })
      throw err
    }
    return { messageId }
  }

  listConversations (): Array<Record<string, unknown>> {
    return this.store.conversations().map(c => ({
      conversationId: c.id,
      kind: c.kind,
      name: c.name,
      peer: c.peer ?? null,
      status: c.status,
      createdAt: c.createdAt,
      lastMessageAt: this.store.lastMessageAt(c.id) ?? null
    }))
  }

  getMessages (conversationId: unknown, limit: unknown, before: unknown): MessageView[] {
    const c = this.conversation(conversationId)
    const n = limit === undefined ? 100 : limit
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_PAGE) throw new ChatParamsError(`"limit" must be an integer in [1, ${MAX_PAGE}]`)
    if (before !== undefined && (typeof before !== 'number' || !Number.isInteger(before))) throw new ChatParamsError('"before" must be a message seq')
    const bindings = c.kind === 'group' ? this.store.bindings(c.id) : undefined
    return this.store.messages(c.id, n, before as number | undefined).map(m => this.messageView(m, bindings))
  }

  private messageView (m: MessageRow & { seq: number }, bindings?: Map<string, string>): MessageView {
    const sender = m.senderMember !== undefined ? (bindings?.get(m.senderMember) ?? m.sender) : m.sender
    return { messageId: m.id, conversationId: m.conversationId, sender, text: m.text, sentAt: m.sentAt, receivedAt: m.receivedAt, outgoing: m.outgoing, deliveryState: m.deliveryState, seq: m.seq }
  }

  async listGroupMembers (conversationId: unknown): Promise<MemberView[]> {
    const c = this.conversation(conversationId)
    if (c.kind === 'direct') return [{ memberId: this.address, address: this.address }, { memberId: c.peer as string, address: c.peer as string }]
    if (c.status !== 'active') return []
    const g = await this.ctx.call<{ members: string[] }>('demls', 'group', { groupId: c.id })
    const bindings = this.store.bindings(c.id)
    return g.members.map(memberId => ({ memberId, address: bindings.get(memberId) ?? null }))
  }

  // ---- receiving -----------------------------------------------------------------------------------------------

  private onDelivery (m: DeliveryMessage): void {
    this.route(m).catch((err: unknown) => { this.ctx.log.debug('a chat message was dropped', { error: (err as Error).message, topic: m.contentTopic }) })
  }

  private async route (m: DeliveryMessage): Promise<void> {
    if (this.stopped || typeof m.messageHash !== 'string' || !(m.payload instanceof Uint8Array)) return
    if (m.contentTopic === inboxTopic(this.address)) {
      if (!this.store.markSeen(m.messageHash)) return
      await this.onInbox(m)
      return
    }
    const id = /^\/logos-chat\/1\/([0-9a-f]{32})\/proto$/.exec(m.contentTopic)?.[1]
    if (id === undefined) return
    const c = this.store.conversation(id)
    if (c === undefined || c.kind !== 'direct') return
    await this.serial(id, async () => {
      if (!this.store.markSeen(m.messageHash)) return
      const fresh = this.store.conversation(id) as ConversationRow
      const state = decodeState(fresh.state as Uint8Array)
      const r = await decryptApplication(state, m.payload, this.cs)
      const sender = membersOf(r.state).find(x => x.leafIndex === r.senderLeafIndex)
      this.store.saveConversation({ ...fresh, state: encodeState(r.state), updatedAt: Date.now() })
      const frame = decodeContent(r.data)
      if (frame.type !== 'text' || sender === undefined) return
      const from = toHex(sender.memberId)
      const row = { id: frame.messageId, conversationId: id, sender: from, senderMember: undefined, text: frame.text, sentAt: frame.sentAtMs, receivedAt: Date.now(), outgoing: false, deliveryState: 'received' as const, requestId: undefined }
      if (this.store.addMessage(row)) this.ctx.emit('message_received', { conversationId: id, messageId: row.id, sender: from, content: frame.text, sentAt: frame.sentAtMs })
    })
  }

  private async onInbox (m: DeliveryMessage): Promise<void> {
    const frame = decodeInboxFrame(m.payload)
    if (frame.type === 'welcome') {
      if (this.store.conversation(frame.conversationId) !== undefined) return
      const welcome = decodeWelcome(frame.welcome)
      let joined: ClientState | undefined
      for (const own of this.store.keyPackages()) {
        if (!welcome.secrets.some(s => Buffer.from(s.newMember).equals(Buffer.from(own.ref)))) continue
        joined = (await joinMlsGroup(welcome, own as OwnKeyPackage, this.cs)).state
        break
      }
      if (joined === undefined) return
      const members = membersOf(joined)
      if (toHex(joined.groupContext.groupId) !== frame.conversationId || members.length !== 2) return
      const peer = members.map(x => toHex(x.memberId)).find(x => x !== this.address)
      if (peer === undefined) return
      const now = Date.now()
      this.store.saveConversation({ id: frame.conversationId, kind: 'direct', name: '', peer, status: 'active', state: encodeState(joined), createdAt: now, updatedAt: now })
      await this.ctx.call('delivery', 'subscribe', { contentTopic: conversationTopic(frame.conversationId) })
      this.ctx.emit('conversation_created', { conversationId: frame.conversationId, kind: 'direct', peer, name: '', initiator: peer })
      // Messages sent before we subscribed are in the store.
      this.catchUp([conversationTopic(frame.conversationId)]).catch(() => {})
      return
    }
    const inviter = verifyInvite(frame, this.address)
    if (inviter === undefined) return
    if (this.store.conversation(frame.groupId) !== undefined || !/^[0-9a-f]{32}$/.test(frame.groupId)) return
    const now = Date.now()
    this.store.saveConversation({ id: frame.groupId, kind: 'group', name: frame.name, peer: inviter, status: 'joining', state: undefined, createdAt: now, updatedAt: now })
    this.joinGroup(frame.groupId)
  }

  private joinGroup (groupId: string): void {
    this.ctx.call('demls', 'join', { groupId, timeoutMs: GROUP_JOIN_TIMEOUT_MS }, { timeout: GROUP_JOIN_TIMEOUT_MS + 5_000 })
      .then(async () => { await this.onGroup(groupId, 'joined') })
      .catch((err: unknown) => {
        if (this.stopped) return
        const c = this.store.conversation(groupId)
        if (c?.status === 'joining') this.store.saveConversation({ ...c, status: 'failed', updatedAt: Date.now() })
        this.ctx.log.warn('group join failed', { groupId, error: (err as Error).message })
      })
  }

  /** A group joined (or created, or restored): active, announced, and our hello sent. */
  private async onGroup (groupId: string, how: string): Promise<void> {
    const c = this.store.conversation(groupId)
    if (c === undefined || c.kind !== 'group') return
    if (how === 'joined' && c.status === 'joining') {
      this.store.saveConversation({ ...c, status: 'active', updatedAt: Date.now() })
      this.store.bind(groupId, this.demlsMemberId, this.address)
      this.ctx.emit('conversation_created', { conversationId: groupId, kind: 'group', name: c.name, initiator: c.peer })
      const g = await this.ctx.call<{ epoch: number }>('demls', 'group', { groupId })
      await this.onEpoch(groupId, g.epoch)
    }
  }

  /** The group's membership changed: say who is in, and (once per epoch) bind our address for the new members. */
  private async onEpoch (groupId: string, epoch: number): Promise<void> {
    const c = this.store.conversation(groupId)
    if (c === undefined || c.kind !== 'group' || c.status !== 'active') return
    if ((this.helloEpochs.get(groupId) ?? -1) < epoch) {
      this.helloEpochs.set(groupId, epoch)
      await this.ctx.call('demls', 'send', { groupId, data: encodeHello(groupId, this.demlsMemberId, this.identity.secretKey, this.identity.publicKey) }).catch(() => {})
    }
    this.ctx.emit('members_changed', { conversationId: groupId, epoch, members: await this.listGroupMembers(groupId) })
  }

  private onLeft (groupId: string): void {
    const c = this.store.conversation(groupId)
    if (c === undefined || c.kind !== 'group') return
    this.store.saveConversation({ ...c, status: 'left', updatedAt: Date.now() })
    this.ctx.emit('members_changed', { conversationId: groupId, members: [], left: true })
  }

  private async onGroupMessage (m: { groupId: string, sender: string, data: Uint8Array, epoch: number }): Promise<void> {
    const c = this.store.conversation(m.groupId)
    if (c === undefined || c.kind !== 'group' || !(m.data instanceof Uint8Array)) return
    const frame = decodeContent(m.data)
    if (frame.type === 'hello') {
      const address = verifyHello(frame, m.groupId, m.sender)
      if (address !== undefined && this.store.bindings(m.groupId).get(m.sender) !== address) {
        this.store.bind(m.groupId, m.sender, address)
        // A member we had not bound yet may have joined after our last hello (a message of an epoch before its
        // Welcome never reaches it): say hello again, once per newly bound member.
        await this.ctx.call('demls', 'send', { groupId: m.groupId, data: encodeHello(m.groupId, this.demlsMemberId, this.identity.secretKey, this.identity.publicKey) }).catch(() => {})
        this.ctx.emit('members_changed', { conversationId: m.groupId, epoch: m.epoch, members: await this.listGroupMembers(m.groupId) })
      }
      return
    }
    const messageId = frame.messageId
    const sender = this.store.bindings(m.groupId).get(m.sender) ?? m.sender
    const row = { id: messageId, conversationId: m.groupId, sender, senderMember: m.sender, text: frame.text, sentAt: frame.sentAtMs, receivedAt: Date.now(), outgoing: false, deliveryState: 'received' as const, requestId: undefined }
    if (this.store.addMessage(row)) this.ctx.emit('message_received', { conversationId: m.groupId, messageId, sender, content: frame.text, sentAt: frame.sentAtMs })
  }
}

export { addressOf }
