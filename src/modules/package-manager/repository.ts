import { canonicalize } from '@tufjs/canonical-json'
import { Metadata, MetadataKind, MetaFile, Root, Snapshot, TargetFile, Targets, Timestamp } from '@tufjs/models'
import type { Key } from '@tufjs/models'
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from '../../common/index.ts'
import {
  ROOT_EXPIRY_DAYS, SNAPSHOT_EXPIRY_DAYS, TARGETS_EXPIRY_DAYS, TIMESTAMP_EXPIRY_DAYS, TUF_SPEC_VERSION
} from './constants.ts'
import { BadPackageError, RepositoryConfigError, RepositoryError } from './errors.ts'
import { sha256Hex } from './hash.ts'
import { TUF_ROLES, generateSigningKey, loadKeys, retireKeys, saveKeys, signer } from './keys.ts'
import type { SigningKey, TufRole } from './keys.ts'
import { encodeDescriptor, encodeManifest, makeDescriptor, manifestChunks, parseManifest, uniqueChunks } from './package-format.ts'
import type { PackedModule } from './pack.ts'

/**
 * A package repository: a folder any static file server (or a git repository) can serve.
 *
 *   root.json                          the first root, handed to clients out of band as their trust anchor
 *   metadata/<n>.root.json             every root version (clients walk them in order: TUF 5.3)
 *   metadata/timestamp.json            short-lived, signed by the timestamp key; names the current snapshot
 *   metadata/<n>.snapshot.json         names the current targets version (consistent snapshots: TUF 7)
 *   metadata/<n>.targets.json          the signed list of targets with their lengths and SHA-256
 *   targets/<sha256>.index.json        target "index.json": every package version with its dependencies
 *   targets/packages/<name>/<sha256>.<version>.json   target "packages/<name>/<version>.json": a package descriptor
 *                                      (the manifest's SHA-256, size and chunks)
 *   chunks/<ab>/<sha256>               content-addressed chunks of files and of manifests, trusted through the
 *                                      descriptor and manifest that name them
 *
 * Publishing writes chunks, then targets, then targets/snapshot metadata, and the timestamp last, by rename: a
 * client sees the old repository or the new one, never a mix.
 */

export const INDEX_TARGET = 'index.json'
export const INDEX_FORMAT = 'logos-index/1'

export function manifestTarget (name: string, version: string): string {
  return `packages/${name}/${version}.json`
}

export function chunkPath (hash: string): string {
  return `chunks/${hash.slice(0, 2)}/${hash}`
}

/** The path a target is stored under with consistent snapshots: its hash before its file name. */
export function targetFilePath (targetPath: string, sha256: string): string {
  const slash = targetPath.lastIndexOf('/')
  return slash === -1 ? `targets/${sha256}.${targetPath}` : `targets/${targetPath.slice(0, slash)}/${sha256}.${targetPath.slice(slash + 1)}`
}

export interface IndexEntry {
  description?: string
  dependencies: Record<string, string>
  /** Sum of the package's file sizes. */
  size: number
  /** The manifest's target path. */
  manifest: string
}

export interface RepositoryIndex {
  format: string
  /** name -> version -> entry */
  packages: Record<string, Record<string, IndexEntry>>
}

export interface RepositoryInit {
  /** Keys per role (default 1 each). */
  keys?: Partial<Record<TufRole, number>>
  /** Signatures needed per role (default 1 each); at most the number of keys. */
  thresholds?: Partial<Record<TufRole, number>>
  now?: Date
}

export interface SignOptions {
  now?: Date
  /** Expiry per role, overriding the defaults (tests make expired metadata this way). */
  expires?: Partial<Record<TufRole, Date>>
}

function isoExpiry (date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z')
}

function expiry (role: TufRole, options: SignOptions): string {
  const given = options.expires?.[role]
  if (given !== undefined) return isoExpiry(given)
  const days = { root: ROOT_EXPIRY_DAYS, targets: TARGETS_EXPIRY_DAYS, snapshot: SNAPSHOT_EXPIRY_DAYS, timestamp: TIMESTAMP_EXPIRY_DAYS }[role]
  return isoExpiry(new Date((options.now ?? new Date()).getTime() + days * 86_400_000))
}

