import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import semver from 'semver'
import { InvalidArgumentError, throwIfAborted, writeFileAtomic } from '../../common/index.ts'
import { ChunkStore } from './chunk-store.ts'
import { mapLimit } from './concurrency.ts'
import { DOWNLOAD_CONCURRENCY, MAX_TRANSACTION_PACKAGES, TUF_ROOT_MAX_BYTES } from './constants.ts'
import { downloadChunk, fetchBytes } from './download.ts'
import {
  NotInstalledError, PackageNotFoundError, RepositoryConfigError, RequiredByError, RollbackUnavailableError
} from './errors.ts'
import {
  acquireLock, assembleBuild, buildDir, newTransactionId, packagesDir, promoteBuild, readState, recover, verifyBuild,
  writeState
} from './installation.ts'
import type { InstalledBuild, InstalledPackage, InstalledState, RecoveryReport, VerifyReport } from './installation.ts'
import { uniqueChunks } from './package-format.ts'
import type { PackageManifest } from './package-format.ts'
import { RepositoryClient } from './repository-client.ts'
import type { IndexEntry } from './repository.ts'
import { assertAcyclic, solve } from './solver.ts'
import type { PackageSource, SourceOptions } from './source.ts'
import { openSource } from './sources.ts'

const REPOSITORY_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/

export interface RepositoryConfig {
  name: string
  url: string
}

/** What an operation reports as it goes; `download` events carry byte counts for progress bars. */
export interface Progress {
  /**
   * refresh: TUF metadata; resolve: solving; manifests: fetching them; download: chunks; stage: assembling builds;
   * commit: moving builds into the store; switch: about to replace current.json (the one rename); done.
   */
  phase: 'refresh' | 'resolve' | 'manifests' | 'download' | 'stage' | 'commit' | 'switch' | 'done'
  name?: string
  doneBytes?: number
  totalBytes?: number
  doneChunks?: number
  totalChunks?: number
}

export interface PackageManagerOptions {
  /** The node's data directory; the installation lives in its packages/ folder. */
  dataDir: string
  /** Modules present without installation (built in), name -> version: dependencies may name them. */
  builtins?: Record<string, string>
  onProgress?: (progress: Progress) => void
  /** Makes sources; defaults to openSource (folder, http(s), git, and registered kinds). */
  openSource?: (url: string, options: SourceOptions) => PackageSource
}

export interface Change {
  name: string
  from?: string
  to?: string
}

export interface TransactionResult {
  changes: Change[]
  /** Bytes received from sources during the operation (metadata, manifests, chunks). */
  transferredBytes: number
  chunksFetched: number
  chunksReused: number
  generation: number
}

export interface SearchResult {
  name: string
  latest: string
  versions: string[]
  description?: string
  repository: string
}

interface Catalog {
  clients: RepositoryClient[]
  /** name -> the repository that owns it (the first configured one that publishes it) and its versions. */
  packages: Map<string, { client: RepositoryClient, versions: Record<string, IndexEntry> }>
}

interface Planned {
  name: string
  version: string
  client: RepositoryClient
  manifest: PackageManifest
  manifestBytes: Uint8Array
  sha256: string
}

/** Parses "name", "name@range". */
export function parseSpec (spec: string): { name: string, range?: string } {
  const at = spec.indexOf('@', 1)
  const name = at === -1 ? spec : spec.slice(0, at)
  const range = at === -1 ? undefined : spec.slice(at + 1)
  if (!/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/.test(name)) throw new InvalidArgumentError(`"${spec}": not a package name`)
  if (range !== undefined && semver.validRange(range) === null) throw new InvalidArgumentError(`"${spec}": "${range}" is not a semver range`)
  return range === undefined ? { name } : { name, range }
}

/**
 * The package manager: repositories (TUF-verified), dependency resolution, incremental downloads into the shared
 * chunk store, and atomic installs with rollback. One instance per operation or per node; operations on one data
 * directory are serialised by the installation lock, across processes too.
 */
export class PackageManager {
  readonly dataDir: string
  readonly dir: string
  private readonly builtins: Record<string, string>
  private readonly onProgress: (progress: Progress) => void
  private readonly makeSource: (url: string, options: SourceOptions) => PackageSource
  private readonly store: ChunkStore
  private transferred = 0

