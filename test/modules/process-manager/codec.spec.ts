import { deserialize, serialize } from 'node:v8'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  FORMAT_COMPACT, FORMAT_V8, FRAME_HEADER_BYTES, FrameDecoder, PmMessageTooLargeError, PmNotSerializableError,
  PmProtocolError, Writer, decodeBody, decodeMessage, encodeBody, encodeFrames, writeFrame
} from '../../../src/modules/process-manager/index.ts'
import type { Message } from '../../../src/modules/process-manager/index.ts'

function roundTrip (value: unknown): unknown {
  const w = new Writer()
  encodeBody(w, value)
  const body = w.take()
  return decodeBody(body, 0, body.length)
}

/** What Node's own structured clone serializer makes of a value: the reference the codec must match. */
function reference (value: unknown): unknown {
  return deserialize(serialize(value))
}

const values = fc.anything({
  maxDepth: 4,
  withBigInt: true,
  withBoxedValues: false,
  withDate: true,
  withMap: true,
  withSet: true,
  withNullPrototype: true,
  withTypedArray: true,
  withSparseArray: true,
  withObjectString: false,
  withUnicodeString: true
})

describe('codec', () => {
  it('carries any structured-cloneable value as Node\'s serializer does (property)', () => {
    fc.assert(fc.property(values, (value) => {
      expect(roundTrip(value)).toEqual(reference(value))
    }), { numRuns: 500 })
  })

  it('carries any string, lone surrogates included, as values and as keys (property)', () => {
    const anyString = fc.string({ unit: 'binary', maxLength: 200 })
    fc.assert(fc.property(anyString, fc.dictionary(anyString, anyString, { maxKeys: 5 }), (s, o) => {
      expect(roundTrip([s, o])).toEqual(reference([s, o]))
    }), { numRuns: 500 })
  })

  it('keeps what JSON and naive encoders lose: -0, NaN, lone surrogates, __proto__ keys, holes, bigints, Buffers', () => {
    expect(Object.is(roundTrip(-0), -0)).toBe(true)
    expect(roundTrip(Number.NaN)).toBeNaN()
    expect(roundTrip(2 ** 53 + 2)).toBe(2 ** 53 + 2)
    expect(roundTrip(-(2n ** 100n))).toBe(-(2n ** 100n))
    const lone = 'a\ud800b'.repeat(100)
    expect(roundTrip(lone)).toBe(lone)
    expect(roundTrip('\ud800')).toBe('\ud800')
    const tricky = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as Record<string, unknown>
    const back = roundTrip(tricky) as Record<string, unknown>
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype)
    expect(Object.keys(back)).toEqual(['__proto__', 'a'])
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    // eslint-disable-next-line no-sparse-arrays -- the hole is the point
    const holey = [1, , 3]
    expect(1 in (roundTrip(holey) as unknown[])).toBe(false)
    expect(Buffer.isBuffer(roundTrip(Buffer.from('x')))).toBe(true)
    const bytes = roundTrip(new Uint8Array([1, 2, 3])) as Uint8Array
    expect(bytes.constructor).toBe(Uint8Array)
    expect(roundTrip(new Float64Array([1.5]))).toEqual(new Float64Array([1.5]))
  })

  it('keeps shared references and cycles (the whole message then goes in V8 format)', () => {
    const shared = { x: 1 }
    const w = new Writer()
    encodeBody(w, [shared, shared])
    expect(w.buf[0]).toBe(FORMAT_V8)
    const body = w.take()
    const back = decodeBody(body, 0, body.length) as Array<{ x: number }>
    expect(back[0]).toBe(back[1])
    const cyclic: Record<string, unknown> = { name: 'loop' }
    cyclic.self = cyclic
    const again = roundTrip(cyclic) as Record<string, unknown>
    expect(again.self).toBe(again)
    // A plain message stays compact.
    const plain = new Writer()
    encodeBody(plain, [2, 1, 'echo', { a: [1, 2] }])
    expect(plain.buf[0]).toBe(FORMAT_COMPACT)
  })

  it('refuses what structured clone refuses, leaving the writer as it was', () => {
    const w = new Writer()
    encodeBody(w, [1])
    const before = w.pos
    for (const bad of [() => 1, Symbol('s'), { nested: { fn: () => 1 } }, [1, new WeakMap()]]) {
      expect(() => { encodeBody(w, [2, bad]) }).toThrow(PmNotSerializableError)
      expect(w.pos).toBe(before)
    }
  })

  it('copies bytes out of the read buffer: a kept Uint8Array does not pin it', () => {
    const frame = encodeFrames([[4, 1, new Uint8Array([7, 8, 9])], [4, 2, { b: Buffer.from([1]) }]])
    const got: Message[] = []
    new FrameDecoder().push(frame, (buf, s, e) => { got.push(decodeMessage(buf, s, e)) })
    const bytes = got[0]?.[2] as Uint8Array
    expect([...bytes]).toEqual([7, 8, 9])
    expect(bytes.buffer).not.toBe(frame.buffer)
    expect(bytes.buffer.byteLength).toBe(3)
    expect(((got[1]?.[2] as { b: Buffer }).b).buffer).not.toBe(frame.buffer)
  })
})

