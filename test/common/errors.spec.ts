import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { LogosError, TimeoutError, errorFromWire, errorToWire } from '../../src/common/index.ts'
import { ModuleCrashedError, VersionConflictError } from '../../src/kernel/index.ts'

describe('errors across a boundary', () => {
  it('keep their class, code, data and cause through structured clone', () => {
    const original = new VersionConflictError(['app', 'storage'], 'network', '^2.0.0', '1.0.0')
    const rebuilt = errorFromWire(structuredClone(errorToWire(original)))
    expect(rebuilt).toBeInstanceOf(VersionConflictError)
    expect(rebuilt).toBeInstanceOf(LogosError)
    expect(rebuilt.code).toBe('ERR_VERSION_CONFLICT')
    expect(rebuilt.message).toBe(original.message)
    expect(rebuilt.data).toEqual({ chain: ['app', 'storage'], dependency: 'network', range: '^2.0.0', loaded: '1.0.0' })

    const crashed = errorFromWire(errorToWire(new ModuleCrashedError('m', { cause: new TimeoutError('hung') })))
    expect(crashed).toBeInstanceOf(ModuleCrashedError)
    expect(crashed.retryable).toBe(true)
    expect(crashed.cause).toBeInstanceOf(TimeoutError)
  })

  it('plain errors and unknown codes keep their code and message', () => {
    const plain = errorFromWire(errorToWire(Object.assign(new Error('boom'), { code: 'ENOENT' })))
    expect(plain.code).toBe('ENOENT')
    expect(plain.message).toBe('boom')
    expect(errorFromWire(errorToWire('a string')).code).toBe('ERR_UNEXPECTED')
    expect(errorToWire({ toString: 0 }).message).toBe('[object Object]') // String() would throw
    expect(errorToWire(Object.create(null)).message).toBe('[object Object]')
  })

  it('any thrown value has a wire form that rebuilds', () => {
    fc.assert(fc.property(fc.anything(), (value) => {
      const wire = structuredClone(errorToWire(value))
      const err = errorFromWire(wire)
      return err instanceof LogosError && typeof err.code === 'string' && typeof err.message === 'string'
    }))
  })
})
