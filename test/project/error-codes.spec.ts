import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { collectErrorCodes, renderErrorTable } from '../../scripts/error-codes.ts'

describe('error codes', () => {
  it('every code is unique and docs/errors.md lists them all (npm run docs regenerates it)', async () => {
    const codes = await collectErrorCodes()
    expect(codes.length).toBeGreaterThan(20)
    const seen = new Map<string, string>()
    for (const c of codes) {
      expect(seen.get(c.code), `${c.code} is defined twice`).toBeUndefined()
      seen.set(c.code, c.className)
    }
    const doc = await readFile(new URL('../../docs/errors.md', import.meta.url), 'utf8')
    expect(doc).toBe(renderErrorTable(codes))
  })
})
