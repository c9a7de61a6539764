import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeRepository, pseudoText, removeDir, tempDir, writeModule } from '../../modules/package-manager/helpers.ts'

const run = promisify(execFile)
const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '../../../src/apps/cli/logos.ts')

async function logos (...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [CLI, ...args], { timeout: 60_000 })
  return stdout
}

/** Runs the CLI expecting it to fail: its exit code and stderr. */
async function logosFails (...args: string[]): Promise<{ code: number, stderr: string }> {
  const err = await logos(...args).then(() => undefined, (e: unknown) => e as { code: number, stderr: string })
  expect(err, `logos ${args.join(' ')} should fail`).toBeDefined()
  return err as { code: number, stderr: string }
}

const quote = (arg: string): string => `'${arg.replace(/'/g, "'\\''")}'`

/**
 * Runs the CLI on a pseudo-terminal (util-linux `script`), as a user at a terminal would: what it draws there, progress
 * bars included, with the terminal's control sequences.
 */
async function logosOnTerminal (...args: string[]): Promise<string> {
  const command = [process.execPath, CLI, ...args].map(quote).join(' ')
  const { stdout } = await run('script', ['-qfec', command, '/dev/null'], { timeout: 60_000, env: { ...process.env, TERM: 'xterm', COLUMNS: '120' } })
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

  it('installs with a progress bar on a terminal, updates, rolls back and removes through the CLI', async () => {
    const repo = await makeRepository(join(base, 'cycle'))
    const src = join(base, 'cycle', 'src')
    const bundle = pseudoText(300_000, 8)
    await repo.publish(await writeModule(src, 'lib', '1.0.0'))
    await repo.publish(await writeModule(src, 'app', '1.0.0', { dependencies: { lib: '^1.0.0' }, extraFiles: { 'bundle.js': bundle } }))
    const data = join(base, 'cycle', 'data')
    await logos('pkg', 'repo', 'add', 'main', repo.dir, '--root', join(repo.dir, 'root.json'), '--data-dir', data)

    // On a terminal the download draws a bar (stderr), which ends full; the summary follows (stdout).
    const installed = await logosOnTerminal('pkg', 'install', 'app', '--data-dir', data)
    expect(installed).toMatch(/downloading \[[^\]]+\] \d+% \| [\d.]+ KiB of [\d.]+ KiB \| \d+\/\d+ chunks/)
    const bars = [...installed.matchAll(/downloading \[[^\]]+\] (\d+)% \| [^|]+\| (\d+)\/(\d+) chunks/g)]
    const last = bars.at(-1)
    expect(last?.[1]).toBe('100')
    expect(last?.[2]).toBe(last?.[3])
    expect(Number(last?.[3])).toBeGreaterThan(100)
    expect(installed).toContain('+ app 1.0.0')
    expect(installed).toContain('+ lib 1.0.0')

    // An update fetches only what changed.
    await repo.publish(await writeModule(src, 'app', '1.0.1', { dependencies: { lib: '^1.0.0' }, extraFiles: { 'bundle.js': bundle.slice(0, 150_000) + 'patched();\n' + bundle.slice(150_000) } }))
    const updated = await logos('pkg', 'update', '--data-dir', data)
    expect(updated).toContain('~ app 1.0.0 -> 1.0.1')
    const counts = /transferred, (\d+) chunks fetched, (\d+) reused/.exec(updated)
    expect(Number(counts?.[1])).toBeGreaterThan(0)
    expect(Number(counts?.[1])).toBeLessThanOrEqual(4)
    expect(Number(counts?.[2])).toBeGreaterThan(100)
    expect(await logos('pkg', 'list', '--data-dir', data)).toMatch(/app\s+1\.0\.1\s+requested\s+main\s+\(previous 1\.0\.0\)/)

    // Rollback switches back to the kept build; a second rollback goes forward again.
    expect(await logos('pkg', 'rollback', 'app', '--data-dir', data)).toContain('~ app 1.0.1 -> 1.0.0')
    const rolled = JSON.parse(await logos('pkg', 'list', '--json', '--data-dir', data)) as Array<{ name: string, version: string }>
    expect(rolled.map(p => `${p.name}@${p.version}`)).toEqual(['app@1.0.0', 'lib@1.0.0'])
    expect(await logos('pkg', 'verify', '--data-dir', data)).toMatch(/ok {3}app@1\.0\.0[\s\S]*ok {3}lib@1\.0\.0/)
    expect((await logosFails('pkg', 'rollback', 'lib', '--data-dir', data)).stderr).toContain('ERR_PKG_NO_ROLLBACK')

    // Remove refuses while another package needs it, then takes the package and the dependency only it needed.
    const blocked = await logosFails('pkg', 'remove', 'lib', '--data-dir', data)
    expect(blocked.code).toBe(1)
    expect(blocked.stderr).toMatch(/ERR_PKG_REQUIRED.*lib is required by app/)
    const removed = await logos('pkg', 'remove', 'app', '--data-dir', data)
    expect(removed).toContain('- app 1.0.0')
    expect(removed).toContain('- lib 1.0.0')
    expect(await logos('pkg', 'list', '--data-dir', data)).toContain('no packages installed')
    expect((await logosFails('pkg', 'rollback', 'app', '--data-dir', data)).stderr).toContain('ERR_PKG_NOT_INSTALLED')
  }, 180_000)
})
