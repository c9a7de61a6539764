import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  InvalidMessageError, MAX_MESSAGE_SIZE, MessageType, NimMessageType, RegistrationStatus, decodeMessage, encodeMessage, messageKind
} from '../../../src/net/discovery/index.ts'
import type { DiscoveryMessage } from '../../../src/net/discovery/index.ts'

const bytes = (max: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: 1, maxLength: max })
const ticket = fc.record({
  advertisement: bytes(64),
  tInit: fc.integer({ min: 0, max: 2 ** 40 }),
  tMod: fc.integer({ min: 0, max: 2 ** 40 }),
  tWaitFor: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  signature: bytes(64)
})
const message: fc.Arbitrary<DiscoveryMessage> = fc.record({
  type: fc.constantFrom(6, 7, 16, 17),
  key: fc.option(bytes(32), { nil: undefined }),
  closerPeers: fc.array(fc.record({ id: bytes(38), addrs: fc.array(bytes(20), { maxLength: 3 }) }), { maxLength: 5 }),
  register: fc.option(fc.record({
    advertisement: fc.option(bytes(100), { nil: undefined }),
    status: fc.option(fc.constantFrom(0 as const, 1 as const, 2 as const), { nil: undefined }),
    ticket: fc.option(ticket, { nil: undefined })
  }, { requiredKeys: [] }), { nil: undefined }),
  getAds: fc.option(fc.record({ advertisements: fc.array(bytes(100), { maxLength: 5 }) }), { nil: undefined })
}, { requiredKeys: ['type', 'closerPeers'] })

function strip<T> (v: T): T {
  return JSON.parse(JSON.stringify(v, (_k, x: unknown) => x instanceof Uint8Array ? [...x] : x)) as T
}

describe('discovery message codec', () => {
  it('round-trips any message (property)', () => {
    fc.assert(fc.property(message, (m) => {
      expect(strip(decodeMessage(encodeMessage(m)))).toEqual(strip(m))
    }))
  })

  it('uses the spec numbers REGISTER = 6, GET_ADS = 7 and understands nim-libp2p\'s 16 and 17', () => {
    expect(MessageType).toEqual({ REGISTER: 6, GET_ADS: 7 })
    expect(messageKind(6)).toBe('register')
    expect(messageKind(7)).toBe('getAds')
    expect(messageKind(NimMessageType.REGISTER)).toBe('register')
    expect(messageKind(NimMessageType.GET_ADS)).toBe('getAds')
    expect(messageKind(4)).toBeUndefined()
  })

  it('writes the fields where the spec puts them (type 1, key 2, register 21, status 2 even when CONFIRMED)', () => {
    const enc = encodeMessage({ type: 6, key: new Uint8Array([9]), closerPeers: [], register: { status: RegistrationStatus.CONFIRMED } })
    // 08 06 | 12 01 09 | aa 01 02 10 00   (field 21 = tag 0xaa 0x01, length 2, status field 2 = 0x10, value 0)
    expect([...enc]).toEqual([0x08, 6, 0x12, 1, 9, 0xaa, 0x01, 2, 0x10, 0])
  })

  it('skips fields it does not know (a Kad-DHT record, providerPeers)', () => {
    const known = encodeMessage({ type: 7, key: new Uint8Array(32), closerPeers: [] })
    const extra = Uint8Array.from([...known, 0x1a, 2, 0x0a, 0, 0x4a, 2, 0x0a, 0])
    expect(decodeMessage(extra).type).toBe(7)
  })

  it('refuses malformed, typeless and oversized input with a typed error', () => {
    expect(() => decodeMessage(Uint8Array.from([0x0a, 0x10, 1]))).toThrow(InvalidMessageError)
    expect(() => decodeMessage(Uint8Array.from([0x12, 0]))).toThrow(InvalidMessageError)
    expect(() => decodeMessage(new Uint8Array(MAX_MESSAGE_SIZE + 1))).toThrow(InvalidMessageError)
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (junk) => {
      try {
        decodeMessage(junk)
      } catch (err) {
        expect(err).toBeInstanceOf(InvalidMessageError)
      }
    }))
  })
})
