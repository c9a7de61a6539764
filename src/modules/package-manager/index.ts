/**
 * The Package Manager: module packages (deterministic, content-defined chunks), TUF-signed repositories served from
 * a folder, HTTP(S) or git, a PubGrub-style solver, incremental updates through a shared chunk store, and atomic
 * installs with rollback and crash recovery. See docs/packages.md.
 *
 * The library is usable on its own (the CLI uses it); `packageManager` is the module a node runs, privileged so it
 * can load what it installs into the running kernel.
 */
import { join } from 'node:path'
import { defineModule } from '../../sdk/index.ts'
import type { ModuleContext } from '../../sdk/index.ts'
import { installedModules, readState, packagesDir } from './installation.ts'
import { PackageManager } from './package-manager.ts'
import { registerSourceKind } from './sources.ts'
import { STORAGE_SCHEME, StorageSource } from './storage-source.ts'
import type { Progress, TransactionResult } from './package-manager.ts'

export * from './errors.ts'
export * from './constants.ts'
export { Chunker, DEFAULT_CHUNKER, validateChunkerParams } from './chunker.ts'
export type { ChunkerParams } from './chunker.ts'
export { sha256Hex } from './hash.ts'
export {
  parseManifest, encodeManifest, manifestHash, assertSafePath, checkModuleJson, uniqueChunks, manifestChunks, makeDescriptor,
  encodeDescriptor, parseDescriptor
} from './package-format.ts'
export type { PackageManifest, FileEntry, ChunkRef, PackageDescriptor } from './package-format.ts'
export { packModule, encodeArchive, decodeArchive } from './pack.ts'
export type { PackedModule } from './pack.ts'
export { ChunkStore } from './chunk-store.ts'
export { fetchBytes, downloadChunk } from './download.ts'
export type { TransferMeter } from './download.ts'
export type { PackageSource, SourceRead, SourceReadOptions, SourceOptions, SourceFactory } from './source.ts'
export { FolderSource, HttpSource, GitSource, openSource, registerSourceKind } from './sources.ts'
export { generateSigningKey, loadKeys, saveKeys, retireKeys, signer, tufKey, TUF_ROLES } from './keys.ts'
export type { SigningKey, TufRole } from './keys.ts'
export {
  initRepository, publishPackage, publishUnchecked, refreshTimestamp, rotateKeys, readRepository, manifestTarget, chunkPath, targetFilePath,
  metadataBytes, INDEX_TARGET, INDEX_FORMAT
} from './repository.ts'
export type { RepositoryIndex, IndexEntry, RepositoryInit, SignOptions, PublishResult, RotateOptions } from './repository.ts'
export { RepositoryClient } from './repository-client.ts'
export { classifyTufError, tufErrorClasses } from './tuf-errors.ts'
export type { TufErrorClasses } from './tuf-errors.ts'
export { solve, assertAcyclic } from './solver.ts'
export type { SolverProblem, Solution } from './solver.ts'
export {
  installedModules, readState, recover, verifyBuild, packagesDir, acquireLock, lockHolder, readLock, INSTALLED_FORMAT
} from './installation.ts'
export type { InstalledPackage, InstalledBuild, InstalledState, VerifyReport, RecoveryReport, InstalledModules } from './installation.ts'
export { PackageManager, parseSpec } from './package-manager.ts'
export type { PackageManagerOptions, Progress, Change, TransactionResult, SearchResult, RepositoryConfig } from './package-manager.ts'

/**
 * The module folders of the packages installed under a node's data directory, for the node to load like built-in
 * ones (but untrusted: never privileged). Cleans up after an interrupted install first; a build whose files do not
 * match its manifest is left out.
 */
export async function installedModuleDirs (dataDir: string): Promise<string[]> {
  return (await installedModules(dataDir)).dirs
}