  constructor (options: PackageManagerOptions) {
    this.dataDir = options.dataDir
    this.dir = packagesDir(options.dataDir)
    this.builtins = options.builtins ?? {}
    this.onProgress = options.onProgress ?? (() => {})
    this.makeSource = options.openSource ?? openSource
    this.store = new ChunkStore(join(this.dir, 'chunks'))
  }

  // ---- repositories -------------------------------------------------------------------------------------------------

  private get reposFile (): string {
    return join(this.dir, 'repositories.json')
  }

  private repoMetadataDir (name: string): string {
    return join(this.dir, 'repositories', name, 'metadata')
  }

  async repositories (): Promise<RepositoryConfig[]> {
    try {
      const parsed = JSON.parse(await readFile(this.reposFile, 'utf8')) as { repositories?: RepositoryConfig[] }
      return Array.isArray(parsed.repositories) ? parsed.repositories : []
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw new RepositoryConfigError(`${this.reposFile}: ${(err as Error).message}`, { cause: err })
    }
  }

  /**
   * Adds a repository with its trust anchor: the root.json given (out of band), or, with `trustOnFirstUse`, the
   * repository's first root as it serves it now. Checks it at once with a full TUF refresh.
   */
  async addRepository (name: string, url: string, trust: { root?: Uint8Array, trustOnFirstUse?: boolean } = {}, options: { signal?: AbortSignal } = {}): Promise<RepositoryConfig> {
    if (!REPOSITORY_NAME.test(name)) throw new InvalidArgumentError(`"${name}" is not a repository name (lowercase letters, digits, . _ -)`)
    const repos = await this.repositories()
    if (repos.some(r => r.name === name)) throw new RepositoryConfigError(`a repository named ${name} is already configured`)
    let root = trust.root
    const source = this.makeSource(url, { cacheDir: join(this.dir, 'cache') })
    try {
      if (root === undefined) {
        if (trust.trustOnFirstUse !== true) throw new RepositoryConfigError(`repository ${name}: give its root.json (or choose trust on first use)`)
        root = await fetchBytes(source, 'metadata/1.root.json', { maxBytes: TUF_ROOT_MAX_BYTES, signal: options.signal })
      }
      const metaDir = this.repoMetadataDir(name)
      await rm(metaDir, { recursive: true, force: true })
      await mkdir(metaDir, { recursive: true })
      await writeFile(join(metaDir, 'root.json'), root)
      try {
        const client = new RepositoryClient({ name, source, metadataDir: metaDir, signal: options.signal })
        await client.refresh()
        await client.index()
      } catch (err) {
        await rm(join(this.dir, 'repositories', name), { recursive: true, force: true })
        throw err
      }
    } finally {
      await source.close()
    }
    const entry = { name, url }
    await writeFileAtomic(this.reposFile, JSON.stringify({ repositories: [...repos, entry] }, null, 2) + '\n')
    return entry
  }

  async removeRepository (name: string): Promise<void> {
    const repos = await this.repositories()
    if (!repos.some(r => r.name === name)) throw new RepositoryConfigError(`no repository named ${name}`)
    await writeFileAtomic(this.reposFile, JSON.stringify({ repositories: repos.filter(r => r.name !== name) }, null, 2) + '\n')
    await rm(join(this.dir, 'repositories', name), { recursive: true, force: true })
  }

  private meter (): { onBytes: (n: number) => void } {
    return { onBytes: (n: number) => { this.transferred += n } }
  }

  /** Opens and refreshes every configured repository (TUF), and merges their indexes: the first one owns a name. */
  private async catalog (signal?: AbortSignal): Promise<Catalog> {
    const repos = await this.repositories()
    if (repos.length === 0) throw new RepositoryConfigError('no repository is configured (logos pkg repo add NAME URL --root root.json)')
    const clients: RepositoryClient[] = []
    const packages: Catalog['packages'] = new Map()
    try {
      for (const repo of repos) {
        this.onProgress({ phase: 'refresh', name: repo.name })
        const source = this.makeSource(repo.url, { cacheDir: join(this.dir, 'cache') })
        const client = new RepositoryClient({ name: repo.name, source, metadataDir: this.repoMetadataDir(repo.name), meter: this.meter(), signal })
        clients.push(client)
        await client.refresh()
        const index = await client.index()
        for (const [name, versions] of Object.entries(index.packages)) {
          if (!packages.has(name)) packages.set(name, { client, versions })
        }
      }
    } catch (err) {
      await Promise.all(clients.map(async c => { await c.source.close() }))
      throw err
    }
    return { clients, packages }
  }

