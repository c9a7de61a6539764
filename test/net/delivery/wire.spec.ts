import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  DeliveryContentTopicError, DeliveryDecodeError, DeliveryMembershipError, DeliveryMessageTooLargeError,
  DeliveryInvalidMessageError, MAX_MESSAGE_BYTES, ProtoReader, ProtoWriter, autoshard, checkWakuMessage,
  decodeLightPushRequest, decodeLightPushResponse, decodeMembership, decodeRateLimitProof, decodeStoreQueryRequest,
  decodeStoreQueryResponse, decodeWakuMessage, encodeJoin, encodeLightPushRequest, encodeLightPushResponse,
  encodeRateLimitProof, encodeSlashing, encodeSnapshot, encodeStoreQueryRequest, encodeStoreQueryResponse,
  encodeWakuMessage, fromZerokitProof, generateRegistrarKey, messageHash, parseContentTopic, parsePubsubTopic,
  pubsubTopic, rlnSignal, shardOf, toZerokitProof
} from '../../../src/net/delivery/index.ts'
import type { WakuMessage } from '../../../src/net/delivery/index.ts'

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/^0x/, ''), 'hex'))
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)

const messageArb: fc.Arbitrary<WakuMessage> = fc.record({
  payload: fc.uint8Array({ maxLength: 300 }),
  contentTopic: fc.string({ minLength: 1, maxLength: 60 }),
  version: fc.option(fc.nat({ max: 0xffffffff }), { nil: undefined }),
  timestamp: fc.option(fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }), { nil: undefined }),
  meta: fc.option(fc.uint8Array({ maxLength: 64 }), { nil: undefined }),
  proof: fc.option(fc.uint8Array({ maxLength: 400 }), { nil: undefined }),
  ephemeral: fc.option(fc.boolean(), { nil: undefined })
}, { requiredKeys: ['payload', 'contentTopic'] })

describe('WakuMessage (14/WAKU2-MESSAGE)', () => {
  it('hashes as the spec vectors say (meta of 12 and 64 bytes, no meta, empty payload)', () => {
    const base = { payload: hex('010203045445535405060708'), contentTopic: '/waku/2/default-content/proto', timestamp: 0x175789bfa23f8400n }
    const topic = '/waku/2/default-waku/proto'
    expect(toHex(messageHash(topic, { ...base, meta: hex('73757065722d736563726574') }))).toBe('64cce733fed134e83da02b02c6f689814872b1a0ac97ea56b76095c3c72bfe05')
    const meta64 = Uint8Array.from({ length: 64 }, (_, i) => i)
    expect(toHex(messageHash(topic, { ...base, meta: meta64 }))).toBe('7158b6498753313368b9af8f6e0a0a05104f68f972981da42a43bc53fb0c1b27')
    expect(toHex(messageHash(topic, base))).toBe('a2554498b31f5bcdfcbf7fa58ad1c2d45f0254f3f8110a85588ec3cf10720fd8')
    expect(toHex(messageHash(topic, { ...base, payload: new Uint8Array(0), meta: hex('73757065722d736563726574') }))).toBe('483ea950cb63f9b9d6926b262bb36194d3f40a0463ce8446228350bd44e96de4')
  })

  it('encodes field by field as proto3 does (tags 1, 2, 3, 10 zigzag, 11, 21, 31)', () => {
    const bytes = encodeWakuMessage({ payload: Uint8Array.of(1, 2), contentTopic: '/a/1/b/c', version: 1, timestamp: -1n, meta: Uint8Array.of(9), proof: Uint8Array.of(7), ephemeral: true })
    expect(toHex(bytes)).toBe('0a020102' + '1208' + toHex(utf8('/a/1/b/c')) + '1801' + '5001' + '5a0109' + 'aa010107' + 'f80101')
  })

  it('decodes what it encodes, for any message', () => {
    fc.assert(fc.property(messageArb, (m) => {
      const back = decodeWakuMessage(encodeWakuMessage(m))
      expect(back.payload).toEqual(m.payload)
      expect(back.contentTopic).toBe(m.contentTopic)
      expect(back.version).toBe(m.version)
      expect(back.timestamp).toBe(m.timestamp)
      expect(back.meta).toEqual(m.meta)
      expect(back.proof).toEqual(m.proof)
      expect(back.ephemeral).toBe(m.ephemeral)
    }))
  })

  it('skips unknown fields and refuses broken framing with ERR_DLV_DECODE', () => {
    const w = new ProtoWriter().string(2, '/a/1/b/c').uint32(99, 5).bytes(100, Uint8Array.of(1, 2, 3))
    expect(decodeWakuMessage(w.finish()).contentTopic).toBe('/a/1/b/c')
    const good = encodeWakuMessage({ payload: Uint8Array.of(1, 2, 3), contentTopic: '/a/1/b/c' })
    for (let cut = 1; cut < good.length; cut++) {
      if (cut === 5) continue // a cut right after the payload field is itself a valid message
      expect(() => decodeWakuMessage(good.subarray(0, cut))).toThrow(DeliveryDecodeError)
    }
    expect(() => decodeWakuMessage(Uint8Array.of(0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01))).toThrow(DeliveryDecodeError)
    expect(() => decodeWakuMessage(Uint8Array.of(0x00, 0x01))).toThrow(/field number 0/)
    expect(() => decodeWakuMessage(Uint8Array.of(0x0b))).toThrow(/wire type 3/)
    expect(() => decodeWakuMessage(Uint8Array.of(0x12, 0x02, 0xff, 0xfe))).toThrow(/UTF-8/)
  })

  it('never throws anything but ERR_DLV_DECODE on random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      try {
        decodeWakuMessage(bytes)
      } catch (err) {
        expect(err).toBeInstanceOf(DeliveryDecodeError)
      }
    }))
  })

  it('checks size, meta and content topic', () => {
    const m = { payload: new Uint8Array(10), contentTopic: '/a/1/b/c' }
    expect(() => checkWakuMessage(m, MAX_MESSAGE_BYTES + 1)).toThrow(DeliveryMessageTooLargeError)
    expect(() => checkWakuMessage({ ...m, meta: new Uint8Array(65) }, 100)).toThrow(DeliveryInvalidMessageError)
    expect(() => checkWakuMessage({ ...m, contentTopic: '' }, 100)).toThrow(DeliveryInvalidMessageError)
    checkWakuMessage({ ...m, meta: new Uint8Array(64) }, MAX_MESSAGE_BYTES)
  })

  it('signs payload || content topic || timestamp (u64 little-endian) for RLN', () => {
    const s = rlnSignal({ payload: Uint8Array.of(0xaa), contentTopic: '/x/1/y/z', timestamp: 0x0102030405060708n })
    expect(toHex(s)).toBe('aa' + toHex(utf8('/x/1/y/z')) + '0807060504030201')
  })
})

