import fc from 'fast-check'
import { cp, mkdir, utimes, writeFile, chmod } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  CHUNK_AVG_BYTES, CHUNK_MAX_BYTES, CHUNK_MIN_BYTES, Chunker, DEFAULT_CHUNKER, assertSafePath, decodeArchive, encodeArchive,
  encodeManifest, packModule, parseManifest, sha256Hex
} from '../../../src/modules/package-manager/index.ts'
import type { PackageManifest } from '../../../src/modules/package-manager/index.ts'
import { pseudoRandom, pseudoText, removeDir, tempDir, writeModule } from './helpers.ts'

describe('FastCDC chunker', () => {
  const chunker = new Chunker()

  it('cuts every input into chunks within [min, max] (the last may be shorter) that add up to it', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 300_000 }), fc.integer({ min: 1, max: 2 ** 31 }), (length, seed) => {
      const sizes = chunker.split(pseudoRandom(length, seed))
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(length)
      sizes.forEach((s, i) => {
        expect(s).toBeLessThanOrEqual(CHUNK_MAX_BYTES)
        if (i < sizes.length - 1) expect(s).toBeGreaterThanOrEqual(CHUNK_MIN_BYTES)
      })
    }), { numRuns: 40 })
  })

  it('averages close to its target size on random data', () => {
    const sizes = chunker.split(pseudoRandom(8 * 1024 * 1024, 42))
    const mean = sizes.reduce((a, b) => a + b, 0) / sizes.length
    expect(mean).toBeGreaterThan(CHUNK_AVG_BYTES * 0.7)
    expect(mean).toBeLessThan(CHUNK_AVG_BYTES * 1.5)
  })

  it('is deterministic and keeps boundaries away from a small edit (content-defined)', () => {
    const data = pseudoRandom(1024 * 1024, 3)
    const edited = new Uint8Array(data.length + 5)
    const at = 500_000
    edited.set(data.subarray(0, at))
    edited.set([1, 2, 3, 4, 5], at)
    edited.set(data.subarray(at), at + 5)
    const hashes = (d: Uint8Array): string[] => {
      let o = 0
      return chunker.split(d).map(n => sha256Hex(d.subarray(o, (o += n))))
    }
    expect(hashes(data)).toEqual(hashes(data))
    const before = new Set(hashes(data))
    const after = hashes(edited)
    const fresh = after.filter(h => !before.has(h))
    // An insertion disturbs the chunk it lands in and at most the next one.
    expect(fresh.length).toBeGreaterThanOrEqual(1)
    expect(fresh.length).toBeLessThanOrEqual(2)
  })

  it('refuses nonsense bounds', () => {
    expect(() => new Chunker({ ...DEFAULT_CHUNKER, min: 10_000, avg: 8_000 })).toThrow(/min < avg < max/)
    expect(() => new Chunker({ ...DEFAULT_CHUNKER, algorithm: 'rabin' })).toThrow(/unknown chunker/)
  })
})