  private async closeCatalog (catalog: Catalog): Promise<void> {
    await Promise.all(catalog.clients.map(async c => { await c.source.close() }))
  }

  // ---- queries ------------------------------------------------------------------------------------------------------

  async list (): Promise<InstalledPackage[]> {
    const state = await readState(this.dir)
    return Object.values(state.packages).sort((a, b) => a.name.localeCompare(b.name))
  }

  async search (query = '', options: { signal?: AbortSignal } = {}): Promise<SearchResult[]> {
    const catalog = await this.catalog(options.signal)
    try {
      const q = query.toLowerCase()
      const out: SearchResult[] = []
      for (const [name, { client, versions }] of catalog.packages) {
        const sorted = Object.keys(versions).filter(v => semver.valid(v) !== null).sort(semver.rcompare)
        const latest = sorted[0]
        if (latest === undefined) continue
        const description = versions[latest]?.description
        if (q !== '' && !name.includes(q) && !(description ?? '').toLowerCase().includes(q)) continue
        const r: SearchResult = { name, latest, versions: sorted, repository: client.name }
        if (description !== undefined) r.description = description
        out.push(r)
      }
      return out.sort((a, b) => a.name.localeCompare(b.name))
    } finally {
      await this.closeCatalog(catalog)
    }
  }

  /** Checks installed builds against their manifests (all when no names are given). */
  async verify (names?: string[]): Promise<VerifyReport[]> {
    const state = await readState(this.dir)
    const wanted = names === undefined || names.length === 0 ? Object.keys(state.packages).sort() : names
    const out: VerifyReport[] = []
    for (const name of wanted) {
      const pkg = state.packages[name]
      if (pkg === undefined) throw new NotInstalledError(name)
      out.push(await verifyBuild(this.dir, name, pkg))
    }
    return out
  }

  /** Cleans what an interrupted run left (staging, uncommitted builds, unused chunks). */
  async recover (): Promise<RecoveryReport> {
    const release = await acquireLock(this.dir)
    try {
      return await recover(this.dir, { chunks: true, locked: true })
    } finally {
      await release()
    }
  }

  // ---- changes ------------------------------------------------------------------------------------------------------

  /** Installs packages ("name" or "name@range") and what they need; the others stay at their versions if they can. */
  async install (specs: string[], options: { signal?: AbortSignal } = {}): Promise<TransactionResult> {
    const parsed = specs.map(parseSpec)
    return await this.transaction(options.signal, async () => {
      const requests = new Map<string, string | undefined>()
      for (const p of parsed) requests.set(p.name, p.range)
      return { requests, updating: new Set<string>() }
    })
  }

  /** Moves packages (all requested ones when no names are given) to the newest versions their ranges allow. */
  async update (names: string[] = [], options: { signal?: AbortSignal } = {}): Promise<TransactionResult> {
    return await this.transaction(options.signal, async (state) => {
      for (const n of names) if (state.packages[n] === undefined) throw new NotInstalledError(n)
      const updating = new Set(names.length === 0 ? Object.keys(state.packages) : names)
      return { requests: new Map(), updating }
    })
  }

  /** Removes a package and the dependencies nothing else needs; refused while another installed package needs it. */
  async remove (name: string, options: { signal?: AbortSignal } = {}): Promise<TransactionResult> {
    const release = await acquireLock(this.dir)
    try {
      throwIfAborted(options.signal)
      await recover(this.dir, { locked: true })
      const state = await readState(this.dir)
      if (state.packages[name] === undefined) throw new NotInstalledError(name)
      const dependents = Object.values(state.packages).filter(p => p.name !== name && p.dependencies[name] !== undefined).map(p => p.name)
      // Dependents that are themselves only there for `name` go with it; anything else that needs it blocks.
      const keep = new Set<string>()
      const visit = (n: string): void => {
        if (keep.has(n) || n === name) return
        keep.add(n)
        for (const dep of Object.keys(state.packages[n]?.dependencies ?? {})) if (state.packages[dep] !== undefined) visit(dep)
      }
      for (const p of Object.values(state.packages)) if (p.requested && p.name !== name) visit(p.name)
      const blocking = dependents.filter(d => keep.has(d))
      if (blocking.length > 0) throw new RequiredByError(name, blocking)
      const next: InstalledState = { ...state, generation: state.generation + 1, packages: {} }
      const changes: Change[] = []
      for (const p of Object.values(state.packages)) {
        if (keep.has(p.name)) next.packages[p.name] = p
        else changes.push({ name: p.name, from: p.version })
      }
      this.onProgress({ phase: 'commit' })
      await writeState(this.dir, next)
      await recover(this.dir, { locked: true, chunks: true })
      this.onProgress({ phase: 'done' })
      return { changes, transferredBytes: 0, chunksFetched: 0, chunksReused: 0, generation: next.generation }
    } finally {
      await release()
    }
  }

