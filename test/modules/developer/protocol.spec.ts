import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
// Unit tests of the server's own pieces (the interface itself is tested through an independent client elsewhere).
import { handleMessage, RpcMethodNotFound } from '../../../src/modules/developer/json-rpc.ts'
import type { RpcRequest } from '../../../src/modules/developer/json-rpc.ts'
import { validate } from '../../../src/modules/developer/schema.ts'
import { decodeValue, encodeJson } from '../../../src/modules/developer/wire-values.ts'
import { traceRecordJson } from '../../../src/modules/developer/record-json.ts'
import { DevInvalidParamsError } from '../../../src/modules/developer/errors.ts'
import type { TraceRecord } from '../../../src/sdk/index.ts'

/** A dispatcher that echoes params for "echo", fails typed for "fail", and knows nothing else. */
const dispatch = async (r: RpcRequest): Promise<unknown> => {
  if (r.method === 'echo') return r.params
  if (r.method === 'fail') throw new DevInvalidParamsError('fail', 'always')
  throw new RpcMethodNotFound(r.method)
}

type Response = { jsonrpc: string, id: unknown, result?: unknown, error?: { code: number } }

describe('JSON-RPC 2.0 message handling', () => {
  it('answers any text with valid JSON-RPC responses, or nothing, and never throws', async () => {
    await fc.assert(fc.asyncProperty(fc.oneof(fc.string(), fc.json(), fc.jsonValue().map(v => JSON.stringify(v))), async (text) => {
      const out = await handleMessage(text, dispatch)
      if (out === undefined) return
      const parsed = JSON.parse(out) as Response | Response[]
      for (const r of Array.isArray(parsed) ? parsed : [parsed]) {
        expect(r.jsonrpc).toBe('2.0')
        expect(Object.hasOwn(r, 'id')).toBe(true)
        expect(Object.hasOwn(r, 'result') !== Object.hasOwn(r, 'error')).toBe(true)
        if (r.error !== undefined) expect([-32700, -32600, -32601, -32602, -32000]).toContain(r.error.code)
      }
    }), { numRuns: 500 })
  })

  it('echoes ids and params of valid requests; answers notifications with nothing', async () => {
    const id = fc.oneof(fc.integer(), fc.string(), fc.constant(null))
    const params = fc.oneof(fc.array(fc.jsonValue()), fc.dictionary(fc.string(), fc.jsonValue()))
    await fc.assert(fc.asyncProperty(id, params, fc.boolean(), async (requestId, p, notify) => {
      const request = notify ? { jsonrpc: '2.0', method: 'echo', params: p } : { jsonrpc: '2.0', method: 'echo', params: p, id: requestId }
      const out = await handleMessage(JSON.stringify(request), dispatch)
      if (notify) {
        expect(out).toBeUndefined()
        return
      }
      expect(JSON.parse(out as string)).toEqual({ jsonrpc: '2.0', id: requestId, result: JSON.parse(JSON.stringify(p)) })
    }), { numRuns: 300 })
  })

  it('keeps the order of a batch and leaves notifications out of it', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.record({ notify: fc.boolean(), method: fc.constantFrom('echo', 'fail', 'nope') }), { minLength: 1, maxLength: 30 }), async (calls) => {
      const batch = calls.map((c, i) => c.notify ? { jsonrpc: '2.0', method: c.method, params: [i] } : { jsonrpc: '2.0', method: c.method, params: [i], id: i })
      const out = await handleMessage(JSON.stringify(batch), dispatch)
      const expected = calls.map((c, i) => ({ c, i })).filter(({ c }) => !c.notify)
      if (expected.length === 0) {
        expect(out).toBeUndefined()
        return
      }
      const responses = JSON.parse(out as string) as Response[]
      expect(responses.map(r => r.id)).toEqual(expected.map(e => e.i))
      responses.forEach((r, k) => {
        const method = expected[k]?.c.method
        if (method === 'echo') expect(r.result).toEqual([r.id])
        else expect(r.error?.code).toBe(method === 'fail' ? -32602 : -32601)
      })
    }), { numRuns: 200 })
  })

  it('gives a result JSON cannot hold an internal error for that request only', async () => {
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    const out = await handleMessage(JSON.stringify([{ jsonrpc: '2.0', id: 1, method: 'x' }, { jsonrpc: '2.0', id: 2, method: 'echo', params: [1] }]), async (r) => r.method === 'x' ? cyclic : r.params)
    expect(JSON.parse(out as string)).toMatchObject([{ id: 1, error: { code: -32603 } }, { id: 2, result: [1] }])
  })
})