type AnyMetadata = Metadata<Root> | Metadata<Targets> | Metadata<Snapshot> | Metadata<Timestamp>

/** Serialised metadata: compact JSON (the signature covers the canonical form of `signed`, not these bytes). */
export function metadataBytes (md: AnyMetadata): Buffer {
  return Buffer.from(JSON.stringify(md.toJSON()))
}

function metaFileOf (version: number, bytes: Uint8Array): MetaFile {
  return new MetaFile({ version, length: bytes.length, hashes: { sha256: sha256Hex(bytes) } })
}

/** Signs with every key of the role the root lists; refuses when fewer than its threshold are at hand. */
function signRole (md: AnyMetadata, role: TufRole, root: Root, keys: SigningKey[]): void {
  const spec = root.roles[role]
  if (spec === undefined) throw new RepositoryError(`root has no ${role} role`)
  const usable = keys.filter(k => spec.keyIDs.includes(k.key.keyID))
  if (usable.length < spec.threshold) {
    throw new RepositoryConfigError(`${role} needs ${spec.threshold} signatures; the key folder has ${usable.length} of its keys`)
  }
  md.signatures = {}
  for (const k of usable) md.sign(signer(k), true)
}

async function exists (path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch {
    return false
  }
}

/** Creates an empty repository and its keys (apart from it: the key folder must not be served). */
export async function initRepository (dir: string, keysDir: string, init: RepositoryInit = {}): Promise<{ rootFile: string, keyIds: Record<TufRole, string[]> }> {
  if (await exists(join(dir, 'metadata', 'timestamp.json'))) throw new RepositoryConfigError(`${dir} already holds a repository`)
  const keys: SigningKey[] = []
  const roles: Record<string, { keyids: string[], threshold: number }> = {}
  const keyMap: Record<string, Key> = {}
  const keyIds = {} as Record<TufRole, string[]>
  for (const role of TUF_ROLES) {
    const count = init.keys?.[role] ?? 1
    const threshold = init.thresholds?.[role] ?? 1
    if (!Number.isInteger(count) || count < 1 || !Number.isInteger(threshold) || threshold < 1 || threshold > count) {
      throw new RepositoryConfigError(`${role}: need 1 <= threshold (${threshold}) <= keys (${count})`)
    }
    const ids: string[] = []
    for (let i = 0; i < count; i++) {
      const k = generateSigningKey(role)
      keys.push(k)
      keyMap[k.key.keyID] = k.key
      ids.push(k.key.keyID)
    }
    roles[role] = { keyids: ids, threshold }
    keyIds[role] = ids
  }
  await saveKeys(keysDir, keys)
  const options: SignOptions = { now: init.now }
  // Built from its JSON form: @tufjs/models exports no Role class, and fromJSON validates every field.
  const root = new Metadata(Root.fromJSON({
    spec_version: TUF_SPEC_VERSION,
    version: 1,
    expires: expiry('root', options),
    consistent_snapshot: true,
    keys: Object.fromEntries(Object.entries(keyMap).map(([id, k]) => [id, k.toJSON()])),
    roles
  }))
  signRole(root, 'root', root.signed, keys)
  await mkdir(join(dir, 'metadata'), { recursive: true })
  await writeFileAtomic(join(dir, 'metadata', '1.root.json'), metadataBytes(root))
  await writeFileAtomic(join(dir, 'root.json'), metadataBytes(root))
  await commit(dir, root.signed, keys, { format: INDEX_FORMAT, packages: {} }, {}, 1, 1, 1, options)
  return { rootFile: join(dir, 'root.json'), keyIds }
}

interface RepositoryState {
  root: Root
  targets: Metadata<Targets>
  snapshotVersion: number
  timestampVersion: number
  index: RepositoryIndex
}

type JSONObject = Parameters<typeof Root.fromJSON>[0]

async function readJson (path: string): Promise<JSONObject> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as JSONObject
  } catch (err) {
    throw new RepositoryError(`cannot read ${path}: ${(err as Error).message}`, { cause: err })
  }
}

