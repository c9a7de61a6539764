import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import type { Libp2p } from 'libp2p'
import {
  MixDeliveryFailedError, MixDuplicateHandlerError, MixMessageTooLargeError, MixNotEnoughNodesError,
  MixReplyTimeoutError, MixUnroutableDestinationError
} from '../../../src/net/mix/index.ts'
import type { MixIncomingMessage } from '../../../src/net/mix/index.ts'
import { streamChunks } from '../../../src/net/streams/index.ts'
import { FAST, nextEvent, startMixNet, waitUntil } from './helpers.ts'
import type { MixNet, MixNode } from './helpers.ts'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

/** Nodes 0..6: A = 0 sends, B = 6 receives, 1..5 relay. */
let net: MixNet
let A: MixNode
let B: MixNode
let plain: Libp2p

beforeAll(async () => {
  net = await startMixNet(7)
  A = net.nodes[0] as MixNode
  B = net.nodes[6] as MixNode
  plain = await createLibp2p({ addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
})

afterAll(async () => {
  await net?.stop()
  await plain?.stop()
})

describe('mix service over real libp2p nodes (TCP loopback)', () => {
  it('delivers a fire-and-forget message through 3 mix nodes to a handler on the destination', async () => {
    const received: MixIncomingMessage[] = []
    await B.services.mix.handle('/test/send/1', (m) => { received.push(m) })
    const data = randomBytes(2000)
    await A.services.mix.send(B.peerId, '/test/send/1', data)
    await waitUntil(() => received.length === 1)
    expect(hex((received[0] as MixIncomingMessage).data)).toBe(hex(data))
    expect((received[0] as MixIncomingMessage).protocol).toBe('/test/send/1')
    await expect(B.services.mix.handle('/test/send/1', () => {})).rejects.toThrow(MixDuplicateHandlerError)
  })

  it('delivers a burst of 200 messages: exits queue their deliveries instead of dropping them', async () => {
    const got = new Set<number>()
    await B.services.mix.handle('/test/burst/1', ({ data }) => { got.add((data[0] as number) * 256 + (data[1] as number)) })
    await Promise.all(Array.from({ length: 200 }, async (_, i) => { await A.services.mix.send(B.peerId, '/test/burst/1', Uint8Array.of(i >> 8, i & 0xff)) }))
    await waitUntil(() => got.size === 200, 30_000)
    for (const n of net.nodes) expect(n.services.mix.getStats().rejected).toEqual({})
  })

  it('answers a request through a SURB (3 hops out, 3 back)', async () => {
    await B.services.mix.handle('/test/echo/1', ({ data }) => Uint8Array.from(data).reverse())
    const data = randomBytes(500)
    const reply = await A.services.mix.request(B.peerId, '/test/echo/1', data)
    expect(hex(reply)).toBe(hex(Uint8Array.from(data).reverse()))
    expect(A.services.mix.getStats().storedSurbs).toBe(0)
  })

  it('carries a request and its reply over 5 hops', async () => {
    const five = await startMixNet(8, { ...FAST, pathLength: 5 })
    try {
      const [a, b] = [five.nodes[0] as MixNode, five.nodes[7] as MixNode]
      await b.services.mix.handle('/test/echo/1', ({ data }) => data)
      const data = randomBytes(64)
      expect(hex(await a.services.mix.request(b.peerId, '/test/echo/1', data))).toBe(hex(data))
      // Five distinct relays (four intermediaries and the exit) on the way out, b among them or not; five packet
      // receptions more on the way back (four intermediaries, then a). With three hops these would be 3 and 6.
      const stats = five.nodes.map(n => n.services.mix.getStats().received)
      expect(stats.slice(1).filter(r => r > 0).length).toBeGreaterThanOrEqual(5)
      expect(stats.reduce((x, y) => x + y, 0)).toBeGreaterThanOrEqual(10)
    } finally {
      await five.stop()
    }
  })

  it('fragments a large message and reassembles it at the exit', async () => {
    let got: Uint8Array | undefined
    await B.services.mix.handle('/test/big/1', ({ data }) => { got = data })
    const data = randomBytes(60_000) // 16 fragments
    await A.services.mix.send(B.peerId, '/test/big/1', data)
    await waitUntil(() => got !== undefined)
    expect(hex(got as Uint8Array)).toBe(hex(data))
  })

  it('brings a large reply back over several SURBs', async () => {
    const big = randomBytes(10_000)
    await B.services.mix.handle('/test/bigreply/1', () => big)
    const reply = await A.services.mix.request(B.peerId, '/test/bigreply/1', new Uint8Array([1]), { surbs: 3 })
    expect(hex(reply)).toBe(hex(big))
  })

  it('reports a reply too large for the SURBs as a typed error', async () => {
    await B.services.mix.handle('/test/toolarge/1', () => randomBytes(5000))
    await expect(A.services.mix.request(B.peerId, '/test/toolarge/1', new Uint8Array([1]), { surbs: 1 })).rejects.toThrow(MixDeliveryFailedError)
  })

  it('delivers to a destination that does not run the mix protocol at all', async () => {
    await plain.handle('/test/plain/1', async (stream) => {
      const chunks: Uint8Array[] = []
      for await (const c of streamChunks(stream)) chunks.push(c)
      stream.send(new TextEncoder().encode(`got ${Buffer.concat(chunks).length} bytes`))
      await stream.close()
    })
    const reply = await A.services.mix.request(plain.getMultiaddrs()[0] as never, '/test/plain/1', randomBytes(321))
    expect(new TextDecoder().decode(reply)).toBe('got 321 bytes')
  })

  it('tells the sender when the destination has no handler for the protocol', async () => {
    const err = await A.services.mix.request(plain.getMultiaddrs()[0] as never, '/test/nothing/1', new Uint8Array([1])).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(MixDeliveryFailedError)
    expect((err as MixDeliveryFailedError).data.status).toBe('noHandler')
  })

  it('has the exit report a fire-and-forget message it could not deliver', async () => {
    // The exit is whichever mix node the path ends at, B included: every node listens.
    const failed = Promise.any(net.nodes.map(async n => await nextEvent(n.services.mix, 'packet:rejected', d => d.code === 'ERR_MIX_DELIVERY_FAILED')))
    await A.services.mix.send(plain.getMultiaddrs()[0] as never, '/test/nowhere/1', new Uint8Array([1]))
    expect(((await failed).error as MixDeliveryFailedError).data.status).toBe('noHandler')
  })

  it('can make the destination itself the exit (mix.md 9.3)', async () => {
    await B.services.mix.handle('/test/direct/1', ({ data }) => data)
    const data = randomBytes(50)
    const reply = await A.services.mix.request(B.peerId, '/test/direct/1', data, { exitIsDestination: true })
    expect(hex(reply)).toBe(hex(data))
    // A message for a protocol with no handler at an exit-destination becomes a 'message' event there.
    const event = nextEvent(B.services.mix, 'message', d => d.protocol === '/test/event/1')
    await A.services.mix.send(B.peerId, '/test/event/1', new Uint8Array([7]), { exitIsDestination: true })
    expect(hex((await event).data)).toBe('07')
  })

  it('refuses what it cannot do with typed errors', async () => {
    await expect(A.services.mix.send(A.peerId, '/x', new Uint8Array(1))).rejects.toThrow(MixUnroutableDestinationError)
    await expect(A.services.mix.send(B.peerId, '/x', new Uint8Array(300 * 1024))).rejects.toThrow(MixMessageTooLargeError)
    await expect(A.services.mix.send(plain.peerId, '/x', new Uint8Array(1), { exitIsDestination: true })).rejects.toThrow(MixUnroutableDestinationError)
    const lonely = await startMixNet(2)
    try {
      const [x, y] = lonely.nodes as [MixNode, MixNode]
      await expect(x.services.mix.send(y.peerId, '/x', new Uint8Array(1))).rejects.toThrow(MixNotEnoughNodesError)
    } finally {
      await lonely.stop()
    }
  })

  it('sends a fragment again on another path when its first hop is gone, and leaves that node out afterwards', async () => {
    // Path length 2 with the destination as exit: the one intermediate hop is the first hop, drawn from {dead, live}.
    const small = await startMixNet(4, { ...FAST, pathLength: 2 })
    try {
      const [a, dead, live, b] = small.nodes as [MixNode, MixNode, MixNode, MixNode]
      const got: number[] = []
      await b.services.mix.handle('/test/retry/1', ({ data }) => { got.push(data[0] as number) })
      await dead.stop()
      // Send until a path drew the dead node first (each send does with probability 1/2): every send still succeeds.
      let sent = 0
      while (a.services.mix.getStats().unreachableNodes === 0 && sent < 30) {
        await a.services.mix.send(b.peerId, '/test/retry/1', Uint8Array.of(sent), { exitIsDestination: true })
        sent++
      }
      expect(a.services.mix.getStats().unreachableNodes).toBe(1)
      for (let i = 0; i < 3; i++) await a.services.mix.send(b.peerId, '/test/retry/1', Uint8Array.of(sent++), { exitIsDestination: true })
      await waitUntil(() => got.length === sent)
      expect(got.sort((x, y) => x - y)).toEqual(Array.from({ length: sent }, (_, i) => i))
      expect(live.services.mix.getStats().received).toBe(sent)
    } finally {
      await small.stop()
    }
  })

  it('serves its handlers again after a stop and a start', async () => {
    const again = await startMixNet(5)
    try {
      const [a, b] = [again.nodes[0] as MixNode, again.nodes[4] as MixNode]
      await b.services.mix.handle('/test/restart/1', ({ data }) => data)
      await b.stop()
      await b.start()
      again.announce(b) // a new mix key after the restart
      const data = randomBytes(20)
      expect(hex(await a.services.mix.request(b.peerId, '/test/restart/1', data))).toBe(hex(data))
    } finally {
      await again.stop()
    }
  })

  it('times a request out when nobody answers', async () => {
    await B.services.mix.handle('/test/slow/1', async () => await new Promise<Uint8Array>(resolve => setTimeout(() => { resolve(new Uint8Array(1)) }, 3000)))
    await expect(A.services.mix.request(B.peerId, '/test/slow/1', new Uint8Array(1), { timeoutMs: 500 })).rejects.toThrow(MixReplyTimeoutError)
    expect(A.services.mix.getStats().pendingRequests).toBe(0)
  })
})

