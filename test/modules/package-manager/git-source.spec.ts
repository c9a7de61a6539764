import { execFile } from 'node:child_process'
import { readFile, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { GitSource, PackageManager, chunkPath, openSource, packModule } from '../../../src/modules/package-manager/index.ts'
import { makeRepository, pseudoRandom, pseudoText, removeDir, serveFolder, tempDir, writeModule } from './helpers.ts'
import type { StaticServer, TestRepository } from './helpers.ts'

const run = promisify(execFile)

/**
 * A repository served by git must be held to the bounds HTTP is held to (endless data): one repository folder, served
 * both over HTTP and from a bare git repository, is tampered with; each client must refuse it with the same error.
 */
describe('git sources under the endless-data bounds', () => {
  let base: string
  let repo: TestRepository
  let server: StaticServer
  let bare: string
  let viaGit: PackageManager
  let viaHttp: PackageManager

  const git = async (...args: string[]): Promise<void> => {
    await run('git', ['-c', 'user.name=publisher', '-c', 'user.email=publisher@example.invalid', '-c', 'init.defaultBranch=main', ...args], { cwd: repo.dir })
  }
  const push = async (message: string): Promise<void> => {
    await git('add', '-A')
    await git('commit', '-qm', message)
    await git('push', '-q', 'origin', 'HEAD:main')
  }

  beforeEach(async () => {
    base = await tempDir()
    repo = await makeRepository(base)
    await repo.publish(await writeModule(join(base, 'src'), 'app', '1.0.0', { extraFiles: { 'lib/big.js': pseudoText(40_000, 7) } }))
    await git('init', '-q')
    await git('add', '-A')
    await git('commit', '-qm', 'app 1.0.0')
    bare = join(base, 'served.git')
    await run('git', ['clone', '-q', '--bare', repo.dir, bare])
    await git('remote', 'add', 'origin', bare)
    server = await serveFolder(repo.dir)
    viaGit = new PackageManager({ dataDir: join(base, 'data-git') })
    viaHttp = new PackageManager({ dataDir: join(base, 'data-http') })
    await viaGit.addRepository('main', `git+file://${bare}`, { root: repo.root })
    await viaHttp.addRepository('main', server.url, { root: repo.root })
    await viaGit.install(['app'])
    await viaHttp.install(['app'])
  })

  afterEach(async () => {
    await server.close()
    await removeDir(base)
  })

  async function publishNext (): Promise<void> {
    await repo.publish(await writeModule(join(base, 'src'), 'app', '1.0.1', { extraFiles: { 'lib/big.js': pseudoText(40_000, 7) + 'changed' } }))
  }

  /** Updates both clients; each must be refused, and each must be left as it was. */
  async function refusedByBoth (): Promise<Array<Error & { code?: string, data: Record<string, unknown> }>> {
    const out: Array<Error & { code?: string, data: Record<string, unknown> }> = []
    for (const pm of [viaGit, viaHttp]) {
      const before = { list: await pm.list(), verify: await pm.verify() }
      const err = await pm.update().then(() => undefined, (e: unknown) => e as Error & { code?: string, data: Record<string, unknown> })
      expect(err, 'the update must be refused').toBeDefined()
      expect({ list: await pm.list(), verify: await pm.verify() }).toEqual(before)
      out.push(err as Error & { code?: string, data: Record<string, unknown> })
    }
    return out
  }

  it('an oversized package descriptor: ERR_PKG_ENDLESS_DATA from both, git refusing it from its size before reading it', async () => {
    await publishNext()
    const dir = join(repo.dir, 'targets', 'packages', 'app')
    const name = (await readdir(dir)).find(n => n.endsWith('.1.0.1.json')) as string
    // 24 MiB where about 3 KiB is signed: cheap to serve from git (it compresses to almost nothing), costly to read.
    await writeFile(join(dir, name), Buffer.alloc(24 * 1024 * 1024, 0x7b))
    await push('app 1.0.1, with an endless descriptor')
    const [overGit, overHttp] = await refusedByBoth()
    expect(overGit?.code, overGit?.message).toBe('ERR_PKG_ENDLESS_DATA')
    expect(overHttp?.code, overHttp?.message).toBe('ERR_PKG_ENDLESS_DATA')
    // Refused from the object's header: the size git reported, not bytes counted while reading.
    expect(overGit?.data.size).toBe(24 * 1024 * 1024)
  })

  it('an oversized timestamp: ERR_PKG_ENDLESS_DATA from both', async () => {
    await publishNext()
    await writeFile(join(repo.dir, 'metadata', 'timestamp.json'), Buffer.alloc(1024 * 1024, 0x20))
    await push('an endless timestamp')
    const codes = (await refusedByBoth()).map(e => e.code)
    expect(codes).toEqual(['ERR_PKG_ENDLESS_DATA', 'ERR_PKG_ENDLESS_DATA'])
  })

  it('a chunk longer than its manifest says: ERR_PKG_SIZE_MISMATCH from both', async () => {
    await publishNext()
    const manifest = (await packModule(join(base, 'src', 'app-1.0.1'))).manifest
    const changed = manifest.files.find(f => f.path === 'lib/big.js')?.chunks.at(-1)?.[0] as string
    const file = join(repo.dir, chunkPath(changed))
    await writeFile(file, Buffer.concat([await readFile(file), Buffer.alloc(4 * 1024 * 1024, 0x41)]))
    await push('a chunk with 4 MiB more')
    const codes = (await refusedByBoth()).map(e => e.code)
    expect(codes).toEqual(['ERR_PKG_SIZE_MISMATCH', 'ERR_PKG_SIZE_MISMATCH'])
  })

  it('a fetch larger than its bound is cut off with ERR_PKG_ENDLESS_DATA and leaves nothing in the cache', async () => {
    // 3 MiB that git cannot compress, committed next to the repository.
    await writeFile(join(repo.dir, 'junk.bin'), pseudoRandom(3 * 1024 * 1024, 99))
    await push('junk')
    const dataDir = join(base, 'data-bounded')
    const bounded = new PackageManager({
      dataDir,
      openSource: (url, options) => url.startsWith('git+') ? new GitSource(url, { ...options, maxFetchBytes: 1024 * 1024 }) : openSource(url, options)
    })
    const err = await bounded.addRepository('main', `git+file://${bare}`, { root: repo.root }).then(() => undefined, (e: unknown) => e as { code?: string, message: string })
    expect(err?.code, err?.message).toBe('ERR_PKG_ENDLESS_DATA')
    expect(await readdir(join(dataDir, 'packages', 'cache', 'git'))).toEqual([])
    // The same repository within the default bound is fine.
    const unbounded = new PackageManager({ dataDir: join(base, 'data-default') })
    await unbounded.addRepository('main', `git+file://${bare}`, { root: repo.root })
    expect((await unbounded.install(['app'])).changes).toEqual([{ name: 'app', to: '1.0.0' }])
  })
})
