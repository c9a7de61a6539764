import { randomBytes } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  BODY_LENGTH, MESSAGE_LENGTH, REPLY_DATA_CAPACITY, SURB_LENGTH, SphinxAddressError, SphinxMalformedPayloadError,
  SphinxMessageTooLargeError, decodeAddress, decodeForwardMessage, decodeReplyMessage, encodeAddress,
  encodeForwardMessage, encodeReplyMessage, forwardDataCapacity, isZeroAddress, padMessage, unpadMessage
} from '../../../src/crypto/sphinx/index.ts'
import { hex } from './helpers.ts'

describe('hop addresses (mix.md 8.4)', () => {
  it('encodes ip4/tcp and ip4/udp/quic-v1 with Ed25519 and secp256k1 peer ids', async () => {
    for (const type of ['Ed25519', 'secp256k1'] as const) {
      const peer = peerIdFromPrivateKey(await generateKeyPair(type))
      for (const addr of ['/ip4/192.168.1.20/tcp/4001', '/ip4/1.2.3.4/udp/65535/quic-v1']) {
        const bytes = encodeAddress(peer, multiaddr(addr))
        expect(bytes.length).toBe(94)
        expect(hex(bytes.subarray(0, 4))).toBe(hex(Uint8Array.from(addr.split('/')[2]?.split('.').map(Number) ?? [])))
        const back = decodeAddress(bytes)
        expect(back.peerId.equals(peer)).toBe(true)
        expect(back.multiaddr.toString()).toBe(addr)
      }
    }
  })

  it('encodes a circuit-relay address with the relay first and the target second', async () => {
    const relay = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const target = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const bytes = encodeAddress(target, multiaddr(`/ip4/5.6.7.8/tcp/443/p2p/${relay.toString()}/p2p-circuit/p2p/${target.toString()}`))
    const back = decodeAddress(bytes)
    expect(back.peerId.equals(target)).toBe(true)
    expect(back.multiaddr.toString()).toBe(`/ip4/5.6.7.8/tcp/443/p2p/${relay.toString()}/p2p-circuit`)
  })

  it('accepts a sha2-256 (RSA-style) peer id', () => {
    const rsa = peerIdFromString('QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N')
    const back = decodeAddress(encodeAddress(rsa, multiaddr('/ip4/1.1.1.1/tcp/1')))
    expect(back.peerId.equals(rsa)).toBe(true)
  })

  it('refuses what does not fit, with typed errors', async () => {
    const peer = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const other = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    for (const addr of ['/ip6/::1/tcp/1', '/dns4/example.com/tcp/1', '/ip4/1.2.3.4/udp/1', '/ip4/1.2.3.4/tcp/1/ws', `/ip4/1.2.3.4/tcp/1/p2p/${other.toString()}`]) {
      expect(() => encodeAddress(peer, multiaddr(addr)), addr).toThrow(SphinxAddressError)
    }
  })

  it('decoding arbitrary bytes either gives an address or a typed error', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 94, maxLength: 94 }), (bytes) => {
      try {
        decodeAddress(bytes)
      } catch (err) {
        expect(err).toBeInstanceOf(SphinxAddressError)
      }
    }), { numRuns: 300 })
    expect(isZeroAddress(new Uint8Array(94))).toBe(true)
    expect(() => decodeAddress(new Uint8Array(93))).toThrow(SphinxAddressError)
  })
})

describe('the message inside the payload', () => {
  it('pads to 3968 bytes with the padding length in front', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: BODY_LENGTH }), (body) => {
      const m = padMessage(body)
      expect(m.length).toBe(MESSAGE_LENGTH)
      expect((m[0] as number) * 256 + (m[1] as number)).toBe(BODY_LENGTH - body.length)
      expect(hex(unpadMessage(m))).toBe(hex(body))
    }), { numRuns: 100 })
    expect(() => padMessage(new Uint8Array(BODY_LENGTH + 1))).toThrow(SphinxMessageTooLargeError)
  })

  it('round-trips forward fragments with codec and SURBs at full capacity', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), fc.integer({ min: 0, max: 4 }), fc.integer({ min: 1, max: 1000 }), (codec, surbCount, count) => {
      const capacity = forwardDataCapacity(codec, surbCount)
      const surbs = Array.from({ length: surbCount }, () => randomBytes(SURB_LENGTH))
      const msg = { codec, surbs, fragment: { messageId: randomBytes(8), index: count - 1, count }, data: randomBytes(capacity) }
      const back = decodeForwardMessage(encodeForwardMessage(msg))
      expect(back.codec).toBe(codec)
      expect(back.surbs.map(hex)).toEqual(surbs.map(hex))
      expect(back.fragment).toEqual({ messageId: Uint8Array.from(msg.fragment.messageId), index: count - 1, count })
      expect(hex(back.data)).toBe(hex(msg.data))
      expect(() => encodeForwardMessage({ ...msg, data: randomBytes(capacity + 1) })).toThrow(SphinxMessageTooLargeError)
    }), { numRuns: 60 })
  })

  it('uses a two-byte varint for codecs of 128 bytes or more', () => {
    const codec = '/' + 'x'.repeat(200)
    const m = encodeForwardMessage({ codec, surbs: [], fragment: { messageId: randomBytes(8), index: 0, count: 1 }, data: new Uint8Array(0) })
    expect(decodeForwardMessage(m).codec).toBe(codec)
  })

  it('round-trips replies', () => {
    const data = randomBytes(REPLY_DATA_CAPACITY)
    const back = decodeReplyMessage(encodeReplyMessage({ status: 3, index: 1, count: 2, data }))
    expect(back.status).toBe(3)
    expect(back.index).toBe(1)
    expect(hex(back.data)).toBe(hex(data))
  })

  it('decoding arbitrary bytes either gives a message or a typed error', () => {
    const arb = fc.uint8Array({ minLength: MESSAGE_LENGTH, maxLength: MESSAGE_LENGTH }).map(m => {
      // Bias towards small padding lengths so the parser goes deep.
      m[0] = 0
      return m
    })
    fc.assert(fc.property(arb, (m) => {
      for (const decode of [decodeForwardMessage, decodeReplyMessage]) {
        try {
          decode(m)
        } catch (err) {
          expect(err).toBeInstanceOf(SphinxMalformedPayloadError)
        }
      }
    }), { numRuns: 300 })
  })

  it('refuses non-zero padding, bad fragment numbers and non-minimal varints', () => {
    const m = padMessage(new Uint8Array(10))
    m[5] = 1
    expect(() => unpadMessage(m)).toThrow(SphinxMalformedPayloadError)
    const body = new Uint8Array([0x80, 0x00])
    expect(() => decodeForwardMessage(padMessage(body))).toThrow(SphinxMalformedPayloadError)
    expect(() => encodeReplyMessage({ status: 0, index: 2, count: 2, data: new Uint8Array(0) })).toThrow(SphinxMalformedPayloadError)
  })
})
