import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startDevnet } from '../../../src/apps/devnet/index.ts'
import type { Devnet } from '../../../src/apps/devnet/index.ts'
import type { LogosNode } from '../../../src/apps/node/index.ts'
import { copyFixture, makeRepository, removeDir, tempDir } from '../package-manager/helpers.ts'
import type { TestRepository } from '../package-manager/helpers.ts'

describe('a package repository served peer to peer from Logos Storage (logos-storage: source)', () => {
  let base: string
  let repo: TestRepository
  let devnet: Devnet
  let A: LogosNode
  let B: LogosNode

  beforeAll(async () => {
    base = await tempDir()
    repo = await makeRepository(base)
    await repo.publish(await copyFixture('greeter-1.0.0', join(base, 'src')))
    devnet = await startDevnet({ nodes: 2, modules: ['storage', 'package-manager'] })
    ;[A, B] = devnet.nodes as [LogosNode, LogosNode]
  }, 90_000)

  afterAll(async () => {
    await devnet?.stop()
    await removeDir(base)
  })

  it('publishes a signed repository folder on A; B adds it by URL, installs from it and runs the package', async () => {
    const published = await A.kernel.call('storage', 'publishFolder', { path: repo.dir }) as { cid: string, url: string, files: number }
    expect(published.url).toBe(`logos-storage:${published.cid}`)
    expect(published.files).toBeGreaterThan(4)
    await B.kernel.call('package-manager', 'addRepository', { name: 'p2p', url: published.url, root: repo.root }, { timeout: 60_000 })
    await B.kernel.call('package-manager', 'install', { specs: ['greeter'] }, { timeout: 60_000 })
    expect(await B.kernel.call('greeter', 'greet', { name: 'p2p' })).toBe('hello p2p from greeter 1.0.0')
    // B fetched the repository dataset into its own store (and now provides it too).
    expect(await B.kernel.call('storage', 'exists', { cid: published.cid })).toEqual({ exists: true })
    const missing = await B.kernel.call('package-manager', 'addRepository', { name: 'nope', url: 'logos-storage:not-a-cid', root: repo.root }).catch((e: unknown) => e)
    expect(missing).toMatchObject({ code: 'ERR_PKG_FETCH_FAILED' })
  }, 90_000)
})