describe('params schema validation', () => {
  const schema = {
    type: 'object',
    properties: {
      name: { type: 'string', minLength: 1, maxLength: 4 },
      n: { type: 'integer', minimum: 1, maximum: 10 },
      tags: { type: 'array', items: { type: 'string', enum: ['a', 'b'] }, maxItems: 2 },
      any: {}
    },
    required: ['name'],
    additionalProperties: false
  }

  it('accepts what matches and names the first problem of what does not', () => {
    expect(validate(schema, { name: 'ab', n: 3, tags: ['a', 'b'], any: { x: [1] } })).toBeUndefined()
    expect(validate(schema, {})).toBe('params.name is required')
    expect(validate(schema, { name: '' })).toBe('params.name must have at least 1 characters')
    expect(validate(schema, { name: 'abcde' })).toBe('params.name must have at most 4 characters')
    expect(validate(schema, { name: 'a', n: 1.5 })).toBe('params.n must be integer, got number')
    expect(validate(schema, { name: 'a', n: 11 })).toBe('params.n must be at most 10')
    expect(validate(schema, { name: 'a', tags: ['c'] })).toBe('params.tags[0] must be one of "a", "b"')
    expect(validate(schema, { name: 'a', tags: ['a', 'a', 'a'] })).toBe('params.tags must have at most 2 items')
    expect(validate(schema, { name: 'a', other: 1 })).toMatch(/^params\.other is not a known parameter/)
    expect(validate(schema, [])).toBe('params must be object, got an array')
  })

  it('never throws, whatever the value', () => {
    fc.assert(fc.property(fc.anything(), (value) => {
      const problem = validate(schema, value)
      expect(problem === undefined || typeof problem === 'string').toBe(true)
    }))
  })
})

describe('values JSON lacks', () => {
  it('bytes and big integers survive encoding and decoding, anywhere in a value', () => {
    const value = fc.letrec(tie => ({
      leaf: fc.oneof(fc.uint8Array(), fc.bigInt(), fc.string(), fc.integer(), fc.boolean(), fc.constant(null)),
      node: fc.oneof({ depthSize: 'small' }, tie('leaf'), fc.array(tie('node'), { maxLength: 4 }), fc.dictionary(fc.string().filter(k => !k.startsWith('$') && k !== '__proto__'), tie('node'), { maxKeys: 4 }))
    })).node
    fc.assert(fc.property(value, (v) => {
      expect(decodeValue(JSON.parse(encodeJson(v)))).toEqual(v)
    }))
  })

  it('encodes Buffers as bytes, not as arrays of numbers, and errors as their wire form', () => {
    expect(JSON.parse(encodeJson({ b: Buffer.from([255, 0]), e: new DevInvalidParamsError('m', 'p') }))).toMatchObject({ b: { $bytes: '/wA=' }, e: { code: 'ERR_DEV_INVALID_PARAMS', data: { method: 'm' } } })
  })
})

describe('trace record text', () => {
  it('writes call records exactly as JSON.stringify would', () => {
    const name = fc.string({ maxLength: 20 })
    const record = fc.record({
      id: fc.nat(), parentId: fc.option(fc.nat(), { nil: undefined }), depth: fc.nat(32), caller: name, target: name, method: name,
      at: fc.double({ min: 0, max: 4e12, noNaN: true }), durationNs: fc.nat(), ok: fc.boolean()
    })
    fc.assert(fc.property(record, (r) => {
      const call = { type: 'call' as const, ...r }
      expect(JSON.parse(traceRecordJson(call))).toEqual(JSON.parse(JSON.stringify(call)))
    }))
    const failed: TraceRecord = { type: 'call', id: 1, parentId: undefined, depth: 0, caller: 'a', target: 'b', method: 'c', at: 1, durationNs: 2, ok: false, error: { code: 'ERR_X', message: 'm "q"' } }
    expect(JSON.parse(traceRecordJson(failed))).toEqual(JSON.parse(JSON.stringify(failed)))
  })
})
