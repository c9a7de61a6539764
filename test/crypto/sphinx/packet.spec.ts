import { createPublicKey, diffieHellman, randomBytes } from 'node:crypto'
import { multiaddr } from '@multiformats/multiaddr'
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  HEADER_LENGTH, MESSAGE_LENGTH, PACKET_LENGTH, REPLY_STATUS, SphinxError, SphinxInvalidPointError, SphinxLengthError,
  SphinxMacError, SphinxPathError, SphinxPayloadIntegrityError, SphinxReplayError, buildPacket, createSurb,
  decodeAddress, decodeForwardMessage, decodeReplyMessage, decodeSurb, encodeAddress, encodeForwardMessage,
  encodeReplyMessage, encodeSurb, importScalar, isCanonicalPoint, isSmallOrderPoint, isZeroAddress, processPacket,
  recoverReply, useSurb
} from '../../../src/crypto/sphinx/index.ts'
import type { ProcessResult } from '../../../src/crypto/sphinx/index.ts'
import { hex, memoryReplayGuard, testNodes } from './helpers.ts'
import type { TestNode } from './helpers.ts'
import { refProcess } from './reference.ts'

let nodes: TestNode[]
let dest: Uint8Array

beforeAll(async () => {
  nodes = await testNodes(7)
  dest = encodeAddress((nodes[6] as TestNode).peerId, multiaddr('/ip4/10.1.2.3/tcp/9999'))
})

/** 1/u mod 2^255 - 19 for a little-endian u: the u-coordinate of the point plus the point of order 2. */
function invertMod25519 (u: Uint8Array): Uint8Array {
  const p = (1n << 255n) - 19n
  let x = 0n
  for (let i = 31; i >= 0; i--) x = (x << 8n) | BigInt(u[i] as number)
  let result = 1n
  let base = x % p
  for (let e = p - 2n; e > 0n; e >>= 1n) {
    if ((e & 1n) === 1n) result = (result * base) % p
    base = (base * base) % p
  }
  const out = new Uint8Array(32)
  for (let i = 0; i < 32; i++) out[i] = Number((result >> BigInt(8 * i)) & 0xffn)
  return out
}

function message (data: Uint8Array, codec = '/test/1.0.0'): Uint8Array {
  return encodeForwardMessage({ codec, surbs: [], fragment: { messageId: randomBytes(8), index: 0, count: 1 }, data })
}

function build (path: TestNode[], m: Uint8Array, destination = dest, delays?: number[]): Uint8Array {
  return buildPacket({
    hops: path.map(n => n.hop),
    delays: delays ?? path.slice(1).map((_, i) => 10 + i),
    exit: { destination },
    ephemeral: randomBytes(32),
    message: m
  }).packet
}

function route (path: TestNode[], packet: Uint8Array): ProcessResult[] {
  const out: ProcessResult[] = []
  let p = packet
  for (const n of path) {
    const r = processPacket(p, [n.key])
    out.push(r)
    if (r.type === 'forward') p = r.packet
  }
  return out
}