/** Reads the repository's current metadata (the newest root, and what timestamp -> snapshot -> targets name). */
export async function readRepository (dir: string): Promise<RepositoryState> {
  const metaDir = join(dir, 'metadata')
  let rootVersion = 0
  for (const name of await readdir(metaDir)) {
    const m = /^(\d+)\.root\.json$/.exec(name)
    if (m !== null) rootVersion = Math.max(rootVersion, Number(m[1]))
  }
  if (rootVersion === 0) throw new RepositoryError(`${dir} has no root metadata`)
  const root = Metadata.fromJSON(MetadataKind.Root, await readJson(join(metaDir, `${rootVersion}.root.json`)))
  const timestamp = Metadata.fromJSON(MetadataKind.Timestamp, await readJson(join(metaDir, 'timestamp.json')))
  const snapshotVersion = timestamp.signed.snapshotMeta.version
  const snapshot = Metadata.fromJSON(MetadataKind.Snapshot, await readJson(join(metaDir, `${snapshotVersion}.snapshot.json`)))
  const targetsMeta = snapshot.signed.meta['targets.json']
  if (targetsMeta === undefined) throw new RepositoryError('snapshot does not name targets.json')
  const targets = Metadata.fromJSON(MetadataKind.Targets, await readJson(join(metaDir, `${targetsMeta.version}.targets.json`)))
  const indexTarget = targets.signed.targets[INDEX_TARGET]
  if (indexTarget === undefined) throw new RepositoryError('targets do not list index.json')
  const index = await readJson(join(dir, targetFilePath(INDEX_TARGET, indexTarget.hashes.sha256 as string))) as unknown as RepositoryIndex
  return { root: root.signed, targets, snapshotVersion, timestampVersion: timestamp.signed.version, index }
}

/** Writes a target file (content-addressed name) and returns its TUF description. */
async function writeTarget (dir: string, targetPath: string, bytes: Uint8Array): Promise<TargetFile> {
  const hash = sha256Hex(bytes)
  const file = join(dir, targetFilePath(targetPath, hash))
  if (!await exists(file)) await writeFileAtomic(file, bytes)
  return new TargetFile({ path: targetPath, length: bytes.length, hashes: { sha256: hash } })
}

/** Writes index, targets, snapshot and (last, by rename) timestamp metadata. */
async function commit (dir: string, root: Root, keys: SigningKey[], index: RepositoryIndex, previousTargets: Record<string, TargetFile>,
  targetsVersion: number, snapshotVersion: number, timestampVersion: number, options: SignOptions): Promise<void> {
  const indexBytes = new TextEncoder().encode(canonicalize(index))
  const targetMap: Record<string, TargetFile> = { ...previousTargets, [INDEX_TARGET]: await writeTarget(dir, INDEX_TARGET, indexBytes) }
  const targets = new Metadata(new Targets({ version: targetsVersion, specVersion: TUF_SPEC_VERSION, expires: expiry('targets', options), targets: targetMap }))
  signRole(targets, 'targets', root, keys)
  const targetsBytes = metadataBytes(targets)
  await writeFileAtomic(join(dir, 'metadata', `${targetsVersion}.targets.json`), targetsBytes)
  const snapshot = new Metadata(new Snapshot({
    version: snapshotVersion, specVersion: TUF_SPEC_VERSION, expires: expiry('snapshot', options),
    meta: { 'targets.json': metaFileOf(targetsVersion, targetsBytes) }
  }))
  signRole(snapshot, 'snapshot', root, keys)
  const snapshotBytes = metadataBytes(snapshot)
  await writeFileAtomic(join(dir, 'metadata', `${snapshotVersion}.snapshot.json`), snapshotBytes)
  await writeTimestamp(dir, root, keys, timestampVersion, metaFileOf(snapshotVersion, snapshotBytes), options)
}