  /** Switches a package back to the build it replaced (kept for this), if the others still accept that version. */
  async rollback (name: string, options: { signal?: AbortSignal } = {}): Promise<TransactionResult> {
    const release = await acquireLock(this.dir)
    try {
      throwIfAborted(options.signal)
      await recover(this.dir, { locked: true })
      const state = await readState(this.dir)
      const pkg = state.packages[name]
      if (pkg === undefined) throw new NotInstalledError(name)
      const previous = pkg.previous
      if (previous === undefined) throw new RollbackUnavailableError(name, 'no previous version is kept')
      const report = await verifyBuild(this.dir, name, previous)
      if (!report.ok) throw new RollbackUnavailableError(name, `the kept build ${previous.version} does not verify: ${report.problems.join('; ')}`)
      const current: InstalledBuild = { version: pkg.version, manifestSha256: pkg.manifestSha256, dir: pkg.dir, dependencies: pkg.dependencies, repository: pkg.repository }
      const swapped: InstalledPackage = { ...pkg, ...previous, previous: current, installedAt: Date.now() }
      const next: InstalledState = { ...state, generation: state.generation + 1, packages: { ...state.packages, [name]: swapped } }
      // Every dependency range must still hold, both ways.
      for (const p of Object.values(next.packages)) {
        for (const [dep, range] of Object.entries(p.dependencies)) {
          const version = next.packages[dep]?.version ?? this.builtins[dep]
          if (version === undefined || !semver.satisfies(version, range)) {
            throw new RollbackUnavailableError(name, `${p.name}@${p.version} needs ${dep} ${range}, which ${name}@${previous.version} would break`)
          }
        }
      }
      this.onProgress({ phase: 'commit' })
      await writeState(this.dir, next)
      this.onProgress({ phase: 'done' })
      return { changes: [{ name, from: pkg.version, to: previous.version }], transferredBytes: 0, chunksFetched: 0, chunksReused: 0, generation: next.generation }
    } finally {
      await release()
    }
  }