/** The module: the same operations as methods, and what it installs loaded into the running node. */
export const packageManager = defineModule({
  events: {
    progress: { description: '{ phase, name?, doneBytes?, totalBytes?, doneChunks?, totalChunks? } while an operation runs' },
    changed: { description: '{ changes: [{ name, from?, to? }], generation } after an operation committed' }
  },
  start (ctx: ModuleContext) {
    const dataDir = ctx.system?.dataDir ?? join(ctx.dataDir, '..', '..')
    const autoload = ctx.config.autoload !== false
    // Repositories published to Logos Storage (logos-storage:<cid>), read through the storage module by name.
    const unregisterStorage = registerSourceKind(STORAGE_SCHEME, (url) => new StorageSource(url, ctx.call))

    const builtins = async (): Promise<Record<string, string>> => {
      if (ctx.system === undefined) return {}
      const installed = (await readState(packagesDir(dataDir))).packages
      const out: Record<string, string> = {}
      for (const entry of ctx.system.list()) {
        if (installed[entry.name] === undefined && entry.name !== 'directory') out[entry.name] = entry.version
      }
      return out
    }
    const manager = async (): Promise<PackageManager> => new PackageManager({
      dataDir,
      builtins: await builtins(),
      onProgress: (p: Progress) => { ctx.emit('progress', p) }
    })

    /** Brings the running kernel in step with what was committed: load new packages, reload changed, unload removed. */
    const apply = async (result: TransactionResult): Promise<TransactionResult> => {
      ctx.emit('changed', { changes: result.changes, generation: result.generation })
      const system = ctx.system
      if (!autoload || system === undefined) return result
      const state = await readState(packagesDir(dataDir))
      const loaded = new Set(system.list().map(e => e.name))
      for (const change of result.changes) {
        try {
          const pkg = state.packages[change.name]
          if (pkg === undefined) {
            if (loaded.has(change.name)) await system.unload(change.name, { cascade: true })
            continue
          }
          const dir = join(packagesDir(dataDir), pkg.dir)
          if (loaded.has(change.name)) {
            await system.reload(change.name, { source: { dir } })
          } else {
            await system.load({ dir }, { trusted: false })
            await system.start(change.name)
          }
        } catch (err) {
          ctx.log.warn('could not bring a package into the running node', { name: change.name, error: (err as Error).message })
        }
      }
      return result
    }

    return {
      methods: {
        install: {
          description: 'Install packages ("name" or "name@range") and their dependencies',
          handler: async (p: { specs: string[] }, call) => await apply(await (await manager()).install(p.specs, { signal: call.signal }))
        },
        update: {
          description: 'Update the named packages (all when none) to the newest versions their ranges allow',
          handler: async (p: { names?: string[] } | undefined, call) => await apply(await (await manager()).update(p?.names ?? [], { signal: call.signal }))
        },
        remove: {
          description: 'Remove a package and the dependencies nothing else needs',
          handler: async (p: { name: string }, call) => await apply(await (await manager()).remove(p.name, { signal: call.signal }))
        },
        rollback: {
          description: 'Switch a package back to the version it replaced',
          handler: async (p: { name: string }, call) => await apply(await (await manager()).rollback(p.name, { signal: call.signal }))
        },
        list: {
          description: 'The installed packages',
          handler: async () => await (await manager()).list()
        },
        verify: {
          description: 'Check installed files against their manifests',
          handler: async (p: { names?: string[] } | undefined) => await (await manager()).verify(p?.names)
        },
        search: {
          description: 'Packages of the configured repositories whose name or description contains the query',
          handler: async (p: { query?: string } | undefined, call) => await (await manager()).search(p?.query ?? '', { signal: call.signal })
        },
        repositories: {
          description: 'The configured repositories',
          handler: async () => await (await manager()).repositories()
        },
        addRepository: {
          description: 'Add a repository: { name, url, root (root.json bytes or text) | trustOnFirstUse }',
          handler: async (p: { name: string, url: string, root?: Uint8Array | string, trustOnFirstUse?: boolean }, call) => {
            const root = typeof p.root === 'string' ? new TextEncoder().encode(p.root) : p.root
            return await (await manager()).addRepository(p.name, p.url, { root, trustOnFirstUse: p.trustOnFirstUse }, { signal: call.signal })
          }
        }
      },
      stop: () => { unregisterStorage() }
    }
  }
})
