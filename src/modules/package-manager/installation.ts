import { createHash, randomBytes } from 'node:crypto'
import { link, mkdir, open, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fsyncDir, writeFileAtomic } from '../../common/index.ts'
import { ChunkStore } from './chunk-store.ts'
import { mapLimit } from './concurrency.ts'
import { CURRENT_FILE, FILE_CONCURRENCY, INSTALLED_MANIFEST_FILE, LOCK_ATTEMPTS, LOCK_DIR, PACKAGES_DIR } from './constants.ts'
import { BadPackageError, FileHashMismatchError, InstallLockedError, SizeMismatchError, UnsafePathError } from './errors.ts'
import { sha256Hex } from './hash.ts'
import { checkModuleJson, manifestChunks, parseManifest } from './package-format.ts'
import type { PackageManifest } from './package-format.ts'

/**
 * The installation under `<data dir>/packages/`:
 *
 *   current.json                   which build of each package is current (and the one before): the commit point
 *   store/<name>/<version>-<hash>/ installed builds, immutable once renamed here, with .logos-package.json
 *   staging/<tx>/<name>/           builds being assembled; never loaded; removed by the next run after a crash
 *   chunks/<ab>/<sha256>           the chunk store shared by every version (chunks/partial/: resumable downloads)
 *   locks/<generation>             the installation lock: who changes the installation (see acquireLock)
 *
 * An install assembles and verifies each build in staging, fsyncs it, renames it into store/, and then replaces
 * current.json by one rename. Until that rename the previous current.json names the previous builds, which are
 * untouched; after it, the new ones. A crash anywhere leaves one or the other, plus leftovers that `recover` removes.
 */

export const INSTALLED_FORMAT = 'logos-installed/1'

export interface InstalledBuild {
  version: string
  manifestSha256: string
  /** Relative to the packages folder: store/<name>/<version>-<hash>. */
  dir: string
  dependencies: Record<string, string>
  repository: string
}

export interface InstalledPackage extends InstalledBuild {
  name: string
  /** Installed because asked for (not only as a dependency); `update` keeps these at their newest. */
  requested: boolean
  /** The range asked for, when requested. */
  range?: string
  /** The build it replaced, kept for rollback. */
  previous?: InstalledBuild
  installedAt: number
}

export interface InstalledState {
  format: string
  generation: number
  packages: Record<string, InstalledPackage>
}

export function packagesDir (dataDir: string): string {
  return join(dataDir, PACKAGES_DIR)
}

export function emptyState (): InstalledState {
  return { format: INSTALLED_FORMAT, generation: 0, packages: {} }
}