  private async transaction (signal: AbortSignal | undefined, plan: (state: InstalledState) => Promise<{ requests: Map<string, string | undefined>, updating: Set<string> }>): Promise<TransactionResult> {
    const release = await acquireLock(this.dir)
    this.transferred = 0
    try {
      await recover(this.dir, { locked: true })
      const state = await readState(this.dir)
      const { requests, updating } = await plan(state)
      const catalog = await this.catalog(signal)
      try {
        this.onProgress({ phase: 'resolve' })
        for (const name of requests.keys()) {
          if (!catalog.packages.has(name)) throw new PackageNotFoundError(name)
        }
        const requirements: Record<string, string> = {}
        for (const p of Object.values(state.packages)) if (p.requested) requirements[p.name] = p.range ?? '*'
        for (const [name, range] of requests) requirements[name] = range ?? '*'
        const preferred: Record<string, string> = {}
        for (const p of Object.values(state.packages)) if (!updating.has(p.name)) preferred[p.name] = p.version
        const solution = solve({
          requirements,
          versions: (name) => Object.keys(catalog.packages.get(name)?.versions ?? {}),
          dependencies: (name, version) => catalog.packages.get(name)?.versions[version]?.dependencies ?? {},
          fixed: this.builtins,
          preferred
        })
        if (solution.selected.size > MAX_TRANSACTION_PACKAGES) throw new InvalidArgumentError(`the solution has ${solution.selected.size} packages, more than ${MAX_TRANSACTION_PACKAGES}`)
        const graph = new Map<string, string[]>()
        for (const [name, version] of solution.selected) {
          graph.set(name, Object.keys(catalog.packages.get(name)?.versions[version]?.dependencies ?? {}))
        }
        assertAcyclic(graph)
        // Manifests of what changes, verified against the signed targets.
        const planned: Planned[] = []
        this.onProgress({ phase: 'manifests' })
        for (const [name, version] of [...solution.selected].sort(([a], [b]) => a.localeCompare(b))) {
          const cur = state.packages[name]
          const owner = catalog.packages.get(name)
          if (owner === undefined) throw new PackageNotFoundError(name)
          if (cur !== undefined && cur.version === version && cur.repository === owner.client.name) continue
          const m = await owner.client.manifest(name, version, this.store)
          if (cur !== undefined && cur.manifestSha256 === m.sha256) continue
          planned.push({ name, version, client: owner.client, manifest: m.manifest, manifestBytes: m.bytes, sha256: m.sha256 })
        }
        const { fetched, reused } = await this.fetchChunks(planned, signal)
        const tx = newTransactionId()
        const stagingRoot = join(this.dir, 'staging', tx)
        for (const p of planned) {
          throwIfAborted(signal)
          this.onProgress({ phase: 'stage', name: p.name })
          await assembleBuild(this.store, p.manifest, p.manifestBytes, join(stagingRoot, p.name))
        }
        // Point of no return starts here: promote builds (invisible until current.json names them), then commit.
        this.onProgress({ phase: 'commit' })
        for (const p of planned) await promoteBuild(this.dir, join(stagingRoot, p.name), buildDir(p.name, p.version, p.sha256))
        const next: InstalledState = { ...state, generation: state.generation + 1, packages: {} }
        const changes: Change[] = []
        const now = Date.now()
        for (const [name, version] of solution.selected) {
          const cur = state.packages[name]
          const p = planned.find(x => x.name === name)
          const requested = requests.has(name) || cur?.requested === true
          const range = requests.has(name) ? (requests.get(name) ?? `^${version}`) : cur?.range
          if (p === undefined && cur !== undefined) {
            next.packages[name] = { ...cur, requested, ...(range === undefined ? {} : { range }) }
            continue
          }
          const build = p as Planned
          const entry: InstalledPackage = {
            name, version, manifestSha256: build.sha256, dir: buildDir(name, version, build.sha256), dependencies: build.manifest.dependencies,
            repository: build.client.name, requested, installedAt: now
          }
          if (range !== undefined) entry.range = range
          if (cur !== undefined) entry.previous = { version: cur.version, manifestSha256: cur.manifestSha256, dir: cur.dir, dependencies: cur.dependencies, repository: cur.repository }
          next.packages[name] = entry
          changes.push(cur === undefined ? { name, to: version } : { name, from: cur.version, to: version })
        }
        for (const name of Object.keys(state.packages)) {
          if (!solution.selected.has(name)) changes.push({ name, from: state.packages[name]?.version })
        }
        this.onProgress({ phase: 'switch' })
        await writeState(this.dir, next)
        await rm(stagingRoot, { recursive: true, force: true })
        await recover(this.dir, { locked: true, chunks: true })
        this.onProgress({ phase: 'done' })
        return { changes, transferredBytes: this.transferred, chunksFetched: fetched, chunksReused: reused, generation: next.generation }
      } finally {
        await this.closeCatalog(catalog)
      }
    } finally {
      await release()
    }
  }

  /** Downloads the chunks the planned builds need and the store lacks, a few at a time, with progress. */
  private async fetchChunks (planned: Planned[], signal?: AbortSignal): Promise<{ fetched: number, reused: number }> {
    const wanted: Array<{ hash: string, len: number, client: RepositoryClient }> = []
    const seen = new Set<string>()
    let reused = 0
    for (const p of planned) {
      for (const [hash, len] of uniqueChunks(p.manifest)) {
        if (seen.has(hash)) continue
        seen.add(hash)
        if (await this.store.has(hash)) reused++
        else wanted.push({ hash, len, client: p.client })
      }
    }
    const totalBytes = wanted.reduce((s, w) => s + w.len, 0)
    let doneBytes = 0
    let doneChunks = 0
    this.onProgress({ phase: 'download', doneBytes, totalBytes, doneChunks, totalChunks: wanted.length })
    await mapLimit(wanted, DOWNLOAD_CONCURRENCY, async (w) => {
      await downloadChunk(w.client.source, this.store, w.hash, w.len, {
        signal,
        onBytes: (n) => {
          this.transferred += n
          doneBytes += n
          this.onProgress({ phase: 'download', doneBytes, totalBytes, doneChunks, totalChunks: wanted.length })
        }
      })
      doneChunks++
      this.onProgress({ phase: 'download', doneBytes, totalBytes, doneChunks, totalChunks: wanted.length })
    })
    return { fetched: wanted.length, reused }
  }
}