describe('package format', () => {
  let base: string
  beforeAll(async () => { base = await tempDir() })
  afterAll(async () => { await removeDir(base) })

  it('packs deterministically: same content, other times and folder, same bytes', async () => {
    const dir = await writeModule(join(base, 'a'), 'demo', '1.2.3', { extraFiles: { 'lib/x.js': pseudoText(100_000, 5), 'z.bin': pseudoRandom(70_000, 6) } })
    await chmod(join(dir, 'lib/x.js'), 0o755)
    const copy = join(base, 'copy')
    await cp(dir, copy, { recursive: true })
    await utimes(join(copy, 'z.bin'), new Date(0), new Date(0))
    const one = encodeArchive(await packModule(dir))
    const two = encodeArchive(await packModule(copy))
    expect(sha256Hex(two)).toBe(sha256Hex(one))
    const back = decodeArchive(one)
    expect(back.manifest.name).toBe('demo')
    expect(back.manifest.files.map(f => f.path)).toEqual(['index.js', 'lib/x.js', 'module.json', 'z.bin'])
    expect(back.manifest.files.find(f => f.path === 'lib/x.js')?.mode).toBe(0o755)
    expect(encodeArchive(back)).toEqual(one)
  })

  it('refuses an archive with a tampered chunk or a wrong length', async () => {
    const dir = await writeModule(join(base, 'b'), 'demo', '1.0.0', { extraFiles: { 'data.txt': pseudoText(30_000, 8) } })
    const bytes = encodeArchive(await packModule(dir))
    const tampered = bytes.slice()
    tampered[tampered.length - 3] = (tampered[tampered.length - 3] as number) ^ 1
    expect(() => decodeArchive(tampered)).toThrow(expect.objectContaining({ code: 'ERR_PKG_CHUNK_MISMATCH' }))
    expect(() => decodeArchive(bytes.slice(0, -1))).toThrow(expect.objectContaining({ code: 'ERR_PKG_SIZE_MISMATCH' }))
    expect(() => decodeArchive(new Uint8Array(40))).toThrow(expect.objectContaining({ code: 'ERR_PKG_BAD_PACKAGE' }))
  })

  it('refuses to pack a privileged module or one whose module.json is missing', async () => {
    const dir = join(base, 'priv')
    await mkdir(dir, { recursive: true })
    await expect(packModule(dir)).rejects.toMatchObject({ code: 'ERR_PKG_BAD_PACKAGE' })
    await writeFile(join(dir, 'module.json'), JSON.stringify({ name: 'root-kit', version: '1.0.0', entry: './i.js', privileged: true }))
    await writeFile(join(dir, 'i.js'), '')
    await expect(packModule(dir)).rejects.toMatchObject({ code: 'ERR_PKG_BAD_PACKAGE', message: expect.stringMatching(/privileged/) })
  })

  it('accepts only plain relative file names (path traversal and friends refused)', () => {
    for (const bad of ['../x', 'a/../../x', '/etc/passwd', 'a//b', './a', 'a/.', 'a\\..\\b', 'C:/x', 'a\u0000b', '', 'x'.repeat(2000), '.logos-package.json']) {
      expect(() => assertSafePath(bad), bad).toThrow(expect.objectContaining({ code: 'ERR_PKG_UNSAFE_PATH' }))
    }
    for (const good of ['index.js', 'lib/a.js', '.hidden', 'a..b', 'dir/..x/y']) expect(() => assertSafePath(good)).not.toThrow()
    fc.assert(fc.property(fc.array(fc.constantFrom('a', '..', '.', '', 'b.js'), { minLength: 1, maxLength: 6 }), (segments) => {
      const path = segments.join('/')
      const unsafe = segments.some(s => s === '..' || s === '.' || s === '')
      if (unsafe) expect(() => assertSafePath(path)).toThrow()
      else expect(() => assertSafePath(path)).not.toThrow()
    }))
  })

  it('checks sizes, order and fields of a manifest', async () => {
    const dir = await writeModule(join(base, 'c'), 'demo', '1.0.0', { extraFiles: { 'b.txt': pseudoText(20_000, 2) } })
    const { manifest } = await packModule(dir)
    const with_ = (patch: Partial<PackageManifest>): unknown => ({ ...manifest, ...patch })
    expect(parseManifest(encodeManifest(manifest))).toEqual(manifest)
    expect(() => parseManifest(with_({ size: manifest.size + 1 }))).toThrow(expect.objectContaining({ code: 'ERR_PKG_SIZE_MISMATCH' }))
    const files = manifest.files.map(f => ({ ...f }))
    files[0] = { ...files[0] as PackageManifest['files'][number], size: (files[0]?.size ?? 0) + 1 }
    expect(() => parseManifest(with_({ files }))).toThrow(expect.objectContaining({ code: 'ERR_PKG_SIZE_MISMATCH' }))
    expect(() => parseManifest(with_({ files: [...manifest.files].reverse() }))).toThrow(/sorted/)
    expect(() => parseManifest(with_({ name: 'Bad Name' }))).toThrow(expect.objectContaining({ code: 'ERR_PKG_BAD_PACKAGE' }))
    expect(() => parseManifest({ ...manifest, extra: 1 })).toThrow(/unknown field/)
    expect(() => parseManifest(with_({ files: manifest.files.filter(f => f.path !== 'module.json'), size: manifest.size - (manifest.files.find(f => f.path === 'module.json')?.size ?? 0) }))).toThrow(/module\.json/)
    // Names that collide on a case-insensitive file system, and a file that is also a folder.
    const dup = { ...manifest.files[0] as PackageManifest['files'][number], path: 'B.txt' }
    expect(() => parseManifest(with_({ files: [dup, ...manifest.files], size: manifest.size + dup.size }))).toThrow(/unique ignoring case/)
  })

  it('parses any manifest the packer makes, and refuses random JSON without crashing', () => {
    fc.assert(fc.property(fc.jsonValue(), (value) => {
      try {
        parseManifest(value)
      } catch (err) {
        expect((err as { code?: string }).code).toMatch(/^ERR_PKG_/)
      }
    }), { numRuns: 300 })
  })
})
