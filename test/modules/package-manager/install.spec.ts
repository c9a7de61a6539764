import { execFile, spawn } from 'node:child_process'
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  FolderSource, PackageManager, installedModuleDirs, lockHolder, readLock, registerSourceKind
} from '../../../src/modules/package-manager/index.ts'
import type { PackageSource } from '../../../src/modules/package-manager/index.ts'
import { killHard, makeRepository, pseudoText, removeDir, serveFolder, startLockRacer, tempDir, writeModule } from './helpers.ts'
import type { TestRepository } from './helpers.ts'

const run = promisify(execFile)

describe('installing, updating, rolling back, removing (folder repository)', () => {
  let base: string
  let repo: TestRepository
  let pm: PackageManager
  let dataDir: string
  const src = (): string => join(base, 'src')

  beforeEach(async () => {
    base = await tempDir()
    repo = await makeRepository(base)
    dataDir = join(base, 'data')
    pm = new PackageManager({ dataDir, builtins: { network: '0.1.0' } })
    await pm.addRepository('main', repo.dir, { root: repo.root })
  })
  afterEach(async () => { await removeDir(base) })

  it('installs with dependencies, updates fetching only the changed chunks, rolls back and forward', async () => {
    const big = pseudoText(400_000, 11)
    await repo.publish(await writeModule(src(), 'lib', '1.0.0'))
    await repo.publish(await writeModule(src(), 'app', '1.0.0', { dependencies: { lib: '^1.0.0', network: '^0.1.0' }, extraFiles: { 'dist/bundle.js': big } }))
    const first = await pm.install(['app'])
    expect(first.changes).toEqual([{ name: 'app', to: '1.0.0' }, { name: 'lib', to: '1.0.0' }])
    expect(first.chunksReused).toBe(0)

    const edited = big.slice(0, 200_000) + 'const patched = true;\n' + big.slice(200_000)
    await repo.publish(await writeModule(src(), 'app', '1.0.1', { dependencies: { lib: '^1.0.0', network: '^0.1.0' }, extraFiles: { 'dist/bundle.js': edited } }))
    const update = await pm.update()
    expect(update.changes).toEqual([{ name: 'app', from: '1.0.0', to: '1.0.1' }])
    expect(update.chunksReused).toBeGreaterThan(20)
    expect(update.chunksFetched).toBeLessThanOrEqual(4)
    expect(update.transferredBytes).toBeLessThan(first.transferredBytes / 5)

    const [dir] = (await installedModuleDirs(dataDir)).filter(d => d.includes('/app/'))
    expect(await readFile(join(dir as string, 'dist/bundle.js'), 'utf8')).toBe(edited)

    expect((await pm.rollback('app')).changes).toEqual([{ name: 'app', from: '1.0.1', to: '1.0.0' }])
    expect((await pm.list()).find(p => p.name === 'app')?.version).toBe('1.0.0')
    expect((await pm.rollback('app')).changes).toEqual([{ name: 'app', from: '1.0.0', to: '1.0.1' }])
    expect((await pm.verify()).every(r => r.ok)).toBe(true)
  })

  it('refuses a rollback with nothing kept, or one that would break a dependent', async () => {
    await repo.publish(await writeModule(src(), 'lib', '1.0.0'))
    await repo.publish(await writeModule(src(), 'app', '1.0.0', { dependencies: { lib: '^1.0.0' } }))
    await pm.install(['app'])
    await expect(pm.rollback('app')).rejects.toMatchObject({ code: 'ERR_PKG_NO_ROLLBACK' })
    await repo.publish(await writeModule(src(), 'lib', '1.1.0'))
    await repo.publish(await writeModule(src(), 'app', '1.1.0', { dependencies: { lib: '^1.1.0' } }))
    await pm.update()
    await expect(pm.rollback('lib')).rejects.toMatchObject({ code: 'ERR_PKG_NO_ROLLBACK', message: expect.stringMatching(/app@1\.1\.0 needs lib \^1\.1\.0/) })
    await expect(pm.rollback('nope')).rejects.toMatchObject({ code: 'ERR_PKG_NOT_INSTALLED' })
  })

  it('removes a package with the dependencies only it needed, and refuses while another needs it', async () => {
    await repo.publish(await writeModule(src(), 'lib', '1.0.0'))
    await repo.publish(await writeModule(src(), 'app', '1.0.0', { dependencies: { lib: '^1.0.0' } }))
    await repo.publish(await writeModule(src(), 'tool', '1.0.0', { dependencies: { lib: '^1.0.0' } }))
    await pm.install(['app', 'tool'])
    await expect(pm.remove('lib')).rejects.toMatchObject({ code: 'ERR_PKG_REQUIRED' })
    await pm.remove('tool')
    expect((await pm.list()).map(p => p.name)).toEqual(['app', 'lib'])
    const removed = await pm.remove('app')
    expect(removed.changes.map(c => c.name).sort()).toEqual(['app', 'lib'])
    expect(await pm.list()).toEqual([])
    expect(await readdir(join(dataDir, 'packages', 'store'))).toEqual([])
  })

  it('verify finds an installed file changed on disk, and the node then refuses to load that build', async () => {
    await repo.publish(await writeModule(src(), 'app', '1.0.0'))
    await pm.install(['app'])
    const [dir] = await installedModuleDirs(dataDir)
    await writeFile(join(dir as string, 'index.js'), 'export const app = { start () { process.exit(3) } }\n')
    const [report] = await pm.verify()
    expect(report?.ok).toBe(false)
    expect(report?.problems.join()).toMatch(/index\.js: hash/)
    expect(await installedModuleDirs(dataDir)).toEqual([])
  })

  it('refuses to work while another live process holds the lock, and takes over a dead one\'s lock', async () => {
    await repo.publish(await writeModule(src(), 'app', '1.0.0'))
    const holder = await startLockRacer(['hold', join(dataDir, 'packages')], 'HELD')
    try {
      await expect(pm.install(['app'])).rejects.toMatchObject({ code: 'ERR_PKG_LOCKED', retryable: true, data: { pid: holder.child.pid } })
      expect(await lockHolder(join(dataDir, 'packages'))).toBe(holder.child.pid)
    } finally {
      await killHard(holder.child)
    }
    expect(await lockHolder(join(dataDir, 'packages'))).toBeUndefined()
    expect((await pm.install(['app'])).changes).toEqual([{ name: 'app', to: '1.0.0' }])
    // The lock was taken over (a newer generation) and released after the install.
    expect(await readLock(join(dataDir, 'packages'))).toMatchObject({ pid: process.pid, released: true })
  })

  it('accepts a new kind of source through registerSourceKind (how a peer-to-peer source plugs in)', async () => {
    await repo.publish(await writeModule(src(), 'app', '1.0.0'))
    const reads: string[] = []
    const off = registerSourceKind('test-store:', (url) => {
      const inner = new FolderSource(repo.dir)
      const source: PackageSource = {
        kind: 'test-store',
        url,
        read: async (path, options) => { reads.push(path); return await inner.read(path, options) },
        close: async () => {}
      }
      return source
    })
    try {
      const other = new PackageManager({ dataDir: join(base, 'data2') })
      await other.addRepository('p2p', 'test-store://anything', { root: repo.root })
      await other.install(['app'])
      expect(reads.some(p => p.startsWith('chunks/'))).toBe(true)
      expect(reads).toContain('metadata/timestamp.json')
    } finally {
      off()
    }
    await expect(new PackageManager({ dataDir: join(base, 'data3') }).addRepository('x', 'ftp://nowhere', { root: repo.root }))
      .rejects.toMatchObject({ code: 'ERR_PKG_UNSUPPORTED_SOURCE' })
  })

  it('search finds packages by name and description', async () => {
    await repo.publish(await writeModule(src(), 'chat-bot', '1.0.0', { description: 'Answers messages' }))
    await repo.publish(await writeModule(src(), 'chat-bot', '1.2.0', { description: 'Answers messages' }))
    await repo.publish(await writeModule(src(), 'wallet', '0.3.0', { description: 'Keeps keys' }))
    expect((await pm.search('chat')).map(r => [r.name, r.latest])).toEqual([['chat-bot', '1.2.0']])
    expect((await pm.search('keys')).map(r => r.name)).toEqual(['wallet'])
    expect(await pm.search('zzz')).toEqual([])
  })

  it('refuses a repository whose root is not the one it is served with', async () => {
    const other = await makeRepository(join(base, 'other'))
    await expect(pm.addRepository('evil', other.dir, { root: repo.root })).rejects.toMatchObject({ code: 'ERR_PKG_BAD_SIGNATURE' })
    await expect(pm.addRepository('anon', other.dir)).rejects.toMatchObject({ code: 'ERR_PKG_REPOSITORY_CONFIG' })
    await pm.addRepository('tofu', other.dir, { trustOnFirstUse: true })
    expect((await pm.repositories()).map(r => r.name)).toEqual(['main', 'tofu'])
  })
})

