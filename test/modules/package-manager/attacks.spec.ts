import { Metadata, MetadataKind, MetaFile, Snapshot, TargetFile, Targets, Timestamp } from '@tufjs/models'
import { copyFile, readFile, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  PackageManager, chunkPath, encodeManifest, initRepository, installedModuleDirs, loadKeys, manifestTarget, metadataBytes,
  packModule, publishUnchecked, sha256Hex, signer, targetFilePath
} from '../../../src/modules/package-manager/index.ts'
import type { PackageManifest, PackedModule } from '../../../src/modules/package-manager/index.ts'
import { makeRepository, pseudoText, removeDir, serveFolder, tempDir, writeModule } from './helpers.ts'
import type { StaticServer, TestRepository } from './helpers.ts'

/**
 * Every attack of the TUF threat list, and the package-level ones, against a repository served over HTTP on
 * loopback. Each must be refused with its typed error, leaving the installation exactly as it was.
 */
describe('package manager under attack (HTTP repository on 127.0.0.1)', () => {
  let base: string
  let repo: TestRepository
  let server: StaticServer
  let pm: PackageManager
  let dataDir: string

  beforeEach(async () => {
    base = await tempDir()
    repo = await makeRepository(base)
    await repo.publish(await writeModule(join(base, 'src'), 'app', '1.0.0', { extraFiles: { 'lib/big.js': pseudoText(40_000, 7) } }))
    server = await serveFolder(repo.dir)
    dataDir = join(base, 'data')
    pm = new PackageManager({ dataDir })
    await pm.addRepository('main', server.url, { root: repo.root })
    await pm.install(['app'])
  })

  afterEach(async () => {
    await server.close()
    await removeDir(base)
  })

  /** What a refused operation must leave: the same state, no staging, no extra builds, everything verifying. */
  async function snapshotInstallation (): Promise<unknown> {
    const pkgDir = join(dataDir, 'packages')
    const store: string[] = []
    for (const name of await readdir(join(pkgDir, 'store'))) {
      for (const b of await readdir(join(pkgDir, 'store', name))) store.push(`${name}/${b}`)
    }
    let staging: string[] = []
    try {
      staging = await readdir(join(pkgDir, 'staging'))
    } catch {
      // never created
    }
    return { list: await pm.list(), store: store.sort(), staging, verify: await pm.verify(), dirs: await installedModuleDirs(dataDir) }
  }

  async function expectRefused (operation: () => Promise<unknown>, code: string): Promise<Error> {
    const before = await snapshotInstallation()
    const err = await operation().then(() => undefined, (e: unknown) => e as Error & { code?: string })
    expect(err, `expected ${code}`).toBeDefined()
    expect((err as { code?: string }).code, (err as Error).message).toBe(code)
    expect(await snapshotInstallation()).toEqual(before)
    expect((await pm.list()).map(p => `${p.name}@${p.version}`)).toEqual(['app@1.0.0'])
    return err as Error
  }

  async function publishNext (): Promise<void> {
    await repo.publish(await writeModule(join(base, 'src'), 'app', '1.0.1', { extraFiles: { 'lib/big.js': pseudoText(40_000, 7) + 'changed' } }))
  }

  it('installs and updates normally when nobody interferes (the control case)', async () => {
    await publishNext()
    const r = await pm.update()
    expect(r.changes).toEqual([{ name: 'app', from: '1.0.0', to: '1.0.1' }])
  })

  it('arbitrary package: a served package descriptor that is not the signed target is refused', async () => {
    await publishNext()
    server.intercept = async (_req, res, path) => {
      if (!path.startsWith('targets/packages/app/') || !path.endsWith('.1.0.1.json')) return false
      // Same length as the signed one, pointing at another manifest (the attacker's).
      const genuine = await readFile(join(repo.dir, path), 'utf8')
      const forged = genuine.replace(/"sha256":"([0-9a-f])/, (_m, c: string) => `"sha256":"${c === '0' ? '1' : '0'}`)
      expect(forged).not.toBe(genuine)
      res.writeHead(200).end(forged)
      return true
    }
    await expectRefused(async () => await pm.update(), 'ERR_PKG_TARGET_MISMATCH')
  })

  it('arbitrary package: a manifest that is not the one the signed descriptor names is refused', async () => {
    await publishNext()
    const evil = await packModule(await writeModule(join(base, 'evil'), 'app', '1.0.1', { extraFiles: { 'payload.js': 'process.exit(1)' } }))
    const { manifestChunks } = await import('../../../src/modules/package-manager/index.ts')
    const evilChunks = manifestChunks(evil.manifestBytes)
    let served = 0
    // The attacker answers every manifest chunk request with the evil manifest's chunks, in order.
    server.intercept = async (_req, res, path) => {
      const genuine = await readFile(join(repo.dir, path)).catch(() => undefined)
      if (!path.startsWith('chunks/') || genuine === undefined || !genuine.subarray(0, 1).equals(Buffer.from('{'))) return false
      // Cut or padded to the genuine chunk's length, so only the hash can tell.
      const evilBytes = Buffer.concat([Buffer.from(evilChunks[served++ % evilChunks.length]?.bytes ?? []), Buffer.alloc(genuine.length, 0x20)]).subarray(0, genuine.length)
      res.writeHead(200).end(evilBytes)
      return true
    }
    const err = await expectRefused(async () => await pm.update(), 'ERR_PKG_CHUNK_MISMATCH')
    expect(served).toBeGreaterThan(0)
    expect(err.message).toMatch(/chunk/)
  })

  it('rollback: an older timestamp than the one already trusted is refused', async () => {
    const old = await readFile(join(repo.dir, 'metadata', 'timestamp.json'))
    await publishNext()
    await pm.update()
    server.intercept = async (_req, res, path) => {
      if (path !== 'metadata/timestamp.json') return false
      res.writeHead(200).end(old)
      return true
    }
    const before = (await pm.list())[0]
    const err = await pm.update().then(() => undefined, (e: unknown) => e as { code?: string })
    expect(err?.code).toBe('ERR_PKG_ROLLBACK_ATTACK')
    expect((await pm.list())[0]).toEqual(before)
  })

  it('freeze: a timestamp replayed after it expired is refused', async () => {
    // The repository signs a timestamp valid for a few more seconds; the client trusts it...
    const { refreshTimestamp } = await import('../../../src/modules/package-manager/index.ts')
    const expires = Date.now() + 3000
    await refreshTimestamp(repo.dir, repo.keys, { expires: { timestamp: new Date(expires) } })
    await pm.search()
    const frozen = await readFile(join(repo.dir, 'metadata', 'timestamp.json'))
    // ...then an attacker keeps serving it, hiding the newer ones, after it expired.
    await publishNext()
    server.intercept = async (_req, res, path) => {
      if (path !== 'metadata/timestamp.json') return false
      res.writeHead(200).end(frozen)
      return true
    }
    // TUF expiry has one-second resolution: wait until the second after it has passed.
    await new Promise(resolve => setTimeout(resolve, Math.max(0, expires + 1100 - Date.now())))
    await expectRefused(async () => await pm.update(), 'ERR_PKG_METADATA_EXPIRED')
  })

  it('mix-and-match: targets metadata from another repository version is refused', async () => {
    const state = JSON.parse(await readFile(join(repo.dir, 'metadata', 'timestamp.json'), 'utf8')) as { signed: { meta: Record<string, { version: number }> } }
    const oldSnapshotVersion = state.signed.meta['snapshot.json']?.version as number
    await publishNext()
    const oldSnapshot = JSON.parse(await readFile(join(repo.dir, 'metadata', `${oldSnapshotVersion}.snapshot.json`), 'utf8')) as { signed: { meta: Record<string, { version: number }> } }
    const oldTargets = await readFile(join(repo.dir, 'metadata', `${oldSnapshot.signed.meta['targets.json']?.version as number}.targets.json`))
    // Serve the previous targets under the new targets version's name.
    server.intercept = async (_req, res, path) => {
      if (!/^metadata\/\d+\.targets\.json$/.test(path) || path.endsWith(`/${oldSnapshot.signed.meta['targets.json']?.version as number}.targets.json`)) return false
      res.writeHead(200).end(oldTargets)
      return true
    }
    await expectRefused(async () => await pm.update(), 'ERR_PKG_MIX_AND_MATCH')
  })

  it('endless data: a timestamp that never ends is cut off and refused', async () => {
    await publishNext()
    server.intercept = async (_req, res, path) => {
      if (path !== 'metadata/timestamp.json') return false
      res.writeHead(200)
      const block = Buffer.alloc(64 * 1024, 0x20)
      let sent = 0
      // Far more than any timestamp may be; the client must stop long before the end.
      while (sent < 64 * 1024 * 1024 && !res.destroyed) {
        if (!res.write(block)) await new Promise(resolve => res.once('drain', resolve))
        sent += block.length
      }
      res.end()
      return true
    }
    await expectRefused(async () => await pm.update(), 'ERR_PKG_ENDLESS_DATA')
    const asked = server.requests.filter(r => r.path === 'metadata/timestamp.json').length
    expect(asked).toBeGreaterThan(0)
  })

  it('endless data: a manifest target longer than its signed length is cut off and refused', async () => {
    await publishNext()
    server.intercept = async (_req, res, path) => {
      if (!path.startsWith('targets/packages/app/') || !path.endsWith('.1.0.1.json')) return false
      res.writeHead(200)
      for (let i = 0; i < 1000 && !res.destroyed; i++) {
        if (!res.write(Buffer.alloc(64 * 1024, 0x7b))) await new Promise(resolve => res.once('drain', resolve))
      }
      res.end()
      return true
    }
    await expectRefused(async () => await pm.update(), 'ERR_PKG_ENDLESS_DATA')
  })

  it('tampered chunk: a chunk whose bytes do not match its name is refused', async () => {
    await publishNext()
    const manifest = (await packModule(join(base, 'src', 'app-1.0.1'))).manifest
    const changed = manifest.files.find(f => f.path === 'lib/big.js')?.chunks.at(-1)?.[0] as string
    const file = join(repo.dir, chunkPath(changed))
    const bytes = await readFile(file)
    bytes[10] = (bytes[10] as number) ^ 0xff
    await writeFile(file, bytes)
    await expectRefused(async () => await pm.update(), 'ERR_PKG_CHUNK_MISMATCH')
  })

  it('wrong signer: metadata signed by keys the trusted root does not name is refused', async () => {
    // An attacker controls the server and signs a full, well-formed repository of their own.
    const evilBase = await tempDir()
    try {
      const evil = await makeRepository(evilBase)
      for (let i = 0; i < 3; i++) await evil.publish(await writeModule(join(evilBase, 'src'), 'app', `1.0.${i + 1}`))
      server.intercept = async (_req, res, path) => {
        if (!path.startsWith('metadata/') || path.endsWith('.root.json')) return false
        try {
          res.writeHead(200).end(await readFile(join(evil.dir, path)))
        } catch {
          res.writeHead(404).end()
        }
        return true
      }
      await expectRefused(async () => await pm.update(), 'ERR_PKG_BAD_SIGNATURE')
    } finally {
      await removeDir(evilBase)
    }
  })

  it('path traversal: a file name that leaves the package folder is refused before anything is written', async () => {
    const good = await packModule(await writeModule(join(base, 'src'), 'app', '1.0.1'))
    const evilFile = { ...good.manifest.files[0] as PackageManifest['files'][number], path: '../../../evil.js' }
    const manifest: PackageManifest = { ...good.manifest, files: [evilFile, ...good.manifest.files], size: good.manifest.size + evilFile.size }
    await publishUnchecked(repo.dir, repo.keys, { manifest, manifestBytes: encodeManifest(manifest), chunks: good.chunks })
    await expectRefused(async () => await pm.update(), 'ERR_PKG_UNSAFE_PATH')
    await expect(readFile(join(dataDir, 'evil.js'))).rejects.toThrow()
  })

  it('a manifest lying about its size (total, or a chunk shorter than its bytes) is refused', async () => {
    const good = await packModule(await writeModule(join(base, 'src'), 'app', '1.0.1', { extraFiles: { 'lib/big.js': pseudoText(40_000, 9) } }))
    const lie: PackageManifest = { ...good.manifest, size: 100 }
    await publishUnchecked(repo.dir, repo.keys, { manifest: lie, manifestBytes: encodeManifest(lie), chunks: good.chunks })
    await expectRefused(async () => await pm.update(), 'ERR_PKG_SIZE_MISMATCH')

    // Consistent sums, but the first chunk of big.js is declared 100 bytes shorter than it is.
    const files = good.manifest.files.map(f => f.path !== 'lib/big.js'
      ? f
      : { ...f, size: f.size - 100, chunks: f.chunks.map(([h, n], i): [string, number] => [h, i === 0 ? n - 100 : n]) })
    const shorter: PackageManifest = { ...good.manifest, version: '1.0.2', files, size: good.manifest.size - 100 }
    await publishUnchecked(repo.dir, repo.keys, { manifest: shorter, manifestBytes: encodeManifest(shorter), chunks: good.chunks })
    await expectRefused(async () => await pm.update(), 'ERR_PKG_SIZE_MISMATCH')
  })

  it('a dependency cycle is refused with the cycle named', async () => {
    await repo.publish(await writeModule(join(base, 'src'), 'ping', '1.0.0', { dependencies: { pong: '^1.0.0' } }))
    await repo.publish(await writeModule(join(base, 'src'), 'pong', '1.0.0', { dependencies: { ping: '^1.0.0' } }))
    const err = await expectRefused(async () => await pm.install(['ping']), 'ERR_PKG_DEPENDENCY_CYCLE')
    expect(err.message).toMatch(/ping -> pong -> ping|pong -> ping -> pong/)
  })

  it('an unsatisfiable set is refused with the chain of requirements explained', async () => {
    await repo.publish(await writeModule(join(base, 'src'), 'lib', '1.0.0'))
    await repo.publish(await writeModule(join(base, 'src'), 'web', '1.0.0', { dependencies: { lib: '^2.0.0' } }))
    await repo.publish(await writeModule(join(base, 'src'), 'web', '1.1.0', { dependencies: { lib: '^3.0.0' } }))
    const err = await expectRefused(async () => await pm.install(['web']), 'ERR_PKG_UNSATISFIABLE')
    expect(err.message).toContain('web 1.0.0 depends on lib ^2.0.0')
    expect(err.message).toContain('web 1.1.0 depends on lib ^3.0.0')
    expect(err.message).toMatch(/request/)
  })
})

describe('signature thresholds', () => {
  it('targets signed by one key when the root demands two are refused', async () => {
    const base = await tempDir()
    const server = await serveFolder(join(base, 'repo'))
    try {
      const dir = join(base, 'repo')
      const keysDir = join(base, 'keys')
      await initRepository(dir, keysDir, { keys: { targets: 2 }, thresholds: { targets: 2 } })
      const { publishPackage } = await import('../../../src/modules/package-manager/index.ts')
      await publishPackage(dir, keysDir, await packModule(await writeModule(join(base, 'src'), 'app', '1.0.0')))
      const pm = new PackageManager({ dataDir: join(base, 'data') })
      await pm.addRepository('main', server.url, { root: new Uint8Array(await readFile(join(dir, 'root.json'))) })
      await pm.install(['app'])

      // One targets key leaks, with the online snapshot and timestamp keys: the attacker signs a new release.
      const keys = await loadKeys(keysDir)
      const stolen = keys.filter(k => k.role !== 'targets' || k === keys.find(x => x.role === 'targets'))
      const evil: PackedModule = await packModule(await writeModule(join(base, 'evil'), 'app', '1.0.1'))
      const ts = Metadata.fromJSON(MetadataKind.Timestamp, JSON.parse(await readFile(join(dir, 'metadata/timestamp.json'), 'utf8')))
      const snap = Metadata.fromJSON(MetadataKind.Snapshot, JSON.parse(await readFile(join(dir, `metadata/${ts.signed.snapshotMeta.version}.snapshot.json`), 'utf8')))
      const tv = snap.signed.meta['targets.json']?.version as number
      const targets = Metadata.fromJSON(MetadataKind.Targets, JSON.parse(await readFile(join(dir, `metadata/${tv}.targets.json`), 'utf8')))
      const target = manifestTarget('app', '1.0.1')
      const hash = sha256Hex(evil.manifestBytes)
      await writeFile(join(dir, targetFilePath(target, hash)), evil.manifestBytes).catch(async () => {
        const { mkdir } = await import('node:fs/promises')
        await mkdir(join(dir, 'targets/packages/app'), { recursive: true })
        await writeFile(join(dir, targetFilePath(target, hash)), evil.manifestBytes)
      })
      const newTargets = new Metadata(new Targets({
        version: tv + 1, specVersion: targets.signed.specVersion, expires: targets.signed.expires,
        targets: { ...targets.signed.targets, [target]: new TargetFile({ path: target, length: evil.manifestBytes.length, hashes: { sha256: hash } }) }
      }))
      for (const k of stolen.filter(k => k.role === 'targets')) newTargets.sign(signer(k))
      const tBytes = metadataBytes(newTargets)
      await writeFile(join(dir, `metadata/${tv + 1}.targets.json`), tBytes)
      const newSnap = new Metadata(new Snapshot({
        version: snap.signed.version + 1, specVersion: snap.signed.specVersion, expires: snap.signed.expires,
        meta: { 'targets.json': new MetaFile({ version: tv + 1, length: tBytes.length, hashes: { sha256: sha256Hex(tBytes) } }) }
      }))
      newSnap.sign(signer(stolen.find(k => k.role === 'snapshot') as never))
      const sBytes = metadataBytes(newSnap)
      await writeFile(join(dir, `metadata/${snap.signed.version + 1}.snapshot.json`), sBytes)
      const newTs = new Metadata(new Timestamp({
        version: ts.signed.version + 1, specVersion: ts.signed.specVersion, expires: ts.signed.expires,
        snapshotMeta: new MetaFile({ version: snap.signed.version + 1, length: sBytes.length, hashes: { sha256: sha256Hex(sBytes) } })
      }))
      newTs.sign(signer(stolen.find(k => k.role === 'timestamp') as never))
      await copyFile(join(dir, 'metadata/timestamp.json'), join(base, 'old-timestamp.json'))
      await writeFile(join(dir, 'metadata/timestamp.json'), metadataBytes(newTs))

      const err = await pm.update().then(() => undefined, (e: unknown) => e as { code?: string, message: string })
      expect(err?.code, err?.message).toBe('ERR_PKG_BAD_SIGNATURE')
      expect(err?.message).toMatch(/1\/2/)
      expect((await pm.list()).map(p => p.version)).toEqual(['1.0.0'])
    } finally {
      await server.close()
      await removeDir(base)
    }
  })
})

describe('key rotation', () => {
  it('clients follow rotated keys through the root chain, and refuse what the retired keys sign', async () => {
    const base = await tempDir()
    const server = await serveFolder(join(base, 'repo'))
    try {
      const repo = await makeRepository(base)
      await repo.publish(await writeModule(join(base, 'src'), 'app', '1.0.0'))
      const pm = new PackageManager({ dataDir: join(base, 'data') })
      await pm.addRepository('main', server.url, { root: repo.root })
      await pm.install(['app'])
      const before = await loadKeys(repo.keys)

      // The targets key leaked: rotate it, then rotate the root keys too (the client walks root 1 -> 2 -> 3).
      const { rotateKeys } = await import('../../../src/modules/package-manager/index.ts')
      await rotateKeys(repo.dir, repo.keys, 'targets')
      expect((await rotateKeys(repo.dir, repo.keys, 'root')).rootVersion).toBe(3)
      await repo.publish(await writeModule(join(base, 'src'), 'app', '1.1.0'))
      expect((await pm.update()).changes).toEqual([{ name: 'app', from: '1.0.0', to: '1.1.0' }])
      expect(JSON.parse(await readFile(join(base, 'data/packages/repositories/main/metadata/root.json'), 'utf8')).signed.version).toBe(3)

      // The holder of the retired targets key signs a release; the online keys are honest, so it gets a snapshot.
      const retired = before.find(k => k.role === 'targets')
      const current = await loadKeys(repo.keys)
      const ts = Metadata.fromJSON(MetadataKind.Timestamp, JSON.parse(await readFile(join(repo.dir, 'metadata/timestamp.json'), 'utf8')))
      const snap = Metadata.fromJSON(MetadataKind.Snapshot, JSON.parse(await readFile(join(repo.dir, `metadata/${ts.signed.snapshotMeta.version}.snapshot.json`), 'utf8')))
      const tv = snap.signed.meta['targets.json']?.version as number
      const targets = Metadata.fromJSON(MetadataKind.Targets, JSON.parse(await readFile(join(repo.dir, `metadata/${tv}.targets.json`), 'utf8')))
      const forged = new Metadata(new Targets({ version: tv + 1, specVersion: targets.signed.specVersion, expires: targets.signed.expires, targets: targets.signed.targets }))
      forged.sign(signer(retired as never))
      const tBytes = metadataBytes(forged)
      await writeFile(join(repo.dir, `metadata/${tv + 1}.targets.json`), tBytes)
      const newSnap = new Metadata(new Snapshot({
        version: snap.signed.version + 1, specVersion: snap.signed.specVersion, expires: snap.signed.expires,
        meta: { 'targets.json': new MetaFile({ version: tv + 1, length: tBytes.length, hashes: { sha256: sha256Hex(tBytes) } }) }
      }))
      newSnap.sign(signer(current.find(k => k.role === 'snapshot') as never))
      const sBytes = metadataBytes(newSnap)
      await writeFile(join(repo.dir, `metadata/${snap.signed.version + 1}.snapshot.json`), sBytes)
      const newTs = new Metadata(new Timestamp({
        version: ts.signed.version + 1, specVersion: ts.signed.specVersion, expires: ts.signed.expires,
        snapshotMeta: new MetaFile({ version: snap.signed.version + 1, length: sBytes.length, hashes: { sha256: sha256Hex(sBytes) } })
      }))
      newTs.sign(signer(current.find(k => k.role === 'timestamp') as never))
      await writeFile(join(repo.dir, 'metadata/timestamp.json'), metadataBytes(newTs))
      await expect(pm.update()).rejects.toMatchObject({ code: 'ERR_PKG_BAD_SIGNATURE' })
      expect((await pm.list()).map(p => p.version)).toEqual(['1.1.0'])
    } finally {
      await server.close()
      await removeDir(base)
    }
  })
})
