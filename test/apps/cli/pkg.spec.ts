import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pseudoText, removeDir, tempDir, writeModule } from '../../modules/package-manager/helpers.ts'

const run = promisify(execFile)
const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '../../../src/apps/cli/logos.ts')

async function logos (...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [CLI, ...args], { timeout: 60_000 })
  return stdout
}

describe('logos pkg', () => {
  let base: string
  beforeAll(async () => { base = await tempDir() })
  afterAll(async () => { await removeDir(base) })

  it('packs deterministically, publishes, installs, lists and verifies through the CLI', async () => {
    const mod = await writeModule(join(base, 'src'), 'hello', '1.0.0', { description: 'Says hello', extraFiles: { 'lib.js': pseudoText(30_000, 3) } })
    const a = await logos('pkg', 'pack', mod, '-o', join(base, 'a.lpkg'))
    const b = await logos('pkg', 'pack', mod, '-o', join(base, 'b.lpkg'))
    const hash = (s: string): string => /sha256 ([0-9a-f]{64})/.exec(s)?.[1] ?? ''
    expect(hash(a)).toHaveLength(64)
    expect(hash(a)).toBe(hash(b))
    expect(await readFile(join(base, 'a.lpkg'))).toEqual(await readFile(join(base, 'b.lpkg')))

    const repo = join(base, 'repo')
    expect(await logos('pkg', 'repo', 'init', repo, '--threshold', 'root=2/3')).toContain('trust anchor')
    expect(await logos('pkg', 'publish', join(base, 'a.lpkg'), '--repo', repo)).toContain('published hello@1.0.0')
    const data = join(base, 'data')
    await logos('pkg', 'repo', 'add', 'main', repo, '--root', join(repo, 'root.json'), '--data-dir', data)
    expect(await logos('pkg', 'search', 'hello', '--data-dir', data)).toMatch(/hello\s+1\.0\.0\s+main\s+Says hello/)
    expect(await logos('pkg', 'install', 'hello', '--data-dir', data)).toContain('+ hello 1.0.0')
    const list = JSON.parse(await logos('pkg', 'list', '--json', '--data-dir', data)) as Array<{ name: string, version: string }>
    expect(list.map(p => `${p.name}@${p.version}`)).toEqual(['hello@1.0.0'])
    expect(await logos('pkg', 'verify', '--data-dir', data)).toContain('ok   hello@1.0.0')
    expect(await logos('modules', '--data-dir', data)).toMatch(/hello\s+1\.0\.0\s+installed/)
  })

  it('exits non-zero with the error code when a package cannot be found', async () => {
    const err = await logos('pkg', 'install', 'nope', '--data-dir', join(base, 'empty')).then(() => undefined, (e: unknown) => e as { code: number, stderr: string })
    expect(err?.code).toBe(1)
    expect(err?.stderr).toContain('ERR_PKG_REPOSITORY_CONFIG')
  })
})
