import { createHmac, randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MixDuplicateHandlerError, MixMessageTooLargeError, MixUnroutableDestinationError } from '../../../src/net/mix/index.ts'
import type { MixInternalMessage, MixNodeInfo } from '../../../src/net/mix/index.ts'
import { startMixNet, waitUntil } from './helpers.ts'
import type { MixNet, MixNode } from './helpers.ts'

const CODEC = '/mix/test-internal/1.0.0'
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

let net: MixNet
let A: MixNode
let X: MixNode

function infoOf (node: MixNode): MixNodeInfo {
  return { peerId: node.peerId, multiaddrs: node.getMultiaddrs(), mixPublicKey: node.services.mix.publicKey }
}

beforeAll(async () => {
  net = await startMixNet(6)
  A = net.nodes[0] as MixNode
  X = net.nodes[5] as MixNode
})

afterAll(async () => { await net?.stop() })

describe('internal protocols at the exit and SURB groups (what hidden services build on)', () => {
  it('the exit handles a reserved codec itself, keyed by the Sphinx secret it shares with the sender, and answers through a SURB', async () => {
    const got: MixInternalMessage[] = []
    X.services.mix.handleInternal(CODEC, async (m) => {
      got.push(m)
      // Answer through the first SURB with a MAC only the sender can check.
      await X.services.mix.sendViaSurb(m.surbs[0] as Uint8Array, createHmac('sha256', m.exitSecret).update('ack').digest())
    })
    expect(() => { X.services.mix.handleInternal(CODEC, () => {}) }).toThrow(MixDuplicateHandlerError)
    const replies: Array<{ message: Uint8Array, replyKey: Uint8Array }> = []
    const surbs = A.services.mix.createSurbs(2, { group: 'g1', ttlMs: 30_000, exclude: [X.peerId], onReply: (message, replyKey) => { replies.push({ message, replyKey }) } })
    expect(surbs.map(s => s.length)).toEqual([734, 734])
    expect(A.services.mix.getStats().storedSurbs).toBe(2)
    let senderSecret: Uint8Array | undefined
    const data = randomBytes(200)
    await A.services.mix.sendToExit(infoOf(X), CODEC, (secret) => {
      senderSecret = secret
      return Buffer.concat([data, createHmac('sha256', secret).update(data).digest()])
    }, { surbs })
    await waitUntil(() => replies.length === 1)
    const m = got[0] as MixInternalMessage
    expect(hex(m.exitSecret)).toBe(hex(senderSecret as Uint8Array))
    expect(hex(m.data.subarray(0, 200))).toBe(hex(data))
    expect(hex(m.data.subarray(200))).toBe(hex(createHmac('sha256', m.exitSecret).update(data).digest()))
    expect(m.surbs.map(hex)).toEqual(surbs.map(hex))
    const reply = replies[0] as { message: Uint8Array, replyKey: Uint8Array }
    expect(reply.message.length).toBe(3968)
    expect(hex(reply.message.subarray(0, 32))).toBe(hex(createHmac('sha256', senderSecret as Uint8Array).update('ack').digest()))
    expect(reply.message.subarray(32).every(b => b === 0)).toBe(true)
    // The reply key handed over is the one in the SURB that was used (its last 16 bytes).
    expect(hex(reply.replyKey)).toBe(hex((surbs[0] as Uint8Array).subarray(718)))
    expect(A.services.mix.getStats().storedSurbs).toBe(1)
    A.services.mix.dropSurbs('g1')
    expect(A.services.mix.getStats().storedSurbs).toBe(0)
    // The dropped SURB no longer leads anywhere: its reply is refused at A with a typed error.
    const before = A.services.mix.getStats().rejected.ERR_MIX_UNKNOWN_SURB ?? 0
    await X.services.mix.sendViaSurb(surbs[1] as Uint8Array, new Uint8Array(10))
    await waitUntil(() => (A.services.mix.getStats().rejected.ERR_MIX_UNKNOWN_SURB ?? 0) > before)
    X.services.mix.unhandleInternal(CODEC)
  })

  it('refuses an internal message of more than one packet, a message too large for one, and itself as the exit', async () => {
    X.services.mix.handleInternal(CODEC, () => {})
    try {
      await expect(A.services.mix.sendToExit(infoOf(X), CODEC, new Uint8Array(4000))).rejects.toThrow(MixMessageTooLargeError)
      await expect(A.services.mix.sendToExit(infoOf(A), CODEC, new Uint8Array(1))).rejects.toThrow(MixUnroutableDestinationError)
      const before = X.services.mix.getStats().rejected.ERR_MIX_BAD_FRAGMENT ?? 0
      await A.services.mix.send(X.peerId, CODEC, randomBytes(9000), { exitIsDestination: true })
      await waitUntil(() => (X.services.mix.getStats().rejected.ERR_MIX_BAD_FRAGMENT ?? 0) >= before + 3)
    } finally {
      X.services.mix.unhandleInternal(CODEC)
    }
  })

  it('a node that is the first hop of a SURB it uses processes the reply packet itself', async () => {
    const B = net.nodes[2] as MixNode
    const C = net.nodes[3] as MixNode
    const others = net.nodes.filter(n => n !== A && n !== B && n !== C).map(n => n.peerId)
    const replies: Uint8Array[] = []
    // Return paths through B and C only, so B is the first hop of about half of them. All 8 on one first hop happens
    // once in 128 draws: such a batch is dropped and drawn again.
    let surbs: Uint8Array[] = []
    for (let draw = 0; draw < 5; draw++) {
      A.services.mix.dropSurbs('g2')
      surbs = A.services.mix.createSurbs(8, { group: 'g2', exclude: others, onReply: (message) => { replies.push(message) } })
      if (new Set(surbs.map(s => hex(s.subarray(0, 94)))).size === 2) break
    }
    expect(new Set(surbs.map(s => hex(s.subarray(0, 94)))).size).toBe(2)
    await Promise.all(surbs.map(async (s, i) => { await B.services.mix.sendViaSurb(s, Uint8Array.of(i)) }))
    await waitUntil(() => replies.length === 8)
    expect(replies.map(r => r[0]).sort((a, b) => (a as number) - (b as number))).toEqual([0, 1, 2, 3, 4, 5, 6, 7])
  })
})
