import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { delay } from '../../../src/common/index.ts'
import { startTestNet, startTestNode } from '../delivery/harness.ts'
import type { NodeSpec, TestNode } from '../delivery/harness.ts'

/**
 * Three Logos nodes with the whole messaging stack (network, rln, delivery, demls, chat) over TCP on loopback:
 * a 1:1 conversation (a two-member MLS group over delivery) and a three-member De-MLS group, then a restart that
 * must keep both conversations and their history, and catch up from the store with what came while it was down.
 */
let baseDir: string
let a: TestNode, b: TestNode, c: TestNode
const addr: Record<string, string> = {}
// RLN is off here: its proofs are tested in the delivery tests, and three more provers on a 2-core machine would
// make this suite minutes long. Everything else is the real stack.
const spec: Partial<NodeSpec> = {
  rln: false,
  extra: { demls: { joinRetryMs: 1_000 }, chat: {} },
  watch: ['delivery', 'chat']
}

interface Msg { messageId: string, sender: string, text: string, outgoing: boolean, deliveryState: string }

async function until (what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    if (Date.now() > end) throw new Error(`timed out: ${what}`)
    await delay(200)
  }
}

beforeAll(async () => {
  baseDir = await mkdtemp(join(tmpdir(), 'chat-module-'))
  ;[a, b, c] = await startTestNet(3, baseDir, { ...spec, names: ['a', 'b', 'c'] }) as [TestNode, TestNode, TestNode]
  const inits = await Promise.all([a, b, c].map(async n => await n.call<{ address: string, introPublished: boolean }>('chat', 'init', {}, 120_000)))
  ;['a', 'b', 'c'].forEach((name, i) => { addr[name] = (inits[i] as { address: string }).address })
  expect(inits.every(r => r.introPublished)).toBe(true)
}, 180_000)

afterAll(async () => {
  await Promise.allSettled([a, b, c].map(async n => { await n?.stop() }))
  await rm(baseDir, { recursive: true, force: true })
})

