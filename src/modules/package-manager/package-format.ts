import { canonicalize } from '@tufjs/canonical-json'
import semver from 'semver'
import { validateManifest } from '../../sdk/index.ts'
import type { ModuleManifest } from '../../sdk/index.ts'
import { Chunker, validateChunkerParams } from './chunker.ts'
import type { ChunkerParams } from './chunker.ts'
import {
  CHUNK_LIMIT_BYTES, CHUNKER_ALGORITHM, DESCRIPTOR_FORMAT, INSTALLED_MANIFEST_FILE, MANIFEST_CHUNK_AVG_BYTES,
  MANIFEST_CHUNK_MAX_BYTES, MANIFEST_CHUNK_MIN_BYTES, MAX_MANIFEST_BYTES, MAX_PACKAGE_BYTES, MAX_PACKAGE_FILES, MAX_PATH_LENGTH, PACKAGE_FORMAT
} from './constants.ts'
import { BadPackageError, SizeMismatchError, UnsafePathError } from './errors.ts'
import { isSha256Hex, sha256Hex } from './hash.ts'

/**
 * The package format (logos-package/1).
 *
 * A package is a manifest plus content-addressed chunks. The manifest names the module (name, version, description,
 * dependencies as semver ranges) and lists every file with its mode, size, SHA-256 and the chunks it is made of, in
 * order; a chunk is named by the SHA-256 of its bytes, so chunks shared by two versions (or two files) are stored and
 * fetched once. The manifest is serialised as canonical JSON (OLPC: sorted keys, no spaces, integers only), files
 * sorted by path, so one module folder always gives the same bytes.
 */

/** [chunk SHA-256 hex, chunk length in bytes] */
export type ChunkRef = [string, number]

export interface FileEntry {
  /** Relative POSIX path inside the module folder ("index.ts", "lib/util.ts"). */
  path: string
  /** 0o644, or 0o755 for files that were executable. */
  mode: number
  size: number
  sha256: string
  chunks: ChunkRef[]
}

export interface PackageManifest {
  format: string
  name: string
  version: string
  description?: string
  /** name -> semver range, the same as the module.json's. */
  dependencies: Record<string, string>
  chunker: ChunkerParams
  /** Sum of the file sizes. */
  size: number
  files: FileEntry[]
}

/** Canonical bytes of a manifest: the bytes that are hashed, signed (as a TUF target) and stored. */
export function encodeManifest (manifest: PackageManifest): Uint8Array {
  return new TextEncoder().encode(canonicalize(manifest))
}

/** The manifest's SHA-256, which names one exact package build. */
export function manifestHash (manifest: PackageManifest): string {
  return sha256Hex(encodeManifest(manifest))
}

// Control characters (U+0000-U+001F, U+007F), backslash and colon.
// eslint-disable-next-line no-control-regex
const FORBIDDEN_CHARS = /[\u0000-\u001f\u007f\\:]/

/**
 * Refuses any file name that is not a plain relative path staying inside the package folder: absolute paths, `..`
 * and `.` segments, empty segments, backslashes (a separator on Windows), colons (drive letters, NTFS streams),
 * control characters and over-long names.
 */
export function assertSafePath (path: unknown): asserts path is string {
  if (typeof path !== 'string' || path.length === 0) throw new UnsafePathError(String(path), 'not a non-empty string')
  if (path.length > MAX_PATH_LENGTH) throw new UnsafePathError(path.slice(0, 64) + '...', `longer than ${MAX_PATH_LENGTH} characters`)
  if (path.startsWith('/')) throw new UnsafePathError(path, 'absolute path')
  if (FORBIDDEN_CHARS.test(path)) throw new UnsafePathError(path, 'control character, backslash or colon')
  if (path.normalize('NFC') !== path) throw new UnsafePathError(path, 'not in Unicode normal form C')
  for (const segment of path.split('/')) {
    if (segment === '') throw new UnsafePathError(path, 'empty path segment')
    if (segment === '.' || segment === '..') throw new UnsafePathError(path, `"${segment}" segment`)
  }
  if (path === INSTALLED_MANIFEST_FILE) throw new UnsafePathError(path, 'reserved name')
}

function fail (field: string, expected: string, value?: unknown): never {
  const shown = value === undefined ? '' : ` (got ${JSON.stringify(value)?.slice(0, 80)})`
  throw new BadPackageError(`package manifest: "${field}" must be ${expected}${shown}`, { data: { field } })
}