async function writeTimestamp (dir: string, root: Root, keys: SigningKey[], version: number, snapshotMeta: MetaFile, options: SignOptions): Promise<void> {
  const timestamp = new Metadata(new Timestamp({ version, specVersion: TUF_SPEC_VERSION, expires: expiry('timestamp', options), snapshotMeta }))
  signRole(timestamp, 'timestamp', root, keys)
  await writeFileAtomic(join(dir, 'metadata', 'timestamp.json'), metadataBytes(timestamp))
}

export interface PublishResult {
  name: string
  version: string
  manifestSha256: string
  chunks: number
  newChunks: number
  newChunkBytes: number
  targetsVersion: number
}

/**
 * Adds a package to a repository: its new chunks, its manifest as a signed target, a new index, and new targets,
 * snapshot and timestamp metadata. A version once published is immutable: publishing other bytes under it is refused.
 */
export async function publishPackage (dir: string, keysDir: string, pkg: PackedModule, options: SignOptions = {}): Promise<PublishResult> {
  // The same checks a client makes: a repository should never sign what clients will refuse.
  const manifest = parseManifest(pkg.manifestBytes)
  if (Buffer.compare(encodeManifest(manifest), Buffer.from(pkg.manifestBytes)) !== 0) throw new BadPackageError('manifest bytes are not canonical')
  return await publishUnchecked(dir, keysDir, { manifest, manifestBytes: pkg.manifestBytes, chunks: pkg.chunks }, options)
}

/**
 * Publishes manifest bytes as given, without the format checks: what a publishing tool other than ours (or a
 * compromised one) could sign. Clients check everything again; tests use this to play such a publisher.
 */
export async function publishUnchecked (dir: string, keysDir: string, pkg: PackedModule, options: SignOptions = {}): Promise<PublishResult> {
  const state = await readRepository(dir)
  const keys = await loadKeys(keysDir)
  const { manifest } = pkg
  const target = manifestTarget(manifest.name, manifest.version)
  const manifestSha256 = sha256Hex(pkg.manifestBytes)
  const existing = state.targets.signed.targets[target]
  if (existing !== undefined) {
    if (existing.hashes.sha256 === sha256Hex(encodeDescriptor(makeDescriptor(manifest, pkg.manifestBytes)))) {
      return { name: manifest.name, version: manifest.version, manifestSha256, chunks: uniqueChunks(manifest).length, newChunks: 0, newChunkBytes: 0, targetsVersion: state.targets.signed.version }
    }
    throw new BadPackageError(`${manifest.name}@${manifest.version} is already published with other content; publish a new version`)
  }
  let newChunks = 0
  let newChunkBytes = 0
  const unique = uniqueChunks(manifest)
  const writeChunk = async (hash: string, bytes: Uint8Array | undefined, len: number): Promise<void> => {
    const file = join(dir, chunkPath(hash))
    if (await exists(file)) return
    if (bytes === undefined || bytes.length !== len || sha256Hex(bytes) !== hash) throw new BadPackageError(`chunk ${hash} is missing or wrong in the package`)
    await mkdir(join(dir, 'chunks', hash.slice(0, 2)), { recursive: true })
    await writeFile(file, bytes)
    newChunks++
    newChunkBytes += len
  }
  for (const [hash, len] of unique) await writeChunk(hash, pkg.chunks.get(hash), len)
  for (const c of manifestChunks(pkg.manifestBytes)) await writeChunk(c.hash, c.bytes, c.bytes.length)
  const manifestFile = await writeTarget(dir, target, encodeDescriptor(makeDescriptor(manifest, pkg.manifestBytes)))
  const index: RepositoryIndex = { format: INDEX_FORMAT, packages: { ...state.index.packages } }
  const entry: IndexEntry = { dependencies: manifest.dependencies, size: manifest.size, manifest: target }
  if (manifest.description !== undefined) entry.description = manifest.description
  index.packages[manifest.name] = { ...(index.packages[manifest.name] ?? {}), [manifest.version]: entry }
  const previous = { ...state.targets.signed.targets, [target]: manifestFile }
  const targetsVersion = state.targets.signed.version + 1
  await commit(dir, state.root, keys, index, previous, targetsVersion, state.snapshotVersion + 1, state.timestampVersion + 1, options)
  return { name: manifest.name, version: manifest.version, manifestSha256, chunks: unique.length, newChunks, newChunkBytes, targetsVersion }
}

