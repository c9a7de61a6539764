import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { LogosError } from '../../src/common/index.ts'
import { BadManifestError, defaultExportName, validateManifest } from '../../src/kernel/index.ts'

function fieldOf (fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(BadManifestError)
    return (err as BadManifestError).data.field as string
  }
  throw new Error('expected a BadManifestError')
}

describe('manifest', () => {
  const valid = { name: 'storage', version: '1.2.3', entry: './index.ts', dependencies: { network: '^0.1.0' }, host: 'child-process' }

  it('accepts a valid manifest and normalises it', () => {
    expect(validateManifest(valid)).toEqual(valid)
    expect(validateManifest({ name: 'a', version: '0.0.1' })).toEqual({ name: 'a', version: '0.0.1', dependencies: {} })
  })

  it('names the field and what it expected', () => {
    expect(fieldOf(() => validateManifest({ ...valid, name: 'Storage' }))).toBe('name')
    expect(fieldOf(() => validateManifest({ ...valid, name: undefined }))).toBe('name')
    expect(fieldOf(() => validateManifest({ ...valid, version: '1.2' }))).toBe('version')
    expect(fieldOf(() => validateManifest({ ...valid, dependencies: [] }))).toBe('dependencies')
    expect(fieldOf(() => validateManifest({ ...valid, dependencies: { network: 'latest!' } }))).toBe('dependencies.network')
    expect(fieldOf(() => validateManifest({ ...valid, dependencies: { Net: '^1' } }))).toBe('dependencies.Net')
    expect(fieldOf(() => validateManifest({ ...valid, dependencies: { storage: '^1' } }))).toBe('dependencies.storage')
    expect(fieldOf(() => validateManifest({ ...valid, host: 3 }))).toBe('host')
    expect(fieldOf(() => validateManifest({ ...valid, entry: '' }))).toBe('entry')
    expect(fieldOf(() => validateManifest({ ...valid, export: 'not-an-identifier' }))).toBe('export')
    expect(fieldOf(() => validateManifest({ ...valid, privileged: 'yes' }))).toBe('privileged')
    expect(fieldOf(() => validateManifest({ ...valid, hostOptions: [] }))).toBe('hostOptions')
    expect(fieldOf(() => validateManifest({ ...valid, depenencies: {} }))).toBe('depenencies')
    expect(fieldOf(() => validateManifest(null))).toBe('(manifest)')
    expect(() => validateManifest({ ...valid, version: 'x' }, 'mods/a/module.json')).toThrow(/field "version" must be a semantic version .* got "x"/)
    expect(() => validateManifest({ ...valid, version: 'x' }, 'mods/a/module.json')).toThrow(/mods\/a\/module\.json/)
  })

  it('never throws anything but a BadManifestError on arbitrary input', () => {
    fc.assert(fc.property(fc.anything(), (input) => {
      try {
        validateManifest(input)
      } catch (err) {
        return err instanceof BadManifestError && err instanceof LogosError && err.code === 'ERR_BAD_MANIFEST'
      }
      return true
    }), { numRuns: 500 })
  })

  it('derives the export name from the module name', () => {
    expect(defaultExportName('process-manager')).toBe('processManager')
    expect(defaultExportName('storage')).toBe('storage')
    expect(defaultExportName('a-b2-c')).toBe('aB2C')
  })
})