/** Reads current.json; missing means nothing installed. */
export async function readState (pkgDir: string): Promise<InstalledState> {
  let text: string
  try {
    text = await readFile(join(pkgDir, CURRENT_FILE), 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyState()
    throw err
  }
  const state = JSON.parse(text) as InstalledState
  if (state.format !== INSTALLED_FORMAT || typeof state.packages !== 'object' || state.packages === null) {
    throw new BadPackageError(`${join(pkgDir, CURRENT_FILE)} is not a ${INSTALLED_FORMAT} file`)
  }
  return state
}

/** The commit point: write a temporary file, fsync it, rename it over current.json, fsync the folder. */
export async function writeState (pkgDir: string, state: InstalledState): Promise<void> {
  await writeFileAtomic(join(pkgDir, CURRENT_FILE), JSON.stringify(state, null, 2) + '\n')
}

/** The folder name of one build: its version and the start of its manifest hash. */
export function buildDir (name: string, version: string, manifestSha256: string): string {
  return `store/${name}/${version}-${manifestSha256.slice(0, 16)}`
}

// ---- lock ------------------------------------------------------------------------------------------------------------

/**
 * The installation lock is a folder of generations, `locks/<generation>` (zero-padded decimal), each file the record
 * of one acquisition: `{ pid, at, nonce }`, or with `released: true` once its holder let go. The highest generation
 * says who holds the lock. A record is written in full to a temporary file and then hard-linked into place, so a
 * reader never sees a half-written one.
 *
 * Acquiring reads the highest generation g: a live, unreleased holder is an InstallLockedError; otherwise (released,
 * or its process is dead: a kill -9) the caller creates generation g + 1 with link(), which fails when it exists. So
 * when several processes find the same stale lock, exactly one creates g + 1 and the others see it and stop; a stale
 * lock is never removed, only superseded, so no process can delete a lock another has just taken. The highest
 * generation is never deleted (older ones are, by the holder of a newer one), hence generations only grow; a process
 * that created g + 1 on a stale view (after g + 1 had been superseded and cleaned) sees a higher generation when it
 * looks again, deletes its own and starts over.
 */

interface LockRecord {
  pid: number
  at: number
  nonce?: string
  released?: boolean
}

const GENERATION_DIGITS = 16

/** The nonces of the locks this process holds: the same pid in a record can be an earlier process's (pid reuse). */
const heldNonces = new Set<string>()

function alive (pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function generationName (generation: number): string {
  return String(generation).padStart(GENERATION_DIGITS, '0')
}

async function generations (lockDir: string): Promise<number[]> {
  let names: string[]
  try {
    names = await readdir(lockDir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
  return names.filter(n => n.length === GENERATION_DIGITS && /^\d+$/.test(n)).map(Number).sort((a, b) => a - b)
}

async function readRecord (file: string): Promise<LockRecord | undefined> {
  try {
    const record = JSON.parse(await readFile(file, 'utf8')) as LockRecord
    return typeof record === 'object' && record !== null && typeof record.pid === 'number' ? record : undefined
  } catch {
    // gone, or unreadable (a disk that lost it in a power cut): either way it holds nothing
    return undefined
  }
}

/** Whether a record still holds the lock: not released, and its process alive (and not an earlier one of our pid). */
function holds (record: LockRecord | undefined): record is LockRecord {
  if (record === undefined || record.released === true || !alive(record.pid)) return false
  if (record.pid === process.pid) return record.nonce !== undefined && heldNonces.has(record.nonce)
  return true
}

/** The record of the lock's current generation (held or not), or undefined when it was never taken. */
export async function readLock (pkgDir: string): Promise<LockRecord | undefined> {
  const lockDir = join(pkgDir, LOCK_DIR)
  const top = (await generations(lockDir)).at(-1)
  return top === undefined ? undefined : await readRecord(join(lockDir, generationName(top)))
}

/** The pid holding the lock, when another live process holds it. */
export async function lockHolder (pkgDir: string): Promise<number | undefined> {
  const record = await readLock(pkgDir)
  return holds(record) && record.pid !== process.pid ? record.pid : undefined
}

/** Writes a lock record to a temporary file in the lock folder, in full, for linking or renaming into place. */
async function writeRecordFile (lockDir: string, record: LockRecord): Promise<string> {
  const tmp = join(lockDir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`)
  await writeFile(tmp, JSON.stringify(record), { mode: 0o644 })
  return tmp
}

/** Deletes generations below `mine` and temporary files of dead processes (called by the holder of `mine`). */
async function cleanLockDir (lockDir: string, mine: number): Promise<void> {
  for (const g of await generations(lockDir)) {
    if (g < mine) await rm(join(lockDir, generationName(g)), { force: true })
  }
  for (const name of await readdir(lockDir)) {
    const m = /^\.tmp-(\d+)-/.exec(name)
    if (m !== null && Number(m[1]) !== process.pid && !alive(Number(m[1]))) await rm(join(lockDir, name), { force: true })
  }
}

/**
 * Takes the installation lock. A lock left by a dead process (kill -9) is taken over, by exactly one of the processes
 * that find it; one held by a live process is an InstallLockedError.
 */
export async function acquireLock (pkgDir: string): Promise<() => Promise<void>> {
  const lockDir = join(pkgDir, LOCK_DIR)
  await mkdir(lockDir, { recursive: true })
  const nonce = randomBytes(8).toString('hex')
  const tmp = await writeRecordFile(lockDir, { pid: process.pid, at: Date.now(), nonce })
  try {
    for (let attempt = 0; attempt < LOCK_ATTEMPTS; attempt++) {
      const top = (await generations(lockDir)).at(-1) ?? 0
      if (top > 0) {
        const record = await readRecord(join(lockDir, generationName(top)))
        if (holds(record)) throw new InstallLockedError(record.pid)
      }
      const mine = top + 1
      const file = join(lockDir, generationName(mine))
      try {
        await link(tmp, file)
      } catch (err) {
        // Another process took generation `mine` first: look again (it holds the lock now, or already let go).
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue
        throw err
      }
      if ((await generations(lockDir)).some(g => g > mine)) {
        // We looked at a superseded generation: ours is not the newest, so it holds nothing. Withdraw it.
        await rm(file, { force: true })
        continue
      }
      heldNonces.add(nonce)
      await cleanLockDir(lockDir, mine)
      return async () => {
        heldNonces.delete(nonce)
        const record = await readRecord(file)
        if (record?.nonce !== nonce) return
        // Released in one rename: readers see the holder's record or the released one, never a missing generation.
        const released = await writeRecordFile(lockDir, { ...record, released: true, at: Date.now() })
        await rename(released, file)
      }
    }
    const record = await readLock(pkgDir)
    throw new InstallLockedError(record?.pid ?? 0)
  } finally {
    await rm(tmp, { force: true })
  }
}

// ---- staging and verification -----------------------------------------------------------------------------------------

/** Joins a manifest path under a root, refusing anything that would land outside it (defence in depth). */
export function safeJoin (root: string, path: string): string {
  const full = join(root, ...path.split('/'))
  if (!full.startsWith(root + '/')) throw new UnsafePathError(path, 'resolves outside the package folder')
  return full
}

/**
 * Writes one package build into `dir` from the chunk store: every chunk verified as it is read, every file hashed
 * against the manifest before it is kept, every file and folder fsynced. Nothing is executed from here.
 */
export async function assembleBuild (store: ChunkStore, manifest: PackageManifest, manifestBytes: Uint8Array, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true })
  const dirs = new Set<string>([dir])
  for (const f of manifest.files) {
    const target = safeJoin(dir, f.path)
    const parent = target.slice(0, target.lastIndexOf('/'))
    if (!dirs.has(parent)) {
      await mkdir(parent, { recursive: true })
      dirs.add(parent)
    }
  }
  let moduleJson: Uint8Array | undefined
  await mapLimit(manifest.files, FILE_CONCURRENCY, async (f) => {
    const hash = createHash('sha256')
    const file = await open(safeJoin(dir, f.path), 'wx', f.mode)
    const parts: Uint8Array[] = []
    let size = 0
    try {
      for (const [chunk, len] of f.chunks) {
        const bytes = await store.get(chunk, len)
        hash.update(bytes)
        size += bytes.length
        await file.write(bytes)
        if (f.path === 'module.json') parts.push(bytes)
      }
      await file.chmod(f.mode)
      await file.sync()
    } finally {
      await file.close()
    }
    if (size !== f.size) throw new SizeMismatchError(`${manifest.name}: ${f.path} assembled to ${size} bytes, manifest says ${f.size}`)
    const actual = hash.digest('hex')
    if (actual !== f.sha256) throw new FileHashMismatchError(`${manifest.name}/${f.path}`, f.sha256, actual)
    if (f.path === 'module.json') moduleJson = Buffer.concat(parts)
  })
  checkModuleJson(manifest, moduleJson ?? new Uint8Array())
  await writeFileAtomic(join(dir, INSTALLED_MANIFEST_FILE), manifestBytes)
  for (const d of [...dirs].sort((a, b) => b.length - a.length)) await fsyncDir(d)
}

export interface VerifyReport {
  name: string
  version: string
  ok: boolean
  problems: string[]
}

/**
 * Checks an installed build against its manifest: the manifest's own hash, each file's hash and mode, and no file
 * the manifest does not list.
 */
export async function verifyBuild (pkgDir: string, name: string, build: InstalledBuild): Promise<VerifyReport> {
  const dir = join(pkgDir, build.dir)
  const problems: string[] = []
  let manifest: PackageManifest | undefined
  try {
    const bytes = new Uint8Array(await readFile(join(dir, INSTALLED_MANIFEST_FILE)))
    const actual = sha256Hex(bytes)
    if (actual !== build.manifestSha256) problems.push(`manifest hash ${actual} differs from the installed record ${build.manifestSha256}`)
    else manifest = parseManifest(bytes)
  } catch (err) {
    problems.push(`manifest unreadable: ${(err as Error).message}`)
  }
  if (manifest !== undefined) {
    const listed = new Set(manifest.files.map(f => f.path))
    const found = await mapLimit(manifest.files, FILE_CONCURRENCY, async (f) => {
      const out: string[] = []
      try {
        const file = await open(safeJoin(dir, f.path), 'r')
        try {
          const actual = sha256Hex(await file.readFile())
          if (actual !== f.sha256) out.push(`${f.path}: hash ${actual}, expected ${f.sha256}`)
          const mode = (await file.stat()).mode & 0o777
          if (mode !== f.mode) out.push(`${f.path}: mode ${mode.toString(8)}, expected ${f.mode.toString(8)}`)
        } finally {
          await file.close()
        }
      } catch (err) {
        out.push(`${f.path}: ${(err as Error).message}`)
      }
      return out
    })
    for (const p of found) problems.push(...p)
    for (const extra of await walk(dir, '')) {
      if (extra !== INSTALLED_MANIFEST_FILE && !listed.has(extra)) problems.push(`${extra}: not part of the package`)
    }
  }
  return { name, version: build.version, ok: problems.length === 0, problems }
}

async function walk (root: string, rel: string): Promise<string[]> {
  const out: string[] = []
  let entries
  try {
    entries = await readdir(join(root, rel), { withFileTypes: true })
  } catch {
    return out
  }
  for (const e of entries) {
    const p = rel === '' ? e.name : `${rel}/${e.name}`
    if (e.isDirectory()) out.push(...await walk(root, p))
    else out.push(p)
  }
  return out
}

/** Moves a staged build into the store (a rename); an identical build already there is kept as it is. */
export async function promoteBuild (pkgDir: string, staged: string, relDir: string): Promise<void> {
  const target = join(pkgDir, relDir)
  const parent = target.slice(0, target.lastIndexOf('/'))
  await mkdir(parent, { recursive: true })
  try {
    await stat(join(target, INSTALLED_MANIFEST_FILE))
    await rm(staged, { recursive: true, force: true })
    return
  } catch {
    // not there yet: promote
  }
  // A half-promoted folder cannot exist (rename is atomic), but an empty or foreign one could: clear it.
  await rm(target, { recursive: true, force: true })
  await rename(staged, target)
  await fsyncDir(parent)
}

export function newTransactionId (): string {
  return `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`
}

// ---- recovery -------------------------------------------------------------------------------------------------------

/** Chunks referenced by the builds current.json keeps (current and previous). */
export async function referencedChunks (pkgDir: string, state: InstalledState): Promise<Set<string>> {
  const keep = new Set<string>()
  for (const pkg of Object.values(state.packages)) {
    for (const build of [pkg, pkg.previous]) {
      if (build === undefined) continue
      try {
        const bytes = new Uint8Array(await readFile(join(pkgDir, build.dir, INSTALLED_MANIFEST_FILE)))
        const manifest = parseManifest(bytes)
        for (const f of manifest.files) for (const [hash] of f.chunks) keep.add(hash)
        // The manifest's own chunks, so the next update fetches only the part of the manifest that changed.
        for (const c of manifestChunks(bytes)) keep.add(c.hash)
      } catch {
        // a build that cannot be read keeps no chunks; verify reports it
      }
    }
  }
  return keep
}

export interface RecoveryReport {
  stagingRemoved: number
  buildsRemoved: number
  chunksRemoved: number
}

/**
 * Removes what an interrupted run left: staging folders, builds in store/ that current.json does not name (promoted
 * but never committed, or superseded), and, when `chunks` is set, chunks no kept build uses. Skipped while another
 * live process holds the lock.
 */
export async function recover (pkgDir: string, options: { chunks?: boolean, locked?: boolean } = {}): Promise<RecoveryReport> {
  const report: RecoveryReport = { stagingRemoved: 0, buildsRemoved: 0, chunksRemoved: 0 }
  if (options.locked !== true && await lockHolder(pkgDir) !== undefined) return report
  const state = await readState(pkgDir)
  try {
    for (const tx of await readdir(join(pkgDir, 'staging'))) {
      await rm(join(pkgDir, 'staging', tx), { recursive: true, force: true })
      report.stagingRemoved++
    }
  } catch {
    // no staging folder
  }
  const kept = new Set<string>()
  for (const pkg of Object.values(state.packages)) {
    kept.add(pkg.dir)
    if (pkg.previous !== undefined) kept.add(pkg.previous.dir)
  }
  try {
    for (const name of await readdir(join(pkgDir, 'store'))) {
      const builds = await readdir(join(pkgDir, 'store', name))
      let left = builds.length
      for (const build of builds) {
        const rel = `store/${name}/${build}`
        if (kept.has(rel)) continue
        await rm(join(pkgDir, rel), { recursive: true, force: true })
        report.buildsRemoved++
        left--
      }
      if (left === 0) await rm(join(pkgDir, 'store', name), { recursive: true, force: true })
    }
  } catch {
    // no store folder
  }
  if (options.chunks === true) {
    const store = new ChunkStore(join(pkgDir, 'chunks'))
    report.chunksRemoved = await store.collect(await referencedChunks(pkgDir, state))
  }
  return report
}

export interface InstalledModules {
  /** Folders of the current builds that verified, to load as modules. */
  dirs: string[]
  /** Builds that failed verification and are not loaded. */
  refused: VerifyReport[]
}

/**
 * The module folders of the installed packages, for the node to load (untrusted: never privileged). Cleans up after
 * an interrupted install first, and verifies each build's files against its manifest: a build that does not verify
 * is not loaded.
 */
export async function installedModules (dataDir: string): Promise<InstalledModules> {
  const pkgDir = packagesDir(dataDir)
  const out: InstalledModules = { dirs: [], refused: [] }
  try {
    await stat(pkgDir)
  } catch {
    return out
  }
  // Clean up only under the lock: a live installer's staging is not a leftover.
  let release: (() => Promise<void>) | undefined
  try {
    release = await acquireLock(pkgDir)
  } catch (err) {
    if (!(err instanceof InstallLockedError)) throw err
  }
  if (release !== undefined) {
    try {
      await recover(pkgDir, { locked: true })
    } finally {
      await release()
    }
  }
  const state = await readState(pkgDir)
  for (const name of Object.keys(state.packages).sort()) {
    const pkg = state.packages[name] as InstalledPackage
    const report = await verifyBuild(pkgDir, name, pkg)
    if (report.ok) out.dirs.push(join(pkgDir, pkg.dir))
    else out.refused.push(report)
  }
  return out
}
