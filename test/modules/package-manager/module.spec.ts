import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { startNode } from '../../../src/apps/node/index.ts'
import type { LogosNode } from '../../../src/apps/node/index.ts'
import { encodeManifest, packModule, publishUnchecked } from '../../../src/modules/package-manager/index.ts'
import type { InstalledPackage, PackageManifest, SearchResult, VerifyReport } from '../../../src/modules/package-manager/index.ts'
import { copyFixture, makeRepository, removeDir, tempDir, writeModule } from './helpers.ts'
import type { TestRepository } from './helpers.ts'

describe('the package-manager module in a running node', () => {
  let base: string
  let repo: TestRepository
  let node: LogosNode
  let dataDir: string
  const call = async <T = unknown>(method: string, params?: unknown): Promise<T> => await node.kernel.call('package-manager', method, params, { timeout: 60_000 }) as T

  beforeEach(async () => {
    base = await tempDir()
    repo = await makeRepository(base)
    await repo.publish(await copyFixture('greeter-1.0.0', join(base, 'src')))
    dataDir = join(base, 'data')
    node = await startNode({ dataDir, only: ['package-manager'] })
    expect(node.results.find(r => r.name === 'package-manager')?.state).toBe('running')
    await call('addRepository', { name: 'main', url: repo.dir, root: await readFile(join(repo.dir, 'root.json'), 'utf8') })
  })

  afterEach(async () => {
    await node.stop()
    await removeDir(base)
  })

  it('installs a package and runs it at once; updates, rolls back and removes it live', async () => {
    const events: unknown[] = []
    node.kernel.subscribe('test', 'package-manager', 'changed', (p) => { events.push(p) })
    await call('install', { specs: ['greeter'] })
    expect(node.kernel.describe('greeter').state).toBe('running')
    expect(await node.kernel.call('greeter', 'greet', { name: 'a' })).toBe('hello a from greeter 1.0.0')
    expect(events).toHaveLength(1)

    await repo.publish(await copyFixture('greeter-2.0.0', join(base, 'src')))
    expect((await call<SearchResult[]>('search', { query: 'greet' }))[0]?.latest).toBe('2.0.0')
    // The recorded range is ^1.0.0: update stays on 1.x; installing ^2 moves on.
    await call('update')
    expect(await node.kernel.call('greeter', 'greet', { name: 'b' })).toBe('hello b from greeter 1.0.0')
    await call('install', { specs: ['greeter@^2.0.0'] })
    expect(await node.kernel.call('greeter', 'greet', { name: 'c' })).toBe('hello c from greeter 2.0.0')

    await call('rollback', { name: 'greeter' })
    expect(await node.kernel.call('greeter', 'greet', { name: 'd' })).toBe('hello d from greeter 1.0.0')
    const list = await call<InstalledPackage[]>('list')
    expect(list.map(p => [p.name, p.version, p.previous?.version])).toEqual([['greeter', '1.0.0', '2.0.0']])
    expect((await call<VerifyReport[]>('verify'))[0]?.ok).toBe(true)

    await call('remove', { name: 'greeter' })
    expect(node.kernel.list().map(e => e.name)).not.toContain('greeter')
  })

  it('loads installed packages at the next boot, untrusted', async () => {
    await call('install', { specs: ['greeter'] })
    await node.stop()
    node = await startNode({ dataDir, only: ['package-manager', 'greeter'] })
    expect(await node.kernel.call('greeter', 'greet', {})).toBe('hello world from greeter 1.0.0')
    expect(node.kernel.describe('greeter').source).toMatch(/packages\/store\/greeter\//)
  })

  it('refuses a package that claims privileges', async () => {
    const dir = await writeModule(join(base, 'src'), 'sneaky', '1.0.0')
    const good = await packModule(dir)
    const claim = new TextEncoder().encode(JSON.stringify({ name: 'sneaky', version: '1.0.0', entry: './index.js', privileged: true }))
    const { sha256Hex } = await import('../../../src/modules/package-manager/index.ts')
    const hash = sha256Hex(claim)
    const files = good.manifest.files.map(f => f.path === 'module.json' ? { ...f, size: claim.length, sha256: hash, chunks: [[hash, claim.length]] as Array<[string, number]> } : f)
    const manifest: PackageManifest = { ...good.manifest, files, size: files.reduce((s, f) => s + f.size, 0) }
    const chunks = new Map(good.chunks)
    chunks.set(hash, claim)
    await publishUnchecked(repo.dir, repo.keys, { manifest, manifestBytes: encodeManifest(manifest), chunks })
    await expect(call('install', { specs: ['sneaky'] })).rejects.toMatchObject({ code: 'ERR_PKG_BAD_PACKAGE', message: expect.stringMatching(/privileged/) })
    expect(await call('list')).toEqual([])
  })
})
