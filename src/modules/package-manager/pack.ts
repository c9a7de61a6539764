import { lstat, readFile, readdir } from 'node:fs/promises'
import { join, relative, sep } from 'node:path'
import { Chunker, DEFAULT_CHUNKER } from './chunker.ts'
import type { ChunkerParams } from './chunker.ts'
import { ARCHIVE_MAGIC, MAX_MANIFEST_BYTES, PACKAGE_FORMAT } from './constants.ts'
import { BadPackageError, ChunkHashMismatchError, SizeMismatchError } from './errors.ts'
import { sha256Hex } from './hash.ts'
import { assertSafePath, checkModuleJson, encodeManifest, parseManifest, uniqueChunks } from './package-format.ts'
import type { ChunkRef, FileEntry, PackageManifest } from './package-format.ts'

/** A package in memory: its manifest and the bytes of each chunk, by hash. */
export interface PackedModule {
  manifest: PackageManifest
  /** The manifest's canonical bytes. */
  manifestBytes: Uint8Array
  chunks: Map<string, Uint8Array>
}

/** Folders never packed: version control and our own installed-manifest file. */
const SKIPPED = new Set(['.git', '.hg', '.svn'])

async function listFiles (root: string, dir: string, out: string[]): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (SKIPPED.has(entry.name)) continue
    const full = join(dir, entry.name)
    const rel = relative(root, full).split(sep).join('/')
    if (entry.isSymbolicLink()) throw new BadPackageError(`${rel} is a symbolic link; packages hold regular files only`)
    if (entry.isDirectory()) await listFiles(root, full, out)
    else if (entry.isFile()) out.push(rel)
    else throw new BadPackageError(`${rel} is not a regular file`)
  }
}

/**
 * Makes a package from a module folder. Deterministic: files in byte order of their paths, modes reduced to 644/755,
 * no times or owners, canonical JSON; the same folder content always gives the same manifest and chunks.
 */
export async function packModule (dir: string, options: { chunker?: ChunkerParams } = {}): Promise<PackedModule> {
  const chunker = new Chunker(options.chunker ?? DEFAULT_CHUNKER)
  const paths: string[] = []
  await listFiles(dir, dir, paths)
  paths.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  const chunks = new Map<string, Uint8Array>()
  const files: FileEntry[] = []
  let size = 0
  let moduleJson: Uint8Array | undefined
  for (const path of paths) {
    assertSafePath(path)
    const full = join(dir, ...path.split('/'))
    const data = new Uint8Array(await readFile(full))
    const mode = ((await lstat(full)).mode & 0o111) !== 0 ? 0o755 : 0o644
    if (path === 'module.json') moduleJson = data
    const refs: ChunkRef[] = []
    let offset = 0
    for (const len of chunker.split(data)) {
      const bytes = data.subarray(offset, offset + len)
      const hash = sha256Hex(bytes)
      if (!chunks.has(hash)) chunks.set(hash, bytes)
      refs.push([hash, len])
      offset += len
    }
    files.push({ path, mode, size: data.length, sha256: sha256Hex(data), chunks: refs })
    size += data.length
  }
  if (moduleJson === undefined) throw new BadPackageError(`${dir} has no module.json`)
  let module: { name: string, version: string, description?: string, dependencies: Record<string, string> }
  try {
    module = JSON.parse(new TextDecoder().decode(moduleJson)) as typeof module
  } catch (err) {
    throw new BadPackageError(`${dir}/module.json is not valid JSON`, { cause: err })
  }
  const raw: Record<string, unknown> = {
    format: PACKAGE_FORMAT,
    name: module.name,
    version: module.version,
    dependencies: module.dependencies ?? {},
    chunker: { ...chunker.params },
    size,
    files
  }
  if (typeof module.description === 'string') raw.description = module.description
  const manifest = parseManifest(raw)
  checkModuleJson(manifest, moduleJson)
  return { manifest, manifestBytes: encodeManifest(manifest), chunks }
}

/**
 * Archive bytes of a package (one file, for `logos pkg pack` and `publish`):
 * "LOGOSPKG" | u32 BE format version (1) | u32 BE manifest length | manifest (canonical JSON) | each unique chunk's
 * bytes, in order of first appearance in the manifest. Nothing else: no times, no padding.
 */
export function encodeArchive (pkg: PackedModule): Uint8Array {
  const unique = uniqueChunks(pkg.manifest)
  const header = new Uint8Array(16)
  header.set(new TextEncoder().encode(ARCHIVE_MAGIC), 0)
  const view = new DataView(header.buffer)
  view.setUint32(8, 1)
  view.setUint32(12, pkg.manifestBytes.length)
  const parts: Uint8Array[] = [header, pkg.manifestBytes]
  for (const [hash] of unique) {
    const bytes = pkg.chunks.get(hash)
    if (bytes === undefined) throw new BadPackageError(`chunk ${hash} missing from the package`)
    parts.push(bytes)
  }
  return Buffer.concat(parts)
}

/** Reads an archive back, verifying every chunk against its hash and the total length against the manifest. */
export function decodeArchive (bytes: Uint8Array): PackedModule {
  if (bytes.length < 16 || new TextDecoder().decode(bytes.subarray(0, 8)) !== ARCHIVE_MAGIC) throw new BadPackageError('not a Logos package archive')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (view.getUint32(8) !== 1) throw new BadPackageError(`archive format version ${view.getUint32(8)} is not supported`)
  const manifestLength = view.getUint32(12)
  if (manifestLength > MAX_MANIFEST_BYTES || 16 + manifestLength > bytes.length) throw new SizeMismatchError('archive manifest length is out of bounds')
  const manifestBytes = bytes.slice(16, 16 + manifestLength)
  const manifest = parseManifest(manifestBytes)
  if (Buffer.compare(encodeManifest(manifest), manifestBytes) !== 0) throw new BadPackageError('archive manifest is not in canonical form')
  const unique = uniqueChunks(manifest)
  const expected = 16 + manifestLength + unique.reduce((s, [, len]) => s + len, 0)
  if (expected !== bytes.length) throw new SizeMismatchError(`archive is ${bytes.length} bytes, its manifest accounts for ${expected}`)
  const chunks = new Map<string, Uint8Array>()
  let offset = 16 + manifestLength
  for (const [hash, len] of unique) {
    const chunk = bytes.slice(offset, offset + len)
    const actual = sha256Hex(chunk)
    if (actual !== hash) throw new ChunkHashMismatchError(hash, actual)
    chunks.set(hash, chunk)
    offset += len
  }
  return { manifest, manifestBytes, chunks }
}
