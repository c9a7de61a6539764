import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { readFile, readdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { startNode } from '../../../src/apps/node/index.ts'
import { PackageManager, readLock } from '../../../src/modules/package-manager/index.ts'
import { FIXTURES, copyFixture, makeRepository, pseudoText, removeDir, serveFolder, tempDir } from './helpers.ts'
import type { StaticServer, TestRepository } from './helpers.ts'

const CHILD = join(FIXTURES, 'installer-child.ts')

/** Starts the installer in a child process and resolves once it printed a line matching `until`. */
async function startInstaller (dataDir: string, args: string[], until: (line: string) => boolean, env: Record<string, string> = {}): Promise<ChildProcess> {
  const child = spawn(process.execPath, [CHILD, dataDir, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } })
  let stderr = ''
  child.stderr?.on('data', (b: Buffer) => { stderr += b.toString() })
  await new Promise<void>((resolve, reject) => {
    let buffer = ''
    const timer = setTimeout(() => { reject(new Error(`installer never got there; stderr: ${stderr}`)) }, 60_000)
    child.stdout?.on('data', (b: Buffer) => {
      buffer += b.toString()
      const lines = buffer.split('\n')
      buffer = lines.pop() ?? ''
      if (lines.some(until)) {
        clearTimeout(timer)
        resolve()
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`installer exited (${code}) before the kill point; stderr: ${stderr}`))
    })
  })
  return child
}

async function sigkill (child: ChildProcess): Promise<void> {
  const exited = new Promise(resolve => child.once('exit', resolve))
  child.kill('SIGKILL')
  await exited
  expect(child.signalCode).toBe('SIGKILL')
}

async function listDir (dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort()
  } catch {
    return []
  }
}

/** Boots a real node on the data directory and asks the installed greeter who it is. */
async function greetingFromNode (dataDir: string): Promise<string> {
  const node = await startNode({ dataDir, moduleDirs: [] })
  try {
    expect(node.results.find(r => r.name === 'greeter')?.state).toBe('running')
    return await node.kernel.call('greeter', 'greet', { name: 'test' }) as string
  } finally {
    await node.stop()
  }
}