describe('downloads resume', () => {
  it('picks a chunk up where a dropped connection left it (HTTP Range)', async () => {
    const base = await tempDir()
    const repo = await makeRepository(base)
    const server = await serveFolder(repo.dir)
    try {
      await repo.publish(await writeModule(join(base, 'src'), 'app', '1.0.0', { extraFiles: { 'big.txt': pseudoText(300_000, 4) } }))
      const cut = new Set<string>()
      server.intercept = async (req, res, path) => {
        // The first request for each chunk gets half of it, then the connection drops.
        if (!path.startsWith('chunks/') || cut.has(path) || req.headers.range !== undefined) return false
        cut.add(path)
        const data = await readFile(join(repo.dir, path))
        res.writeHead(200, { 'content-length': data.length })
        await new Promise(resolve => res.write(data.subarray(0, Math.floor(data.length / 2)), resolve))
        // Long enough for the client to take in the half it was sent, even on a loaded machine.
        await new Promise(resolve => setTimeout(resolve, 200))
        res.destroy()
        return true
      }
      const pm = new PackageManager({ dataDir: join(base, 'data') })
      await pm.addRepository('main', server.url, { root: repo.root })
      const r = await pm.install(['app'])
      expect(r.changes).toEqual([{ name: 'app', to: '1.0.0' }])
      const resumed = server.requests.filter(q => q.path.startsWith('chunks/') && q.range !== undefined)
      expect(cut.size).toBeGreaterThan(10)
      // Nearly always every cut chunk resumes; a cut that lands before any byte arrived restarts from 0 instead.
      expect(resumed.length).toBeGreaterThan(cut.size * 0.75)
      expect(resumed.every(q => /^bytes=[1-9]\d*-$/.test(q.range as string))).toBe(true)
      // Each chunk crossed the wire about once: half, then the other half.
      expect(r.transferredBytes).toBeLessThan(300_000 * 1.3 + 20_000)
      expect((await pm.verify())[0]?.ok).toBe(true)
    } finally {
      await server.close()
      await removeDir(base)
    }
  })
})