describe('framing', () => {
  const messages = fc.array(fc.tuple(fc.integer({ min: 1, max: 40 }), values).map(([type, v]) => [type, v] as Message), { minLength: 1, maxLength: 12 })

  it('cuts a stream into the same messages whatever the chunk boundaries (property)', () => {
    fc.assert(fc.property(messages, fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 40 }), (msgs, cuts) => {
      const stream = encodeFrames(msgs)
      const decoder = new FrameDecoder()
      const got: Message[] = []
      let offset = 0
      let i = 0
      while (offset < stream.length) {
        const size = cuts[i++ % cuts.length] as number
        decoder.push(stream.subarray(offset, offset + size), (buf, s, e) => { got.push(decodeMessage(buf, s, e)) })
        offset += size
      }
      expect(got).toEqual(msgs.map(reference))
    }), { numRuns: 200 })
  })

  it('never crashes on garbage: a typed PmProtocolError or nothing (property)', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 0, maxLength: 300 }), (bytes) => {
      const decoder = new FrameDecoder(1024)
      try {
        decoder.push(Buffer.from(bytes), (buf, s, e) => { decodeMessage(buf, s, e) })
      } catch (err) {
        expect(err).toBeInstanceOf(PmProtocolError)
      }
    }), { numRuns: 2000 })
  })

  it('refuses frames outside the size bound, on both sides', () => {
    const header = Buffer.alloc(FRAME_HEADER_BYTES)
    header.writeUInt32BE(2048)
    expect(() => { new FrameDecoder(1024).push(header, () => {}) }).toThrow(PmProtocolError)
    header.writeUInt32BE(0)
    expect(() => { new FrameDecoder(1024).push(header, () => {}) }).toThrow(PmProtocolError)
    const w = new Writer()
    expect(() => { writeFrame(w, [1, new Uint8Array(2000)], 1024) }).toThrow(PmMessageTooLargeError)
    expect(w.pos).toBe(0)
  })

  it('refuses bodies that are not messages, and lies about lengths', () => {
    const notArray = encodeFrames([[1]]).subarray(FRAME_HEADER_BYTES)
    notArray[1] = 6 // the array tag becomes a string tag
    expect(() => decodeMessage(notArray, 0, notArray.length)).toThrow(PmProtocolError)
    // An array claiming a million items in a ten-byte body.
    const lie = Buffer.from([FORMAT_COMPACT, 7, 0xc0, 0x84, 0x3d, 4, 1, 0, 0, 0])
    expect(() => decodeMessage(lie, 0, lie.length)).toThrow(PmProtocolError)
  })
})