describe('a kill -9 in the middle of an install', () => {
  let base: string
  let repo: TestRepository
  let server: StaticServer
  let dataDir: string

  beforeEach(async () => {
    base = await tempDir()
    repo = await makeRepository(base)
    await repo.publish(await copyFixture('greeter-1.0.0', join(base, 'src')))
    // Version 2 carries a large asset so its download takes a while on a throttled server.
    const v2 = await copyFixture('greeter-2.0.0', join(base, 'src'))
    await writeFile(join(v2, 'asset.txt'), pseudoText(600_000, 21))
    await repo.publish(v2)
    server = await serveFolder(repo.dir)
    dataDir = join(base, 'data')
    const pm = new PackageManager({ dataDir })
    await pm.addRepository('main', server.url, { root: repo.root })
    await pm.install(['greeter@^1.0.0'])
    expect(await greetingFromNode(dataDir)).toBe('hello test from greeter 1.0.0')
  })

  afterEach(async () => {
    await server.close()
    await removeDir(base)
  })

  for (const phase of ['commit', 'switch'] as const) {
    it(`at "${phase}" leaves the old version running, and the next run cleans up`, async () => {
      const pkgDir = join(dataDir, 'packages')
      const before = await readFile(join(pkgDir, 'current.json'), 'utf8')
      const child = await startInstaller(dataDir, ['install', 'greeter@^2.0.0'], l => l === 'BLOCKED', { BLOCK_AT: phase })
      // Killed with the new build staged (commit) or already moved into the store (switch), current.json not yet replaced.
      await sigkill(child)
      expect(await readFile(join(pkgDir, 'current.json'), 'utf8')).toBe(before)
      expect(await listDir(join(pkgDir, 'staging'))).toHaveLength(1)
      expect(await listDir(join(pkgDir, 'store', 'greeter'))).toHaveLength(phase === 'switch' ? 2 : 1)
      expect(await readLock(pkgDir)).toMatchObject({ pid: child.pid })
      expect(await readLock(pkgDir)).not.toHaveProperty('released')

      // The node starts with the old version, and its start cleans what the dead installer left.
      expect(await greetingFromNode(dataDir)).toBe('hello test from greeter 1.0.0')
      expect(await listDir(join(pkgDir, 'staging'))).toEqual([])
      expect(await listDir(join(pkgDir, 'store', 'greeter'))).toHaveLength(1)

      // A later run takes over the dead process's lock and completes.
      const pm = new PackageManager({ dataDir })
      const r = await pm.install(['greeter@^2.0.0'])
      expect(r.changes).toEqual([{ name: 'greeter', from: '1.0.0', to: '2.0.0' }])
      expect(await greetingFromNode(dataDir)).toBe('hello test from greeter 2.0.0')
      expect((await pm.rollback('greeter')).changes).toEqual([{ name: 'greeter', from: '2.0.0', to: '1.0.0' }])
      expect(await greetingFromNode(dataDir)).toBe('hello test from greeter 1.0.0')
    })
  }

  it('while downloading leaves the old version running, and the next run resumes the download', async () => {
    const pkgDir = join(dataDir, 'packages')
    const chunkFiles = async (): Promise<Set<string>> => {
      const out = new Set<string>()
      for (const prefix of await listDir(join(pkgDir, 'chunks'))) {
        if (prefix.length === 2) for (const name of await listDir(join(pkgDir, 'chunks', prefix))) out.add(name)
      }
      return out
    }
    const chunksBefore = await chunkFiles()
    // 1 KB every 50 ms per connection: several chunks are always half-way when the kill comes.
    server.throttle = 20_000
    const child = await startInstaller(dataDir, ['install', 'greeter@^2.0.0'], (l) => {
      if (!l.startsWith('{')) return false
      const p = JSON.parse(l) as { phase: string, doneBytes?: number }
      return p.phase === 'download' && (p.doneBytes ?? 0) > 120_000
    })
    await sigkill(child)
    const completedBeforeKill = [...await chunkFiles()].filter(c => !chunksBefore.has(c))
    expect(completedBeforeKill.length).toBeGreaterThan(0)
    const partials = new Map<string, number>()
    for (const name of await listDir(join(pkgDir, 'chunks', 'partial'))) {
      const size = (await stat(join(pkgDir, 'chunks', 'partial', name))).size
      if (size > 0) partials.set(name, size)
    }
    expect(partials.size).toBeGreaterThan(0)
    const current = JSON.parse(await readFile(join(pkgDir, 'current.json'), 'utf8')) as { packages: Record<string, { version: string }> }
    expect(current.packages.greeter?.version).toBe('1.0.0')
    expect(await greetingFromNode(dataDir)).toBe('hello test from greeter 1.0.0')

    server.throttle = 0
    const seen = server.requests.length
    const pm = new PackageManager({ dataDir })
    const r = await pm.install(['greeter@^2.0.0'])
    expect(r.changes).toEqual([{ name: 'greeter', from: '1.0.0', to: '2.0.0' }])
    // Chunks completed before the kill were not fetched again; partial ones resumed with a Range request.
    expect(r.chunksReused).toBeGreaterThan(0)
    const later = server.requests.slice(seen)
    let resumedCount = 0
    for (const [name, size] of partials) {
      for (const q of later.filter(q => q.path.endsWith(`/${name}`))) {
        expect(q.range).toBe(`bytes=${size}-`)
        resumedCount++
      }
    }
    expect(resumedCount).toBeGreaterThan(0)
    for (const done of completedBeforeKill) expect(later.some(q => q.path.endsWith(`/${done}`)), done).toBe(false)
    expect(await greetingFromNode(dataDir)).toBe('hello test from greeter 2.0.0')
  })
})
