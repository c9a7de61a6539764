import fc from 'fast-check'
import { cp, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  FolderSource, RepositoryClient, classifyTufError, initRepository, refreshTimestamp, tufErrorClasses
} from '../../../src/modules/package-manager/index.ts'
import type { PackageSource } from '../../../src/modules/package-manager/index.ts'
import { LogosError } from '../../../src/common/index.ts'
import { removeDir, tempDir } from './helpers.ts'

const REFUSALS = new Set([
  'ERR_PKG_METADATA_EXPIRED', 'ERR_PKG_ROLLBACK_ATTACK', 'ERR_PKG_MIX_AND_MATCH', 'ERR_PKG_BAD_SIGNATURE', 'ERR_PKG_ENDLESS_DATA',
  'ERR_PKG_REPOSITORY'
])

/** A folder repository and a client trusting its root, with every read recorded. */
async function client (base: string): Promise<{ repo: string, keys: string, reads: string[], client: RepositoryClient }> {
  const repo = join(base, 'repo')
  const keys = join(base, 'keys')
  await initRepository(repo, keys)
  const metadataDir = join(base, 'trusted')
  await mkdir(metadataDir)
  await cp(join(repo, 'root.json'), join(metadataDir, 'root.json'))
  const inner = new FolderSource(repo)
  const reads: string[] = []
  const source: PackageSource = {
    kind: 'recorded',
    url: repo,
    read: async (path, options) => { reads.push(path); return await inner.read(path, options) },
    close: async () => {}
  }
  return { repo, keys, reads, client: new RepositoryClient({ name: 'main', source, metadataDir }) }
}

describe('tuf-js errors', () => {
  it('finds every tuf-js error class it relies on in the installed tuf-js (none is exported from its entry point)', () => {
    for (const [name, cls] of Object.entries(tufErrorClasses)) expect(cls, name).toBeTypeOf('function')
  })

  it('they are the classes tuf-js throws: a missing root ends the root walk, an expired timestamp is its ExpiredMetadataError', async () => {
    const base = await tempDir()
    try {
      const c = await client(base)
      // The walk asks for root 2, gets "not found" as tuf-js's own DownloadHTTPError(404), and stops there.
      await c.client.refresh()
      expect(c.reads).toContain('metadata/2.root.json')
      expect(c.reads).toContain('metadata/timestamp.json')

      await refreshTimestamp(c.repo, c.keys, { expires: { timestamp: new Date(Date.now() - 3600_000) } })
      const err = await c.client.refresh().then(() => undefined, (e: unknown) => e as LogosError)
      expect(err?.code).toBe('ERR_PKG_METADATA_EXPIRED')
      expect(err?.cause).toBeInstanceOf(tufErrorClasses.ExpiredMetadataError as never)
    } finally {
      await removeDir(base)
    }
  })

  it('classifies tuf-js errors by their class, whatever a later release words them', () => {
    const c = tufErrorClasses as Required<typeof tufErrorClasses>
    const make = (cls: unknown): Error => new (cls as new (m: string) => Error)('worded some other way')
    expect(classifyTufError(make(c.ExpiredMetadataError)).code).toBe('ERR_PKG_METADATA_EXPIRED')
    expect(classifyTufError(make(c.BadVersionError)).code).toBe('ERR_PKG_ROLLBACK_ATTACK')
    expect(classifyTufError(make(c.UnsignedMetadataError)).code).toBe('ERR_PKG_BAD_SIGNATURE')
    expect(classifyTufError(make(c.LengthOrHashMismatchError)).code).toBe('ERR_PKG_MIX_AND_MATCH')
    expect(classifyTufError(make(c.DownloadLengthMismatchError)).code).toBe('ERR_PKG_ENDLESS_DATA')
    // A version that skips ahead of the root chain is not a rollback; one that does not match the snapshot is mixing.
    expect(classifyTufError(new (c.BadVersionError as unknown as new (m: string) => Error)('Expected version 3, got 5')).code).toBe('ERR_PKG_MIX_AND_MATCH')
    expect(classifyTufError(new (c.BadVersionError as unknown as new (m: string) => Error)('Snapshot version doesn\'t match timestamp')).code).toBe('ERR_PKG_MIX_AND_MATCH')
  })

  it('fails safe: whatever is thrown, the answer is a typed refusal (ERR_PKG_REPOSITORY when nothing more is known)', () => {
    expect(classifyTufError(new Error('a failure nobody foresaw')).code).toBe('ERR_PKG_REPOSITORY')
    expect(classifyTufError('not even an Error').code).toBe('ERR_PKG_REPOSITORY')
    // Things that cannot even be turned into a string.
    expect(classifyTufError(Object.create(null)).code).toBe('ERR_PKG_REPOSITORY')
    expect(classifyTufError({ toString () { throw new Error('no') } }).code).toBe('ERR_PKG_REPOSITORY')
    const anything = fc.anything({ withNullPrototype: true, withBigInt: true, withMap: true, withSet: true })
    fc.assert(fc.property(fc.oneof(fc.string(), anything), (thrown) => {
      const err = classifyTufError(thrown instanceof Error || typeof thrown !== 'string' ? thrown : new Error(thrown))
      expect(err).toBeInstanceOf(LogosError)
      expect(REFUSALS.has(err.code), err.code).toBe(true)
      expect(err.retryable).toBe(false)
    }), { numRuns: 300 })
  })
})