describe('cancellation', () => {
  it('an aborted update stops, leaves the installation as it was and releases the lock', async () => {
    const base = await tempDir()
    const repo = await makeRepository(base)
    const server = await serveFolder(repo.dir)
    try {
      await repo.publish(await writeModule(join(base, 'src'), 'app', '1.0.0'))
      const pm = new PackageManager({ dataDir: join(base, 'data') })
      await pm.addRepository('main', server.url, { root: repo.root })
      await pm.install(['app'])
      await repo.publish(await writeModule(join(base, 'src'), 'app', '1.1.0', { extraFiles: { 'big.txt': pseudoText(200_000, 5) } }))
      server.throttle = 20_000
      const controller = new AbortController()
      const slow = new PackageManager({
        dataDir: join(base, 'data'),
        onProgress: (p) => { if (p.phase === 'download' && (p.doneBytes ?? 0) > 10_000) controller.abort() }
      })
      await expect(slow.update([], { signal: controller.signal })).rejects.toMatchObject({ code: 'ERR_ABORTED' })
      expect((await pm.list()).map(p => p.version)).toEqual(['1.0.0'])
      server.throttle = 0
      expect((await pm.update()).changes).toEqual([{ name: 'app', from: '1.0.0', to: '1.1.0' }])
    } finally {
      await server.close()
      await removeDir(base)
    }
  })
})