describe('topics and autosharding (relay-sharding.md)', () => {
  it('puts myapp/1 on shard 0 of 8, as the spec example computes', () => {
    expect(shardOf('/myapp/1/mytopic/cbor', 8)).toBe(0)
    expect(shardOf('/0/myapp/1/mytopic/cbor', 8)).toBe(0)
    expect(autoshard('/myapp/1/other-name/proto', 1, 8)).toBe('/waku/2/rs/1/0')
  })

  it('routes by application and version only, and spreads applications over the shards', () => {
    fc.assert(fc.property(fc.stringMatching(/^[a-z]{1,8}$/), fc.stringMatching(/^[a-z]{1,8}$/), fc.integer({ min: 1, max: 64 }), (name1, name2, n) => {
      expect(shardOf(`/app/1/${name1}/proto`, n)).toBe(shardOf(`/app/1/${name2}/json`, n))
    }))
    const shards = new Set(Array.from({ length: 64 }, (_, i) => shardOf(`/app${i}/1/t/proto`, 8)))
    expect(shards.size).toBe(8)
  })

  it('refuses malformed content and pubsub topics with typed errors', () => {
    for (const bad of ['', 'noslash', '/a/b/c', '/a/1//proto', '/1/a/1/b/proto', '/x/a/1/b/proto', '/a/1/b/c/d/e']) {
      expect(() => parseContentTopic(bad)).toThrow(DeliveryContentTopicError)
    }
    expect(parsePubsubTopic('/waku/2/rs/16/43')).toEqual({ clusterId: 16, shard: 43 })
    expect(() => parsePubsubTopic('/waku/2/default-waku/proto')).toThrow(/waku\/2\/rs/)
    expect(() => pubsubTopic(1, 1024)).toThrow(/shard/)
    expect(() => pubsubTopic(70000, 1)).toThrow(/cluster/)
  })
})

describe('RateLimitProof (RLN relay v2)', () => {
  const field = fc.uint8Array({ minLength: 32, maxLength: 32 })
  const proofArb = fc.record({ proof: fc.uint8Array({ minLength: 128, maxLength: 128 }), merkleRoot: field, epoch: field, shareX: field, shareY: field, nullifier: field, rlnIdentifier: field })

  it('round-trips, and converts to and from the 288-byte library form', () => {
    fc.assert(fc.property(proofArb, (p) => {
      expect(decodeRateLimitProof(encodeRateLimitProof(p))).toEqual(p)
    }))
    const zk = Uint8Array.from({ length: 288 }, (_, i) => i & 0xff)
    const ext = new Uint8Array(32).fill(0xee)
    const wire = fromZerokitProof(zk, 12345n, new Uint8Array(32).fill(7))
    const back = toZerokitProof(decodeRateLimitProof(encodeRateLimitProof(wire)), zk.slice(160, 192))
    expect(back).toEqual(zk)
    expect(toZerokitProof(wire, ext).subarray(160, 192)).toEqual(ext)
  })

  it('refuses missing, repeated, unknown or wrongly sized fields', () => {
    const p = { proof: new Uint8Array(128), merkleRoot: new Uint8Array(32), epoch: new Uint8Array(32), shareX: new Uint8Array(32), shareY: new Uint8Array(32), nullifier: new Uint8Array(32), rlnIdentifier: new Uint8Array(32) }
    const good = encodeRateLimitProof(p)
    expect(() => decodeRateLimitProof(good.subarray(0, good.length - 34))).toThrow(/rlnIdentifier is missing/)
    const twice = new Uint8Array([...good, ...new ProtoWriter().bytes(2, new Uint8Array(32)).finish()])
    expect(() => decodeRateLimitProof(twice)).toThrow(/twice/)
    expect(() => decodeRateLimitProof(new Uint8Array([...good, ...new ProtoWriter().bytes(8, new Uint8Array(1)).finish()]))).toThrow(/unknown field 8/)
    expect(() => decodeRateLimitProof(new ProtoWriter().bytes(1, new Uint8Array(127)).finish())).toThrow(/128 bytes/)
  })
})

