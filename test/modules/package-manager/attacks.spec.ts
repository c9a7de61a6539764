import { Metadata, MetadataKind, MetaFile, Snapshot, TargetFile, Targets, Timestamp } from '@tufjs/models'
import { copyFile, readFile, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  PackageManager, chunkPath, encodeManifest, initRepository, installedModuleDirs, loadKeys, manifestTarget, metadataBytes,
  packModule, publishUnchecked, refreshTimestamp, rotateKeys, sha256Hex, signer, targetFilePath
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

  const pkgDir = (): string => join(dataDir, 'packages')

  /** The version of each role's metadata the client trusts (persisted by tuf-js between runs). */
  async function trustedVersions (): Promise<Record<string, number>> {
    const dir = join(pkgDir(), 'repositories', 'main', 'metadata')
    const out: Record<string, number> = {}
    for (const name of await readdir(dir)) {
      if (!name.endsWith('.json')) continue
      out[name] = (JSON.parse(await readFile(join(dir, name), 'utf8')) as { signed: { version: number } }).signed.version
    }
    return out
  }

  /** Every file of the chunk store: name -> whether its bytes hash to its name (partial/ downloads excepted). */
  async function chunkFiles (): Promise<Record<string, boolean>> {
    const out: Record<string, boolean> = {}
    const dir = join(pkgDir(), 'chunks')
    for (const prefix of await readdir(dir).catch(() => [] as string[])) {
      if (prefix === 'partial') continue
      for (const name of await readdir(join(dir, prefix))) out[name] = sha256Hex(await readFile(join(dir, prefix, name))) === name
    }
    return out
  }

  /** What a refused operation must leave: the same state, no staging, no extra builds, everything verifying. */
  async function snapshotInstallation (): Promise<unknown> {
    const store: string[] = []
    for (const name of await readdir(join(pkgDir(), 'store'))) {
      for (const b of await readdir(join(pkgDir(), 'store', name))) store.push(`${name}/${b}`)
    }
    let staging: string[] = []
    try {
      staging = await readdir(join(pkgDir(), 'staging'))
    } catch {
      // never created
    }
    return {
      current: await readFile(join(pkgDir(), 'current.json'), 'utf8'),
      list: await pm.list(),
      store: store.sort(),
      staging,
      verify: await pm.verify(),
      dirs: await installedModuleDirs(dataDir)
    }
  }

  /**
   * Runs an operation that must be refused with `code`, and checks it left everything as it was: current.json, the
   * installed builds, no staging, every build verifying, nothing new loadable; no trusted metadata older than before
   * (a rollback never lands); no chunk in the store that does not hash to its name. With `fetchesNothing` (attacks
   * caught in the TUF metadata, before any package is looked at) the chunk store must not have changed at all;
   * otherwise chunks that verified may have been kept for a later attempt.
   */
  async function expectRefused (operation: () => Promise<unknown>, code: string, options: { fetchesNothing?: boolean } = {}): Promise<Error> {
    const before = await snapshotInstallation()
    const versionsBefore = await trustedVersions()
    const chunksBefore = await chunkFiles()
    const err = await operation().then(() => undefined, (e: unknown) => e as Error & { code?: string })
    expect(err, `expected ${code}`).toBeDefined()
    expect((err as { code?: string }).code, (err as Error).message).toBe(code)
    expect(await snapshotInstallation()).toEqual(before)
    const versionsAfter = await trustedVersions()
    for (const [file, version] of Object.entries(versionsBefore)) expect(versionsAfter[file], file).toBeGreaterThanOrEqual(version)
    const chunksAfter = await chunkFiles()
    expect(Object.entries(chunksAfter).filter(([, ok]) => !ok)).toEqual([])
    if (options.fetchesNothing === true) expect(chunksAfter).toEqual(chunksBefore)
    return err as Error
  }

  /** The repository's current timestamp, snapshot and targets as served. */
  async function served (): Promise<{ ts: Metadata<Timestamp>, snap: Metadata<Snapshot>, snapBytes: Buffer, targetsVersion: number, targetsBytes: Buffer }> {
    const ts = Metadata.fromJSON(MetadataKind.Timestamp, JSON.parse(await readFile(join(repo.dir, 'metadata', 'timestamp.json'), 'utf8')))
    const snapBytes = await readFile(join(repo.dir, 'metadata', `${ts.signed.snapshotMeta.version}.snapshot.json`))
    const snap = Metadata.fromJSON(MetadataKind.Snapshot, JSON.parse(snapBytes.toString()))
    const targetsVersion = snap.signed.meta['targets.json']?.version as number
    const targetsBytes = await readFile(join(repo.dir, 'metadata', `${targetsVersion}.targets.json`))
    return { ts, snap, snapBytes, targetsVersion, targetsBytes }
  }

  const metaFile = (version: number, bytes: Uint8Array): MetaFile => new MetaFile({ version, length: bytes.length, hashes: { sha256: sha256Hex(bytes) } })

  /** Answers the given paths with the given bytes (what an attacker in the middle, or on the server, does). */
  function serve (files: Record<string, Uint8Array>): void {
    server.intercept = async (_req, res, path) => {
      const body = files[path]
      if (body === undefined) return false
      res.writeHead(200).end(body)
      return true
    }
  }

  /** A moment well in the past: metadata signed to expire then was signed long ago (no race with the clock). */
  const longAgo = (): Date => new Date(Date.now() - 3600_000)

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
    serve({ 'metadata/timestamp.json': old })
    await expectRefused(async () => await pm.update(), 'ERR_PKG_ROLLBACK_ATTACK', { fetchesNothing: true })
  })

  it('rollback: a newer timestamp naming an older snapshot than the one trusted is refused (timestamp key stolen)', async () => {
    const old = await served()
    await publishNext()
    await pm.update()
    const now = await served()
    // The thief of the online timestamp key signs a fresh timestamp that points back at the old snapshot.
    const forged = new Metadata(new Timestamp({
      version: now.ts.signed.version + 1, specVersion: now.ts.signed.specVersion, expires: now.ts.signed.expires,
      snapshotMeta: metaFile(old.snap.signed.version, old.snapBytes)
    }))
    forged.sign(signer((await loadKeys(repo.keys)).find(k => k.role === 'timestamp') as never))
    serve({ 'metadata/timestamp.json': metadataBytes(forged) })
    const err = await expectRefused(async () => await pm.update(), 'ERR_PKG_ROLLBACK_ATTACK', { fetchesNothing: true })
    expect(err.message).toMatch(/snapshot/)
  })

  it('rollback: a newer snapshot naming older targets than the ones trusted is refused (online keys stolen)', async () => {
    const old = await served()
    await publishNext()
    await pm.update()
    const now = await served()
    const keys = await loadKeys(repo.keys)
    // With the snapshot and timestamp keys, an attacker serves a fresh snapshot that brings the old targets back.
    const snap = new Metadata(new Snapshot({
      version: now.snap.signed.version + 1, specVersion: now.snap.signed.specVersion, expires: now.snap.signed.expires,
      meta: { 'targets.json': metaFile(old.targetsVersion, old.targetsBytes) }
    }))
    snap.sign(signer(keys.find(k => k.role === 'snapshot') as never))
    const snapBytes = metadataBytes(snap)
    const ts = new Metadata(new Timestamp({
      version: now.ts.signed.version + 1, specVersion: now.ts.signed.specVersion, expires: now.ts.signed.expires,
      snapshotMeta: metaFile(snap.signed.version, snapBytes)
    }))
    ts.sign(signer(keys.find(k => k.role === 'timestamp') as never))
    serve({ 'metadata/timestamp.json': metadataBytes(ts), [`metadata/${snap.signed.version}.snapshot.json`]: snapBytes })
    const err = await expectRefused(async () => await pm.update(), 'ERR_PKG_ROLLBACK_ATTACK', { fetchesNothing: true })
    expect(err.message).toMatch(/targets/)
  })

  it('rollback: an older root served as the next root version is refused', async () => {
    // The repository rotates its timestamp key (root version 2), and the client follows.
    await rotateKeys(repo.dir, repo.keys, 'timestamp')
    await publishNext()
    await pm.update()
    expect((await trustedVersions())['root.json']).toBe(2)
    // Root 1 still carries valid signatures of the (unchanged) root keys; served as version 3 it must not land.
    serve({ 'metadata/3.root.json': await readFile(join(repo.dir, 'metadata', '1.root.json')) })
    const err = await expectRefused(async () => await pm.update(), 'ERR_PKG_ROLLBACK_ATTACK', { fetchesNothing: true })
    expect(err.message).toMatch(/version 3, got 1/)
  })

  it('freeze: a newer timestamp that has expired (replayed after the fact) is refused', async () => {
    // The repository signed a timestamp long ago; it expired before this client asked, and it is what gets served.
    await publishNext()
    await refreshTimestamp(repo.dir, repo.keys, { expires: { timestamp: longAgo() } })
    const err = await expectRefused(async () => await pm.update(), 'ERR_PKG_METADATA_EXPIRED', { fetchesNothing: true })
    expect(err.message).toMatch(/timestamp/)
  })

  it('freeze: a fresh timestamp naming an expired snapshot is refused', async () => {
    // The snapshot stopped being re-signed (or an attacker with the timestamp key keeps pointing at a stale one).
    await repo.publish(await writeModule(join(base, 'src'), 'app', '1.0.1'), { expires: { snapshot: longAgo() } })
    const err = await expectRefused(async () => await pm.update(), 'ERR_PKG_METADATA_EXPIRED', { fetchesNothing: true })
    expect(err.message).toMatch(/snapshot/)
  })

  it('freeze: fresh timestamp and snapshot naming expired targets are refused', async () => {
    await repo.publish(await writeModule(join(base, 'src'), 'app', '1.0.1'), { expires: { targets: longAgo() } })
    const err = await expectRefused(async () => await pm.update(), 'ERR_PKG_METADATA_EXPIRED', { fetchesNothing: true })
    expect(err.message).toMatch(/targets/)
  })

  it('freeze: a new root that has expired is refused', async () => {
    await rotateKeys(repo.dir, repo.keys, 'timestamp', { expires: { root: longAgo() } })
    const err = await expectRefused(async () => await pm.update(), 'ERR_PKG_METADATA_EXPIRED', { fetchesNothing: true })
    expect(err.message).toMatch(/root/)
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
    await expectRefused(async () => await pm.update(), 'ERR_PKG_MIX_AND_MATCH', { fetchesNothing: true })
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
    await expectRefused(async () => await pm.update(), 'ERR_PKG_ENDLESS_DATA', { fetchesNothing: true })
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
      await expectRefused(async () => await pm.update(), 'ERR_PKG_BAD_SIGNATURE', { fetchesNothing: true })
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