describe('git repositories', () => {
  it('installs and updates from a bare git repository over file://', async () => {
    const base = await tempDir()
    try {
      const repo = await makeRepository(base)
      await repo.publish(await writeModule(join(base, 'src'), 'app', '1.0.0', { extraFiles: { 'data.txt': pseudoText(50_000, 2) } }))
      const git = async (...args: string[]): Promise<void> => {
        await run('git', ['-c', 'user.name=publisher', '-c', 'user.email=publisher@example.invalid', '-c', 'init.defaultBranch=main', ...args], { cwd: repo.dir })
      }
      await git('init', '-q')
      await git('add', '-A')
      await git('commit', '-qm', 'app 1.0.0')
      const bare = join(base, 'served.git')
      await run('git', ['clone', '-q', '--bare', repo.dir, bare])
      await git('remote', 'add', 'origin', bare)

      const pm = new PackageManager({ dataDir: join(base, 'data') })
      await pm.addRepository('git', `git+file://${bare}`, { root: repo.root })
      expect((await pm.install(['app'])).changes).toEqual([{ name: 'app', to: '1.0.0' }])

      await repo.publish(await writeModule(join(base, 'src'), 'app', '1.1.0', { extraFiles: { 'data.txt': pseudoText(50_000, 2) + '!' } }))
      await git('add', '-A')
      await git('commit', '-qm', 'app 1.1.0')
      await git('push', '-q', 'origin', 'HEAD:main')
      const r = await pm.update()
      expect(r.changes).toEqual([{ name: 'app', from: '1.0.0', to: '1.1.0' }])
      expect(r.chunksReused).toBeGreaterThan(0)
      expect((await pm.verify())[0]?.ok).toBe(true)
    } finally {
      await removeDir(base)
    }
  })

  it('works over the git protocol on loopback (git daemon)', async () => {
    const base = await tempDir()
    const { createServer } = await import('node:net')
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port
        s.close(() => { resolve(p) })
      })
    })
    let daemon: ReturnType<typeof spawn> | undefined
    try {
      const repo = await makeRepository(base)
      await repo.publish(await writeModule(join(base, 'src'), 'app', '1.0.0'))
      await run('git', ['-c', 'init.defaultBranch=main', 'init', '-q'], { cwd: repo.dir })
      await run('git', ['add', '-A'], { cwd: repo.dir })
      await run('git', ['-c', 'user.name=p', '-c', 'user.email=p@example.invalid', 'commit', '-qm', 'init'], { cwd: repo.dir })
      const served = join(base, 'served')
      await mkdir(served)
      await run('git', ['clone', '-q', '--bare', repo.dir, join(served, 'repo.git')])
      daemon = spawn('git', ['daemon', '--reuseaddr', '--export-all', `--base-path=${served}`, '--listen=127.0.0.1', `--port=${port}`, served], { stdio: 'ignore' })
      const pm = new PackageManager({ dataDir: join(base, 'data') })
      let added = false
      for (let i = 0; i < 50 && !added; i++) {
        try {
          await pm.addRepository('daemon', `git://127.0.0.1:${port}/repo.git`, { root: repo.root })
          added = true
        } catch (err) {
          if ((err as { code?: string }).code !== 'ERR_PKG_FETCH_FAILED') throw err
          await new Promise(resolve => setTimeout(resolve, 100))
        }
      }
      expect(added).toBe(true)
      expect((await pm.install(['app'])).changes).toEqual([{ name: 'app', to: '1.0.0' }])
    } finally {
      daemon?.kill('SIGTERM')
      await removeDir(base)
    }
  })
})