describe('Sphinx packets (mix.md 8.5, 8.6)', () => {
  for (const L of [3, 5]) {
    it(`carries a message over ${L} hops, each hop learning only the next`, () => {
      const path = nodes.slice(0, L)
      const data = randomBytes(1000)
      const packet = build(path, message(data))
      expect(packet.length).toBe(PACKET_LENGTH)
      const results = route(path, packet)
      results.slice(0, -1).forEach((r, i) => {
        expect(r.type).toBe('forward')
        if (r.type !== 'forward') return
        expect(decodeAddress(r.nextHop).peerId.equals((path[i + 1] as TestNode).peerId)).toBe(true)
        expect(r.delayMs).toBe(10 + i)
        expect(r.packet.length).toBe(PACKET_LENGTH)
      })
      const last = results[L - 1] as ProcessResult
      expect(last.type).toBe('exit')
      if (last.type !== 'exit') return
      expect(hex(last.destination)).toBe(hex(dest))
      const msg = decodeForwardMessage(last.message)
      expect(msg.codec).toBe('/test/1.0.0')
      expect(hex(msg.data)).toBe(hex(data))
    })
  }

  it('each hop agrees byte for byte with a literal pure-JS implementation of mix.md 8.6', () => {
    const path = nodes.slice(0, 4)
    let p = build(path, message(randomBytes(3000)))
    for (const n of path) {
      const ours = processPacket(p, [n.key])
      const ref = refProcess(p, n.privateKey)
      if (ours.type === 'forward') {
        expect(ref.type).toBe('forward')
        if (ref.type !== 'forward') return
        expect(hex(ours.packet)).toBe(hex(ref.packet))
        expect(hex(ours.nextHop)).toBe(hex(ref.nextHop))
        p = ours.packet
      } else {
        expect(ref.type).toBe('exit')
        if (ref.type !== 'exit' || ours.type !== 'exit') return
        expect(hex(ours.message)).toBe(hex(ref.payload.subarray(16)))
      }
    }
  })

  it('the exit learns s, its shared secret with the sender (what exit-handled protocols key their MACs with)', () => {
    const path = nodes.slice(0, 3)
    const { packet, secrets } = buildPacket({ hops: path.map(n => n.hop), delays: [10, 11], exit: { destination: dest }, ephemeral: randomBytes(32), message: message(randomBytes(10)) })
    const last = route(path, packet)[2] as ProcessResult
    expect(last.type).toBe('exit')
    if (last.type !== 'exit') return
    expect(hex(last.secret)).toBe(hex(secrets[2] as Uint8Array))
    expect(hex(last.secret)).not.toBe(hex(secrets[1] as Uint8Array))
  })

  it('a zero destination means delivery at the exit', () => {
    const path = nodes.slice(0, 3)
    const results = route(path, build(path, message(randomBytes(10)), new Uint8Array(94)))
    const last = results[2] as ProcessResult
    expect(last.type === 'exit' && isZeroAddress(last.destination)).toBe(true)
  })

  it('drops a tampered header at the next hop (bad MAC)', () => {
    const path = nodes.slice(0, 3)
    const packet = build(path, message(randomBytes(10)))
    for (const offset of [32, 32 + 300, 32 + 575, HEADER_LENGTH - 1]) {
      const t = Uint8Array.from(packet)
      t[offset] = (t[offset] as number) ^ 1
      expect(() => processPacket(t, [(path[0] as TestNode).key])).toThrow(SphinxMacError)
    }
    // Tampering after the first hop is caught by the second.
    const first = processPacket(packet, [(path[0] as TestNode).key])
    if (first.type !== 'forward') throw new Error('expected forward')
    const t = Uint8Array.from(first.packet)
    t[40] = (t[40] as number) ^ 0x80
    expect(() => processPacket(t, [(path[1] as TestNode).key])).toThrow(SphinxMacError)
  })

  it('detects a tampered payload at the exit (LIONESS integrity prefix)', () => {
    const path = nodes.slice(0, 3)
    fc.assert(fc.property(fc.integer({ min: HEADER_LENGTH, max: PACKET_LENGTH - 1 }), fc.integer({ min: 1, max: 255 }), (offset, x) => {
      const fresh = nodes.slice(0, 3).map(n => ({ ...n, key: { privateKey: n.key.privateKey, replay: memoryReplayGuard() } }))
      const packet = build(path, message(randomBytes(100)))
      packet[offset] = (packet[offset] as number) ^ x
      const a = processPacket(packet, [(fresh[0] as TestNode).key])
      if (a.type !== 'forward') throw new Error('expected forward')
      const b = processPacket(a.packet, [(fresh[1] as TestNode).key])
      if (b.type !== 'forward') throw new Error('expected forward')
      expect(() => processPacket(b.packet, [(fresh[2] as TestNode).key])).toThrow(SphinxPayloadIntegrityError)
    }), { numRuns: 20 })
  })

  it('drops a replay, including one with the ignored top bit of alpha flipped', () => {
    const path = nodes.slice(0, 3)
    const packet = build(path, message(randomBytes(10)))
    processPacket(packet, [(path[0] as TestNode).key])
    expect(() => processPacket(packet, [(path[0] as TestNode).key])).toThrow(SphinxReplayError)
    const flipped = Uint8Array.from(packet)
    flipped[31] = (flipped[31] as number) | 0x80
    expect(() => processPacket(flipped, [(path[0] as TestNode).key])).toThrow(SphinxInvalidPointError)
  })

  it('catches at the tag check a replay whose alpha is another encoding of the same shared secret: the tag is H(s)', () => {
    const n = nodes[0] as TestNode
    const packet = build([n, nodes[1] as TestNode, nodes[2] as TestNode], message(randomBytes(10)))
    const alpha = packet.subarray(0, 32)
    const secret = (u: Uint8Array): Buffer => diffieHellman({
      privateKey: n.key.privateKey,
      publicKey: createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(u).toString('base64url') }, format: 'jwk' })
    })
    // X25519 ignores alpha's top bit (RFC 7748): the flipped encoding shares the secret, hence the tag H(s). The
    // relay refuses it earlier, as a non-canonical point (above).
    const flipped = Uint8Array.from(alpha)
    flipped[31] = (flipped[31] as number) | 0x80
    expect(hex(secret(flipped))).toBe(hex(secret(alpha)))
    expect(isCanonicalPoint(flipped)).toBe(false)

    // alpha plus the point of order 2 (u = 0) is u -> 1/u mod p: canonical and of large order, so it passes the
    // point check, and the clamped scalar (a multiple of 8) kills the order-2 part, so the secret is the same too.
    const twin = Uint8Array.from(packet)
    twin.set(invertMod25519(alpha), 0)
    expect(isCanonicalPoint(twin.subarray(0, 32))).toBe(true)
    expect(isSmallOrderPoint(twin.subarray(0, 32))).toBe(false)
    expect(hex(twin.subarray(0, 32))).not.toBe(hex(alpha))
    expect(hex(secret(twin.subarray(0, 32)))).toBe(hex(secret(alpha)))
    // On its own the twin passes the MAC (beta and gamma are the original's): only the replay tag can stop it.
    expect(processPacket(twin, [{ privateKey: n.key.privateKey, replay: memoryReplayGuard() }]).type).toBe('forward')
    // After the original, the twin reaches the tag check and is refused as a replay. With nim's tag H(alpha || s)
    // its tag would differ, it would be forwarded, and an observer could link the relay's input and output.
    const seen = new Set<string>()
    const key = { privateKey: n.key.privateKey, replay: memoryReplayGuard(seen) }
    const first = processPacket(packet, [key])
    expect(seen).toEqual(new Set([hex(first.tag)]))
    expect(() => processPacket(twin, [key])).toThrow(SphinxReplayError)
    expect(seen.size).toBe(1)
  })

  it('stores the replay tag only after the MAC verified', () => {
    const n = nodes[0] as TestNode
    const key = { privateKey: n.key.privateKey, replay: memoryReplayGuard() }
    const packet = build([n, nodes[1] as TestNode, nodes[2] as TestNode], message(randomBytes(10)))
    const forged = Uint8Array.from(packet)
    forged[100] = (forged[100] as number) ^ 1
    expect(() => processPacket(forged, [key])).toThrow(SphinxMacError)
    expect(processPacket(packet, [key]).type).toBe('forward')
  })

  it('processes with an older key during its grace period (key rotation)', () => {
    const [a, b, c] = nodes as [TestNode, TestNode, TestNode]
    const packet = build([a, b, c], message(randomBytes(10)))
    const newKey = { privateKey: importScalar(randomBytes(32)), replay: memoryReplayGuard() }
    const oldKey = { privateKey: a.key.privateKey, replay: memoryReplayGuard() }
    const r = processPacket(packet, [newKey, oldKey])
    expect(r.keyIndex).toBe(1)
    expect(() => processPacket(packet, [newKey])).toThrow(SphinxMacError)
  })

  it('refuses bad paths with typed errors', () => {
    const path = nodes.slice(0, 3)
    const m = message(randomBytes(10))
    expect(() => build(path, m, dest, [0, 10])).toThrow(SphinxPathError)
    expect(() => build(path, m, dest, [10])).toThrow(SphinxPathError)
    expect(() => build(nodes.slice(0, 6), m)).toThrow(SphinxPathError)
    expect(() => build(path, m.subarray(1))).toThrow(SphinxLengthError)
  })

  it('never crashes on random or mutated input: every rejection is a SphinxError', () => {
    const key = (nodes[0] as TestNode).key
    const valid = build(nodes.slice(0, 3), message(randomBytes(50)))
    const mutation = fc.tuple(fc.integer({ min: 0, max: PACKET_LENGTH - 1 }), fc.integer({ min: 1, max: 255 }))
    const input = fc.oneof(
      fc.uint8Array({ minLength: 0, maxLength: 5000 }),
      fc.uint8Array({ minLength: PACKET_LENGTH, maxLength: PACKET_LENGTH }),
      fc.array(mutation, { minLength: 1, maxLength: 8 }).map(ms => {
        const p = Uint8Array.from(valid)
        for (const [o, x] of ms) p[o] = (p[o] as number) ^ x
        return p
      })
    )
    fc.assert(fc.property(input, (p) => {
      try {
        processPacket(p, [{ privateKey: key.privateKey, replay: memoryReplayGuard() }])
      } catch (err) {
        expect(err).toBeInstanceOf(SphinxError)
        expect((err as SphinxError).code).toMatch(/^ERR_SPHINX_/)
      }
    }), { numRuns: 300 })
  })
})