/** Signs a new timestamp over the current snapshot: what a repository does at least daily to stay fresh. */
export async function refreshTimestamp (dir: string, keysDir: string, options: SignOptions = {}): Promise<number> {
  const state = await readRepository(dir)
  const keys = await loadKeys(keysDir)
  const snapshotBytes = await readFile(join(dir, 'metadata', `${state.snapshotVersion}.snapshot.json`))
  const version = state.timestampVersion + 1
  await writeTimestamp(dir, state.root, keys, version, metaFileOf(state.snapshotVersion, snapshotBytes), options)
  return version
}

export interface RotateOptions extends SignOptions {
  /** How many new keys (default: as many as the role had). */
  keys?: number
  /** Signatures the role will need (default: its current threshold, at most the new key count). */
  threshold?: number
}

/**
 * Replaces every key of a role (after a compromise, or routinely): a new root version names the new keys and is
 * signed by a threshold of the old root keys and, when the root role itself rotates, of the new ones too (TUF 5.3.4),
 * so clients walking the root chain accept it. The role's metadata is then re-signed with the new keys under new
 * versions. The old keys are retired in the key folder; anything they sign from now on is refused by clients.
 */
export async function rotateKeys (dir: string, keysDir: string, role: TufRole, options: RotateOptions = {}): Promise<{ rootVersion: number, keyIds: string[] }> {
  const state = await readRepository(dir)
  const oldKeys = await loadKeys(keysDir)
  const old = state.root.roles[role]
  if (old === undefined) throw new RepositoryError(`root has no ${role} role`)
  const count = options.keys ?? old.keyIDs.length
  const threshold = options.threshold ?? Math.min(old.threshold, count)
  if (!Number.isInteger(count) || count < 1 || !Number.isInteger(threshold) || threshold < 1 || threshold > count) {
    throw new RepositoryConfigError(`${role}: need 1 <= threshold (${threshold}) <= keys (${count})`)
  }
  const fresh = Array.from({ length: count }, () => generateSigningKey(role))
  const json = state.root.toJSON() as Record<string, unknown> & { keys: Record<string, unknown>, roles: Record<string, { keyids: string[], threshold: number }> }
  const roles = { ...json.roles, [role]: { keyids: fresh.map(k => k.key.keyID), threshold } }
  const used = new Set(Object.values(roles).flatMap(r => r.keyids))
  const keys: Record<string, unknown> = {}
  for (const [id, k] of Object.entries(json.keys)) if (used.has(id)) keys[id] = k
  for (const k of fresh) keys[k.key.keyID] = k.key.toJSON()
  const version = state.root.version + 1
  const root = new Metadata(Root.fromJSON({ ...json, version, expires: expiry('root', options), keys, roles } as unknown as JSONObject))
  // Signed by the old root keys (the client checks the new root against the old one), and by the new root keys when
  // the root role itself changes (it checks the new root against itself).
  const oldRoot = oldKeys.filter(k => state.root.roles.root?.keyIDs.includes(k.key.keyID))
  const signers = role === 'root' ? [...oldRoot, ...fresh] : oldRoot
  if (oldRoot.length < (state.root.roles.root?.threshold ?? 1)) throw new RepositoryConfigError('the key folder lacks a threshold of the current root keys')
  root.signatures = {}
  for (const k of signers) root.sign(signer(k), true)
  await writeFileAtomic(join(dir, 'metadata', `${version}.root.json`), metadataBytes(root))
  await retireKeys(keysDir, role)
  await saveKeys(keysDir, fresh)
  // Re-sign the online roles under new versions, so their signatures are by the keys the new root names.
  const keysNow = await loadKeys(keysDir)
  await commit(dir, root.signed, keysNow, state.index, state.targets.signed.targets, state.targets.signed.version + 1, state.snapshotVersion + 1, state.timestampVersion + 1, options)
  return { rootVersion: version, keyIds: fresh.map(k => k.key.keyID) }
}