describe('store v3 and lightpush v3 payloads', () => {
  it('round-trip a store query and response', () => {
    const q = {
      requestId: 'r1', includeData: true, pubsubTopic: '/waku/2/rs/1/0', contentTopics: ['/a/1/b/c', '/a/1/d/c'], timeStart: -5n, timeEnd: 1n << 62n,
      messageHashes: [], paginationCursor: new Uint8Array(32).fill(3), paginationForward: true, paginationLimit: 50
    }
    expect(decodeStoreQueryRequest(encodeStoreQueryRequest(q))).toEqual(q)
    const msg = { payload: Uint8Array.of(1), contentTopic: '/a/1/b/c', timestamp: 10n }
    const r = { requestId: 'r1', statusCode: 200, statusDesc: 'OK', messages: [{ messageHash: new Uint8Array(32).fill(1), message: msg, pubsubTopic: '/waku/2/rs/1/0' }, { messageHash: new Uint8Array(32).fill(2) }], paginationCursor: new Uint8Array(32).fill(9) }
    const back = decodeStoreQueryResponse(encodeStoreQueryResponse(r))
    expect(back.messages[0]).toEqual({ messageHash: r.messages[0]?.messageHash, message: msg, pubsubTopic: '/waku/2/rs/1/0' })
    expect(back.messages[1]?.message).toBeUndefined()
    expect(back.paginationCursor).toEqual(r.paginationCursor)
  })

  it('refuses an entry with a message but no pubsub topic (13/WAKU2-STORE: both or neither)', () => {
    const entry = new ProtoWriter().bytes(1, new Uint8Array(32)).bytes(2, encodeWakuMessage({ payload: new Uint8Array(0), contentTopic: '/a/1/b/c' })).finish()
    const resp = new ProtoWriter().string(1, 'x').uint32(10, 200).bytes(20, entry).finish()
    expect(() => decodeStoreQueryResponse(resp)).toThrow(/set together/)
  })

  it('round-trip a lightpush request and response', () => {
    const req = { requestId: 'abc', pubsubTopic: '/waku/2/rs/1/3', message: { payload: Uint8Array.of(5), contentTopic: '/a/1/b/c', timestamp: 99n } }
    expect(decodeLightPushRequest(encodeLightPushRequest(req))).toEqual(req)
    const resp = { requestId: 'abc', statusCode: 503, statusDesc: 'no relay peers', relayPeerCount: 0 }
    expect(decodeLightPushResponse(encodeLightPushResponse(resp))).toEqual(resp)
  })

  it('a protobuf reader refuses a uint32 field that overflows', () => {
    const bytes = new ProtoWriter().uint64(10, 1n << 40n).finish()
    const r = new ProtoReader(bytes, 't')
    const f = r.next()
    expect(() => r.uint32(f as never)).toThrow(/uint32/)
  })
})

describe('membership registry messages', () => {
  it('signs snapshots and refuses a tampered one', () => {
    const { secretKey, publicKey } = generateRegistrarKey()
    const members = [{ commitment: new Uint8Array(32).fill(1), userMessageLimit: 10, removed: false }, { commitment: new Uint8Array(32).fill(2), userMessageLimit: 3, removed: true }]
    const bytes = encodeSnapshot(7n, members, secretKey)
    const m = decodeMembership(bytes)
    expect(m).toMatchObject({ type: 'snapshot', seq: 7n, members, registrarKey: publicKey })
    const tampered = Uint8Array.from(bytes)
    tampered[20] = (tampered[20] as number) ^ 1
    expect(() => decodeMembership(tampered)).toThrow(DeliveryMembershipError)
    expect(decodeMembership(encodeJoin(new Uint8Array(32).fill(4), 5))).toEqual({ type: 'join', commitment: new Uint8Array(32).fill(4), userMessageLimit: 5 })
    expect(decodeMembership(encodeSlashing('{"a":1}'))).toEqual({ type: 'slashing', evidenceJson: '{"a":1}' })
    expect(() => decodeMembership(Uint8Array.of(2, 1))).toThrow(/version/)
    expect(() => decodeMembership(Uint8Array.of(1, 9))).toThrow(/unknown type/)
  })
})
