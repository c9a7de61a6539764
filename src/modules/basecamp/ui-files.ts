import { readFile, realpath, stat } from 'node:fs/promises'
import { stripTypeScriptTypes } from 'node:module'
import { extname, resolve, sep } from 'node:path'
import { quietly } from '../../common/index.ts'
import { INDEX_FILE, MAX_UI_FILE_BYTES, UI_CACHE_FILES } from './constants.ts'

/** What a UI file is served as. TypeScript goes out type-stripped, as JavaScript: the UI has no build step. */
const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.ts': 'text/javascript; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml'
}

export interface UiFile {
  body: Buffer
  type: string
}

interface Cached extends UiFile {
  mtimeMs: number
  size: number
}

/**
 * The UI's files, served from one folder. A request path maps to a file only if every segment is a plain name (no
 * `..`, no dotfile, no backslash or NUL), the file has one of the extensions above (so tsconfig.json and the like are
 * never served), and its real path (after symlinks) is still inside the folder. Files are read, and stripped, once per
 * change (size and mtime), with at most UI_CACHE_FILES kept.
 */
export class UiFiles {
  readonly root: string
  private realRoot: string | undefined
  private readonly cache = new Map<string, Cached>()

  constructor (root: string) {
    this.root = resolve(root)
  }

  /** The file for a URL path, or undefined (404) for anything that is not a UI file. */
  async get (pathname: string): Promise<UiFile | undefined> {
    const relative = safeRelativePath(pathname)
    if (relative === undefined) return undefined
    const type = TYPES[extname(relative)]
    if (type === undefined) return undefined
    const path = resolve(this.root, relative)
    let info
    try {
      info = await stat(path)
      this.realRoot ??= await realpath(this.root)
      const real = await realpath(path)
      if (!real.startsWith(this.realRoot + sep)) return undefined
    } catch {
      return undefined
    }
    if (!info.isFile() || info.size > MAX_UI_FILE_BYTES) return undefined
    const hit = this.cache.get(path)
    if (hit !== undefined && hit.mtimeMs === info.mtimeMs && hit.size === info.size) return hit
    const raw = await readFile(path)
    const body = extname(path) === '.ts' ? Buffer.from(stripTypes(raw.toString('utf8'))) : raw
    const entry: Cached = { body, type, mtimeMs: info.mtimeMs, size: info.size }
    this.cache.delete(path)
    this.cache.set(path, entry)
    if (this.cache.size > UI_CACHE_FILES) this.cache.delete(this.cache.keys().next().value as string)
    return entry
  }
}

/** `/` is the index; otherwise the path's segments, each a plain file or folder name, or undefined. */
export function safeRelativePath (pathname: string): string | undefined {
  let decoded: string
  try {
    decoded = decodeURIComponent(pathname)
  } catch {
    return undefined
  }
  if (!decoded.startsWith('/')) return undefined
  if (decoded === '/') return INDEX_FILE
  const segments = decoded.slice(1).split('/')
  for (const s of segments) {
    if (s === '' || s.startsWith('.') || s.includes('\\') || s.includes('\0') || s.includes(':')) return undefined
  }
  return segments.join(sep)
}

/**
 * Erases the types of a UI file (Node's own stripper: positions are kept, so the browser's line numbers match the
 * source), without Node's notice that the function is experimental.
 */
export function stripTypes (code: string): string {
  return quietly('stripTypeScriptTypes', () => stripTypeScriptTypes(code, { mode: 'strip' }))
}