describe('SURBs (mix.md 8.7)', () => {
  function surbFor (creator: TestNode, returnPath: TestNode[]): ReturnType<typeof createSurb> {
    return createSurb({
      hops: [...returnPath, creator].map(n => n.hop),
      delays: returnPath.map(() => 5),
      id: randomBytes(16),
      replyKey: randomBytes(16),
      ephemeral: randomBytes(32)
    })
  }

  it('encodes to 734 bytes and back', () => {
    const [a, b, c] = nodes as [TestNode, TestNode, TestNode]
    const { surb } = surbFor(a, [b, c])
    const bytes = encodeSurb(surb)
    expect(bytes.length).toBe(734)
    const back = decodeSurb(bytes)
    expect(hex(back.header)).toBe(hex(surb.header))
    expect(hex(back.firstHop)).toBe(hex(b.address))
    expect(hex(back.replyKey)).toBe(hex(surb.replyKey))
  })

  it('carries a reply back to its creator, who alone can read it', () => {
    const [a, b, c] = nodes as [TestNode, TestNode, TestNode]
    const { surb, secrets } = surbFor(a, [b, c])
    const reply = randomBytes(2000)
    const packet = useSurb(decodeSurb(encodeSurb(surb)), encodeReplyMessage({ status: REPLY_STATUS.ok, index: 0, count: 1, data: reply }))
    expect(packet.length).toBe(PACKET_LENGTH)
    const results = route([b, c, a], packet)
    const last = results[2] as ProcessResult
    expect(last.type).toBe('reply')
    if (last.type !== 'reply') return
    expect(hex(last.surbId)).toBe(hex(secrets.id))
    const m = recoverReply(secrets, last.payload)
    expect(m.length).toBe(MESSAGE_LENGTH)
    expect(hex(decodeReplyMessage(m).data)).toBe(hex(reply))
    // A second use of the SURB is a replay at the first return hop.
    expect(() => processPacket(packet, [b.key])).toThrow(SphinxReplayError)
  })

  it('detects a tampered reply payload', () => {
    const [a, b, c] = nodes as [TestNode, TestNode, TestNode]
    const { surb, secrets } = surbFor(a, [b, c])
    const packet = useSurb(surb, encodeReplyMessage({ status: 0, index: 0, count: 1, data: randomBytes(10) }))
    packet[HEADER_LENGTH + 500] = (packet[HEADER_LENGTH + 500] as number) ^ 4
    const results = route([b, c, a], packet)
    const last = results[2] as ProcessResult
    if (last.type !== 'reply') throw new Error('expected reply')
    expect(() => recoverReply(secrets, last.payload)).toThrow(SphinxPayloadIntegrityError)
  })

  it('refuses an all-zero SURB identifier (it would read as a forward exit)', () => {
    const [a, b, c] = nodes as [TestNode, TestNode, TestNode]
    expect(() => createSurb({ hops: [b, c, a].map(n => n.hop), delays: [1, 1], id: new Uint8Array(16), replyKey: randomBytes(16), ephemeral: randomBytes(32) })).toThrow(SphinxPathError)
  })
})