function isObject (value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function isSize (value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

/**
 * Checks a manifest field by field and its sizes against each other: every file's size is the sum of its chunks,
 * the package's size is the sum of its files, nothing is over the bounds. Returns it typed; throws BadPackageError,
 * UnsafePathError or SizeMismatchError.
 */
export function parseManifest (input: unknown): PackageManifest {
  let raw = input
  if (input instanceof Uint8Array) {
    try {
      raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(input))
    } catch (err) {
      throw new BadPackageError(`package manifest is not valid JSON: ${(err as Error).message}`)
    }
  }
  if (!isObject(raw)) fail('(manifest)', 'an object')
  const known = new Set(['format', 'name', 'version', 'description', 'dependencies', 'chunker', 'size', 'files'])
  for (const key of Object.keys(raw)) if (!known.has(key)) fail(key, 'absent (unknown field)')
  if (raw.format !== PACKAGE_FORMAT) fail('format', `"${PACKAGE_FORMAT}"`, raw.format)
  // Name, version and dependencies follow the module manifest's rules (names are also safe path segments).
  let identity: ModuleManifest
  try {
    identity = validateManifest({ name: raw.name, version: raw.version, dependencies: raw.dependencies ?? {} }, 'package manifest')
  } catch (err) {
    throw new BadPackageError(`package manifest: ${(err as Error).message}`, { cause: err })
  }
  if (semver.clean(identity.version) !== identity.version) fail('version', 'a version in its canonical form', raw.version)
  if (raw.description !== undefined && typeof raw.description !== 'string') fail('description', 'a string', raw.description)
  if (!isObject(raw.chunker)) fail('chunker', 'an object')
  const chunker = raw.chunker as unknown as ChunkerParams
  try {
    validateChunkerParams(chunker)
  } catch (err) {
    throw new BadPackageError(`package manifest: ${(err as Error).message}`, { cause: err })
  }
  if (!isSize(raw.size)) fail('size', 'a non-negative integer', raw.size)
  if (raw.size > MAX_PACKAGE_BYTES) throw new SizeMismatchError(`package declares ${raw.size} bytes, more than the ${MAX_PACKAGE_BYTES} allowed`)
  if (!Array.isArray(raw.files)) fail('files', 'an array')
  if (raw.files.length > MAX_PACKAGE_FILES) fail('files', `at most ${MAX_PACKAGE_FILES} entries`)
  const files: FileEntry[] = []
  const seen = new Set<string>()
  let total = 0
  let previous: string | undefined
  for (const [i, f] of (raw.files as unknown[]).entries()) {
    if (!isObject(f)) fail(`files[${i}]`, 'an object')
    for (const key of Object.keys(f)) if (!['path', 'mode', 'size', 'sha256', 'chunks'].includes(key)) fail(`files[${i}].${key}`, 'absent (unknown field)')
    assertSafePath(f.path)
    const path = f.path
    if (previous !== undefined && !(previous < path)) fail(`files[${i}].path`, 'sorted and unique', path)
    previous = path
    // Two names that differ only by case collide on case-insensitive file systems; a file cannot also be a folder.
    const folded = path.toLowerCase()
    if (seen.has(folded)) fail(`files[${i}].path`, 'unique ignoring case', path)
    seen.add(folded)
    if (f.mode !== 0o644 && f.mode !== 0o755) fail(`files[${i}].mode`, '420 (0644) or 493 (0755)', f.mode)
    if (!isSize(f.size)) fail(`files[${i}].size`, 'a non-negative integer', f.size)
    if (!isSha256Hex(f.sha256)) fail(`files[${i}].sha256`, 'a lowercase hex SHA-256', f.sha256)
    if (!Array.isArray(f.chunks)) fail(`files[${i}].chunks`, 'an array')
    let sum = 0
    const chunks: ChunkRef[] = []
    for (const [j, c] of (f.chunks as unknown[]).entries()) {
      if (!Array.isArray(c) || c.length !== 2 || !isSha256Hex(c[0]) || !isSize(c[1]) || c[1] === 0) {
        fail(`files[${i}].chunks[${j}]`, 'a [sha256 hex, positive length] pair', c)
      }
      const len = c[1] as number
      if (len > CHUNK_LIMIT_BYTES || len > chunker.max) throw new SizeMismatchError(`${path}: chunk ${j} declares ${len} bytes, more than the chunker's maximum`)
      sum += len
      chunks.push([c[0] as string, len])
    }
    if (sum !== f.size) throw new SizeMismatchError(`${path} declares ${f.size} bytes but its chunks add up to ${sum}`, { data: { path } })
    total += sum
    files.push({ path, mode: f.mode, size: f.size, sha256: f.sha256, chunks })
  }
  for (const path of seen) {
    // "a" as a file and "a/b" as another would need "a" to be both.
    const parts = path.split('/')
    for (let k = 1; k < parts.length; k++) {
      if (seen.has(parts.slice(0, k).join('/'))) fail('files', 'paths where no file is also a folder', path)
    }
  }
  if (total !== raw.size) throw new SizeMismatchError(`package declares ${raw.size} bytes but its files add up to ${total}`)
  if (!seen.has('module.json')) fail('files', 'a list that includes module.json')
  const manifest: PackageManifest = {
    format: PACKAGE_FORMAT,
    name: identity.name,
    version: identity.version,
    dependencies: identity.dependencies,
    chunker: { algorithm: chunker.algorithm, min: chunker.min, avg: chunker.avg, max: chunker.max },
    size: total,
    files
  }
  if (raw.description !== undefined) manifest.description = raw.description
  return manifest
}

/**
 * The module.json inside a package must agree with its package manifest on name, version and dependencies, and may
 * not claim privileges: packages from repositories are never trusted with kernel control.
 */
export function checkModuleJson (manifest: PackageManifest, moduleJson: Uint8Array): ModuleManifest {
  let module: ModuleManifest
  try {
    module = validateManifest(JSON.parse(new TextDecoder().decode(moduleJson)), `${manifest.name}/module.json`)
  } catch (err) {
    throw new BadPackageError(`${manifest.name}: module.json is invalid: ${(err as Error).message}`, { cause: err })
  }
  if (module.name !== manifest.name) throw new BadPackageError(`module.json names "${module.name}", the package "${manifest.name}"`)
  if (module.version !== manifest.version) throw new BadPackageError(`module.json says version ${module.version}, the package ${manifest.version}`)
  if (canonicalize(module.dependencies) !== canonicalize(manifest.dependencies)) {
    throw new BadPackageError(`${manifest.name}: module.json dependencies differ from the package manifest's`)
  }
  if (module.privileged === true) throw new BadPackageError(`${manifest.name}: a package may not declare itself privileged`)
  return module
}

/** Unique chunks of a manifest in order of first appearance, with their lengths. */
export function uniqueChunks (manifest: PackageManifest): ChunkRef[] {
  const seen = new Set<string>()
  const out: ChunkRef[] = []
  for (const f of manifest.files) {
    for (const c of f.chunks) {
      if (seen.has(c[0])) continue
      seen.add(c[0])
      out.push(c)
    }
  }
  return out
}

/**
 * What a repository signs for a package (its TUF target): the manifest's hash and size and the chunks it is cut
 * into. Small on purpose: an update downloads it whole, then only the manifest chunks it does not already hold.
 */
export interface PackageDescriptor {
  format: string
  name: string
  version: string
  manifest: { sha256: string, size: number, chunks: ChunkRef[] }
}

const manifestChunker = new Chunker({ algorithm: CHUNKER_ALGORITHM, min: MANIFEST_CHUNK_MIN_BYTES, avg: MANIFEST_CHUNK_AVG_BYTES, max: MANIFEST_CHUNK_MAX_BYTES })

/** Cuts manifest bytes into chunks (fixed parameters, so every party cuts the same way). */
export function manifestChunks (manifestBytes: Uint8Array): Array<{ hash: string, bytes: Uint8Array }> {
  const out: Array<{ hash: string, bytes: Uint8Array }> = []
  let offset = 0
  for (const len of manifestChunker.split(manifestBytes)) {
    const bytes = manifestBytes.subarray(offset, offset + len)
    out.push({ hash: sha256Hex(bytes), bytes })
    offset += len
  }
  return out
}

export function makeDescriptor (manifest: PackageManifest, manifestBytes: Uint8Array): PackageDescriptor {
  return {
    format: DESCRIPTOR_FORMAT,
    name: manifest.name,
    version: manifest.version,
    manifest: { sha256: sha256Hex(manifestBytes), size: manifestBytes.length, chunks: manifestChunks(manifestBytes).map(c => [c.hash, c.bytes.length]) }
  }
}

export function encodeDescriptor (descriptor: PackageDescriptor): Uint8Array {
  return new TextEncoder().encode(canonicalize(descriptor))
}

/** Checks a descriptor's fields and that its chunk sizes add up to the manifest size it declares. */
export function parseDescriptor (bytes: Uint8Array): PackageDescriptor {
  let raw: unknown
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch (err) {
    throw new BadPackageError(`package descriptor is not valid JSON: ${(err as Error).message}`)
  }
  if (!isObject(raw) || raw.format !== DESCRIPTOR_FORMAT) fail('descriptor.format', `"${DESCRIPTOR_FORMAT}"`)
  const d = raw as unknown as PackageDescriptor
  if (typeof d.name !== 'string' || typeof d.version !== 'string') fail('descriptor.name/version', 'strings')
  const m = (d as { manifest?: unknown }).manifest
  if (!isObject(m) || !isSha256Hex(m.sha256) || !isSize(m.size) || !Array.isArray(m.chunks)) fail('descriptor.manifest', '{ sha256, size, chunks }')
  const manifest = m as unknown as PackageDescriptor['manifest']
  if (manifest.size > MAX_MANIFEST_BYTES) throw new SizeMismatchError(`descriptor declares a ${manifest.size}-byte manifest, more than the ${MAX_MANIFEST_BYTES} allowed`)
  let sum = 0
  for (const [j, c] of (manifest.chunks as unknown[]).entries()) {
    if (!Array.isArray(c) || c.length !== 2 || !isSha256Hex(c[0]) || !isSize(c[1]) || c[1] === 0 || c[1] > MANIFEST_CHUNK_MAX_BYTES) {
      fail(`descriptor.manifest.chunks[${j}]`, `a [sha256 hex, length <= ${MANIFEST_CHUNK_MAX_BYTES}] pair`, c)
    }
    sum += c[1] as number
  }
  if (sum !== manifest.size) throw new SizeMismatchError(`descriptor declares a ${manifest.size}-byte manifest but its chunks add up to ${sum}`)
  return { format: DESCRIPTOR_FORMAT, name: d.name, version: d.version, manifest: { sha256: manifest.sha256, size: manifest.size, chunks: manifest.chunks.map(([h, n]) => [h, n]) } }
}
