import { createHash } from 'node:crypto'
import { readFile, rm } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { combineSignals, writeFileAtomic } from '../../common/index.ts'
import {
  CACHE_ENV, DEFAULT_RESOURCES_BASE_URL, DOWNLOAD_TIMEOUT_MS, MAX_RESOURCE_BYTES, RESOURCE_FILES, RESOURCES_ENV,
  ZEROKIT_RELEASE
} from './constants.ts'
import { RlnResourceChecksumError, RlnResourcesUnavailableError } from './errors.ts'

export interface ResourceOptions {
  /** A folder holding rln.wasm and rln_final.zkey; defaults to $LOGOS_RLN_RESOURCES. */
  path?: string
  /** The cache folder; defaults to $LOGOS_CACHE_DIR, else $XDG_CACHE_HOME/logos, else ~/.cache/logos. */
  cacheDir?: string
  /** Whether to download the files when neither the folder nor the cache has them (default true). */
  download?: boolean
  /** Where to download from (default: the zerokit v0.8.0 tree at its tag). */
  baseUrl?: string
  /** The fetch to use (tests hand one in). */
  fetch?: typeof fetch
  signal?: AbortSignal
}

export interface RlnResources {
  /** rln.wasm bytes */
  circuit: Uint8Array
  /** rln_final.zkey bytes */
  zkey: Uint8Array
  /** Where they came from. */
  source: 'path' | 'cache' | 'download'
  /** The folder they are in now. */
  dir: string
}

type FileKey = keyof typeof RESOURCE_FILES
const KEYS = Object.keys(RESOURCE_FILES) as FileKey[]

function sha256 (bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/** The cache folder of this release's resources. */
export function defaultCacheDir (env: NodeJS.ProcessEnv = process.env): string {
  const base = env[CACHE_ENV] ?? (env.XDG_CACHE_HOME !== undefined && env.XDG_CACHE_HOME !== '' ? join(env.XDG_CACHE_HOME, 'logos') : join(homedir(), '.cache', 'logos'))
  return join(base, 'rln', `zerokit-${ZEROKIT_RELEASE}`, 'tree_height_20')
}

async function readIfPresent (path: string): Promise<Uint8Array | undefined> {
  try {
    return new Uint8Array(await readFile(path))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

/** Reads every file of a folder; undefined when one is missing. A file with the wrong hash throws. */
async function readFolder (dir: string): Promise<Record<FileKey, Uint8Array> | undefined> {
  const out: Partial<Record<FileKey, Uint8Array>> = {}
  for (const key of KEYS) {
    const { name, sha256: want } = RESOURCE_FILES[key]
    const bytes = await readIfPresent(join(dir, name))
    if (bytes === undefined) return undefined
    const got = sha256(bytes)
    if (got !== want) {
      throw new RlnResourceChecksumError(`${join(dir, name)} has sha256 ${got}, not the pinned ${want}: it is not the zerokit ${ZEROKIT_RELEASE} ceremony file; replace or delete it`, {
        data: { file: join(dir, name), sha256: got, expected: want }
      })
    }
    out[key] = bytes
  }
  return out as Record<FileKey, Uint8Array>
}

async function download (url: string, want: string, options: ResourceOptions): Promise<Uint8Array> {
  const doFetch = options.fetch ?? fetch
  const signal = combineSignals([options.signal], DOWNLOAD_TIMEOUT_MS)
  const response = await doFetch(url, { signal, redirect: 'follow' })
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`)
  const declared = Number(response.headers.get('content-length') ?? '0')
  if (declared > MAX_RESOURCE_BYTES) throw new Error(`GET ${url}: ${declared} bytes is more than the ${MAX_RESOURCE_BYTES} allowed`)
  const chunks: Uint8Array[] = []
  let total = 0
  if (response.body === null) throw new Error(`GET ${url}: empty body`)
  for await (const chunk of response.body) {
    total += chunk.byteLength
    if (total > MAX_RESOURCE_BYTES) throw new Error(`GET ${url}: more than the ${MAX_RESOURCE_BYTES} bytes allowed`)
    chunks.push(chunk)
  }
  const bytes = new Uint8Array(total)
  let o = 0
  for (const c of chunks) { bytes.set(c, o); o += c.byteLength }
  const got = sha256(bytes)
  if (got !== want) {
    throw new RlnResourceChecksumError(`${url} has sha256 ${got}, not the pinned ${want}; it was not saved`, { data: { url, sha256: got, expected: want } })
  }
  return bytes
}

/**
 * Finds the RLN circuit resources: the configured folder, else the cache, else a download from the zerokit release
 * into the cache. Every file is checked against its pinned sha256 wherever it comes from; a file that does not
 * match is never used. When none is available the error says what to do.
 */
export async function resolveResources (options: ResourceOptions = {}): Promise<RlnResources> {
  const tried: string[] = []
  const configured = options.path ?? (process.env[RESOURCES_ENV] !== '' ? process.env[RESOURCES_ENV] : undefined)
  if (configured !== undefined) {
    const dir = resolve(configured)
    const files = await readFolder(dir)
    if (files !== undefined) return { ...files, source: 'path', dir }
    tried.push(`the configured folder ${dir} (missing files)`)
  }

  const cacheDir = options.cacheDir ?? defaultCacheDir()
  try {
    const cached = await readFolder(cacheDir)
    if (cached !== undefined) return { ...cached, source: 'cache', dir: cacheDir }
    tried.push(`the cache ${cacheDir} (empty)`)
  } catch (err) {
    if (!(err instanceof RlnResourceChecksumError)) throw err
    // A damaged cache entry is dropped and fetched again.
    for (const key of KEYS) await rm(join(cacheDir, RESOURCE_FILES[key].name), { force: true })
    tried.push(`the cache ${cacheDir} (a damaged file, removed)`)
  }

  if (options.download !== false) {
    const baseUrl = options.baseUrl ?? DEFAULT_RESOURCES_BASE_URL
    try {
      const files: Partial<Record<FileKey, Uint8Array>> = {}
      for (const key of KEYS) {
        const { name, sha256: want } = RESOURCE_FILES[key]
        files[key] = await download(new URL(name, baseUrl).href, want, options)
      }
      for (const key of KEYS) await writeFileAtomic(join(cacheDir, RESOURCE_FILES[key].name), files[key] as Uint8Array)
      return { ...(files as Record<FileKey, Uint8Array>), source: 'download', dir: cacheDir }
    } catch (err) {
      if (err instanceof RlnResourceChecksumError) throw err
      tried.push(`a download from ${baseUrl} (${(err as Error).message})`)
    }
  } else {
    tried.push('a download (turned off)')
  }

  const names = KEYS.map(k => `${RESOURCE_FILES[k].name} (sha256 ${RESOURCE_FILES[k].sha256})`).join(' and ')
  throw new RlnResourcesUnavailableError(
    `the RLN circuit resources are not available; tried ${tried.join(', ')}. ` +
    `Put ${names} from zerokit ${ZEROKIT_RELEASE} (rln/resources/tree_height_20) in a folder and set ${RESOURCES_ENV} to it ` +
    '(or the module\'s "resources" setting), or allow the download so they are cached.',
    { data: { tried } }
  )
}