describe('chat', () => {
  it('has one address per identity, the same through init and getAddress', async () => {
    expect(addr.a).toMatch(/^[0-9a-f]{40}$/)
    expect(new Set(Object.values(addr)).size).toBe(3)
    expect(await b.call('chat', 'getAddress')).toBe(addr.b)
    await expect(a.call('chat', 'createConversation', { peer: 'nope' })).rejects.toMatchObject({ code: 'ERR_CHAT_PARAMS' })
    await expect(a.call('chat', 'createConversation', { peer: 'ab'.repeat(20) })).rejects.toMatchObject({ code: 'ERR_CHAT_PEER_UNKNOWN' })
    await expect(a.call('chat', 'sendMessage', { conversationId: 'none', content: 'x' })).rejects.toMatchObject({ code: 'ERR_CHAT_UNKNOWN_CONVERSATION' })
  })

  it('a 1:1 conversation: a two-member MLS group opened through the peer\'s inbox, messages both ways', async () => {
    const { conversationId } = await a.call<{ conversationId: string }>('chat', 'createConversation', { peer: addr.b })
    const created = await b.waitFor('chat:conversation_created', p => p.conversationId === conversationId)
    expect(created).toMatchObject({ kind: 'direct', peer: addr.a, initiator: addr.a })
    const sent = await a.call<{ messageId: string }>('chat', 'sendMessage', { conversationId, content: 'hi B, it is A' })
    const got = await b.waitFor('chat:message_received', p => p.conversationId === conversationId)
    expect(got).toMatchObject({ sender: addr.a, content: 'hi B, it is A', messageId: sent.messageId })
    await a.waitFor('chat:delivery_state_changed', p => p.messageId === sent.messageId && p.state === 'sent')
    await b.call('chat', 'sendMessage', { conversationId, content: 'hello A' })
    await a.waitFor('chat:message_received', p => p.conversationId === conversationId && p.content === 'hello A')
    const history = await a.call<Msg[]>('chat', 'getMessages', { conversationId })
    expect(history.map(m => [m.sender, m.text, m.outgoing])).toEqual([[addr.a, 'hi B, it is A', true], [addr.b, 'hello A', false]])
    expect(history[0]?.deliveryState).toBe('sent')
    // What travels is MLS ciphertext: the store holds no plaintext.
    const stored = await a.call<{ messages: Array<{ message: { payload: Uint8Array } }> }>('delivery', 'storeQuery', { contentTopics: [`/logos-chat/1/${conversationId}/proto`], peerId: 'self' })
    expect(stored.messages.length).toBeGreaterThanOrEqual(2)
    for (const m of stored.messages) expect(Buffer.from(m.message.payload).includes(Buffer.from('hi B'))).toBe(false)
  }, 90_000)

  it('a three-member group: created by A, B invited by A, C invited by B, messages to all', async () => {
    const { conversationId } = await a.call<{ conversationId: string }>('chat', 'createGroupConversation', { name: 'Book Club' })
    await a.call('chat', 'addGroupMember', { conversationId, address: addr.b })
    const atB = await b.waitFor('chat:conversation_created', p => p.conversationId === conversationId, 60_000)
    expect(atB).toMatchObject({ kind: 'group', name: 'Book Club', initiator: addr.a })
    // A non-creator add.
    await b.call('chat', 'addGroupMember', { conversationId, address: addr.c })
    await c.waitFor('chat:conversation_created', p => p.conversationId === conversationId, 60_000)
    const everyone = [addr.a, addr.b, addr.c].sort()
    for (const n of [a, b, c]) {
      await until(`${n.name} sees three members with addresses`, async () => {
        const members = await n.call<Array<{ address: string | null }>>('chat', 'listGroupMembers', { conversationId })
        return JSON.stringify(members.map(m => m.address).sort()) === JSON.stringify(everyone)
      })
    }
    expect(a.of('chat:members_changed').some(p => p.conversationId === conversationId)).toBe(true)
    await a.call('chat', 'sendMessage', { conversationId, content: 'welcome to the club' })
    for (const n of [b, c]) {
      const m = await n.waitFor('chat:message_received', p => p.conversationId === conversationId && p.content === 'welcome to the club', 30_000)
      expect(m.sender).toBe(addr.a)
    }
    await c.call('chat', 'sendMessage', { conversationId, content: 'thanks, C here' })
    for (const n of [a, b]) await n.waitFor('chat:message_received', p => p.conversationId === conversationId && p.content === 'thanks, C here', 30_000)
    const list = await b.call<Array<{ conversationId: string, kind: string, name: string, status: string }>>('chat', 'listConversations')
    expect(list.find(x => x.conversationId === conversationId)).toMatchObject({ kind: 'group', name: 'Book Club', status: 'active' })
  }, 150_000)

  it('a restart keeps conversations and history, and both conversations go on', async () => {
    const before = await b.call<Array<{ conversationId: string, kind: string }>>('chat', 'listConversations')
    const direct = before.find(x => x.kind === 'direct')?.conversationId as string
    const group = before.find(x => x.kind === 'group')?.conversationId as string
    const directBefore = await b.call<Msg[]>('chat', 'getMessages', { conversationId: direct })
    const groupBefore = await b.call<Msg[]>('chat', 'getMessages', { conversationId: group })
    await b.stop()
    // While B is down, A writes to it: the message waits in the store nodes (C's, A's own).
    const away = await a.call<{ messageId: string }>('chat', 'sendMessage', { conversationId: direct, content: 'sent while you were away' })
    await a.waitFor('chat:delivery_state_changed', p => p.messageId === away.messageId && p.state === 'sent', 60_000)
    b = await startTestNode({ ...spec, name: 'b', baseDir, bootstrap: a.multiaddrs }, b)
    expect(await b.call('chat', 'getAddress')).toBe(addr.b)
    const after = await b.call<Array<{ conversationId: string }>>('chat', 'listConversations')
    expect(after.map(x => x.conversationId).sort()).toEqual(before.map(x => x.conversationId).sort())
    const directAfter = await b.call<Msg[]>('chat', 'getMessages', { conversationId: direct })
    expect(directAfter.slice(0, directBefore.length)).toEqual(directBefore)
    expect((await b.call<Msg[]>('chat', 'getMessages', { conversationId: group })).slice(0, groupBefore.length)).toEqual(groupBefore)
    // Caught up from the store.
    await until('B caught up with the message sent while it was down', async () => {
      const msgs = await b.call<Msg[]>('chat', 'getMessages', { conversationId: direct })
      return msgs.some(m => m.text === 'sent while you were away')
    }, 30_000)
    // Live again, in both conversations, once A and C see B on the relay again.
    const { pubsubTopic } = await a.call<{ pubsubTopic: string }>('delivery', 'pubsubTopicOf', { contentTopic: `/logos-chat/1/${direct}/proto` })
    for (const n of [a, c]) await until(`${n.name} sees B on the relay`, async () => (await n.call<{ subscribers: string[] }>('network', 'relayPeers', { topic: pubsubTopic })).subscribers.includes(b.peerId), 30_000)
    await a.call('chat', 'sendMessage', { conversationId: direct, content: 'welcome back' })
    await b.waitFor('chat:message_received', p => p.content === 'welcome back', 30_000)
    await b.call('chat', 'sendMessage', { conversationId: group, content: 'B is back' })
    for (const n of [a, c]) await n.waitFor('chat:message_received', p => p.conversationId === group && p.content === 'B is back', 60_000)
  }, 150_000)
})
