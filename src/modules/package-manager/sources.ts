import { spawn } from 'node:child_process'
import { createReadStream } from 'node:fs'
import { mkdir, rename, rm, stat } from 'node:fs/promises'
import { isAbsolute, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { combineSignals, raceSignal, throwIfAborted } from '../../common/index.ts'
import { FETCH_TIMEOUT_MS, GIT_TIMEOUT_MS } from './constants.ts'
import { FetchFailedError, SourceNotFoundError, UnsupportedSourceError } from './errors.ts'
import { sha256Hex } from './hash.ts'
import { assertSafePath } from './package-format.ts'
import type { PackageSource, SourceFactory, SourceOptions, SourceRead, SourceReadOptions } from './source.ts'

/** A repository in a local folder (or a mounted file system). Reads resume at any offset. */
export class FolderSource implements PackageSource {
  readonly kind = 'folder'
  readonly url: string
  private readonly root: string

  constructor (url: string) {
    this.url = url
    this.root = url.startsWith('file:') ? fileURLToPath(url) : resolve(url)
  }

  async read (path: string, options: SourceReadOptions): Promise<SourceRead> {
    assertSafePath(path)
    const file = join(this.root, path)
    const offset = options.offset ?? 0
    try {
      const s = await stat(file)
      if (!s.isFile()) throw new SourceNotFoundError(path, this.url)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') throw new SourceNotFoundError(path, this.url)
      throw err
    }
    // Read at most one byte past the caller's bound: enough for it to see the file is too long.
    const body = createReadStream(file, { start: offset, end: Math.max(offset, options.maxBytes), signal: options.signal })
    return { offset, body }
  }

  async close (): Promise<void> {}
}

/** A repository served over HTTP(S) by any static file server. Resumes with Range requests. */
export class HttpSource implements PackageSource {
  readonly kind = 'http'
  readonly url: string
  private readonly base: string

  constructor (url: string) {
    this.url = url
    this.base = url.endsWith('/') ? url : url + '/'
  }

  async read (path: string, options: SourceReadOptions): Promise<SourceRead> {
    assertSafePath(path)
    const offset = options.offset ?? 0
    const headers: Record<string, string> = {}
    if (offset > 0) headers.range = `bytes=${offset}-`
    let response: Response
    const signal = combineSignals([options.signal], FETCH_TIMEOUT_MS)
    try {
      response = await fetch(new URL(path, this.base), { headers, signal })
    } catch (err) {
      if (options.signal?.aborted === true) throw err
      throw new FetchFailedError(`GET ${this.base}${path}: ${(err as Error).message}`, { cause: err })
    }
    if (response.status === 404 || response.status === 410) {
      await response.body?.cancel()
      throw new SourceNotFoundError(path, this.url)
    }
    if (response.status !== 200 && response.status !== 206) {
      await response.body?.cancel()
      throw new FetchFailedError(`GET ${this.base}${path}: HTTP ${response.status}`, { retryable: response.status >= 500 || response.status === 429, data: { status: response.status } })
    }
    const start = response.status === 206 ? parseContentRangeStart(response.headers.get('content-range')) : 0
    const body = (response.body ?? emptyBody()) as unknown as AsyncIterable<Uint8Array>
    return { offset: start, body: abortable(body, signal) }
  }

  async close (): Promise<void> {}
}

async function * emptyBody (): AsyncGenerator<Uint8Array> {}

/**
 * A body that stops as soon as the signal fires. A fetch body's pending read does not always settle when its request
 * is aborted mid-stream (seen with Node 22's fetch), which would hang the reader for good; racing each read against
 * the signal cannot hang. The source is released (socket, file) however the reading ends.
 */
export async function * abortable (body: AsyncIterable<Uint8Array>, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array> {
  const it = body[Symbol.asyncIterator]()
  try {
    for (;;) {
      throwIfAborted(signal)
      const pending = it.next()
      // When the signal wins the race, this read's late rejection is expected: keep it from going unhandled.
      pending.catch(() => {})
      const next = await raceSignal(pending, signal)
      if (next.done === true) return
      yield next.value
    }
  } finally {
    it.return?.()?.catch(() => {})
  }
}

async function * once (data: Uint8Array): AsyncGenerator<Uint8Array> {
  yield data
}

function parseContentRangeStart (header: string | null): number {
  const m = header === null ? null : /^bytes (\d+)-/.exec(header)
  return m === null ? 0 : Number(m[1])
}

/** Runs git; resolves with stdout, or rejects with a FetchFailedError carrying git's stderr. */
async function git (args: string[], options: { signal?: AbortSignal, cwd?: string } = {}): Promise<Buffer> {
  return await new Promise<Buffer>((resolvePromise, reject) => {
    const child = spawn('git', args, {
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      signal: combineSignals([options.signal], GIT_TIMEOUT_MS),
      // No prompts, no user or system configuration that could change what is fetched.
      env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' }
    })
    const out: Buffer[] = []
    const errOut: Buffer[] = []
    child.stdout.on('data', (b: Buffer) => out.push(b))
    child.stderr.on('data', (b: Buffer) => errOut.push(b))
    child.on('error', (err) => { reject(new FetchFailedError(`git ${args[0] ?? ''}: ${err.message}`, { cause: err })) })
    child.on('close', (code) => {
      if (code === 0) resolvePromise(Buffer.concat(out))
      else reject(new FetchFailedError(`git ${args.join(' ')} failed (${code}): ${Buffer.concat(errOut).toString().trim()}`, { data: { exitCode: code } }))
    })
  })
}

/**
 * A repository kept in a git repository (committed as is: metadata/, targets/, chunks/ at the top). The first read
 * clones it bare into the cache, or fetches into the existing clone, and pins one commit, so every file of one
 * session comes from the same commit. `git+file:///srv/repo.git`, `git+https://host/repo.git`, `git://host/repo.git`;
 * a `#ref` suffix picks a branch or tag (default HEAD). Git's own hashes protect nothing here: TUF does.
 */
export class GitSource implements PackageSource {
  readonly kind = 'git'
  readonly url: string
  private readonly remote: string
  private readonly ref: string
  private readonly dir: string
  private commit: Promise<string> | undefined
  private closed = false

  constructor (url: string, options: SourceOptions) {
    this.url = url
    const hashAt = url.indexOf('#')
    const bare = hashAt === -1 ? url : url.slice(0, hashAt)
    this.ref = hashAt === -1 ? 'HEAD' : url.slice(hashAt + 1)
    if (!/^[A-Za-z0-9._/-]+$/.test(this.ref) || this.ref.startsWith('-')) throw new UnsupportedSourceError(url)
    this.remote = bare.startsWith('git+') ? bare.slice(4) : bare
    this.dir = join(options.cacheDir, 'git', sha256Hex(this.remote).slice(0, 32))
  }

  private async sync (signal?: AbortSignal): Promise<string> {
    let exists = true
    try {
      await stat(join(this.dir, 'HEAD'))
    } catch {
      exists = false
    }
    if (!exists) {
      await mkdir(join(this.dir, '..'), { recursive: true })
      const tmp = `${this.dir}.tmp-${process.pid}`
      await rm(tmp, { recursive: true, force: true })
      await git(['clone', '--bare', '--quiet', '--', this.remote, tmp], { signal })
      await rename(tmp, this.dir)
    } else {
      await git(['--git-dir', this.dir, 'fetch', '--quiet', '--prune', '--force', '--', this.remote,
        '+HEAD:refs/remotes/source/HEAD', '+refs/heads/*:refs/heads/*', '+refs/tags/*:refs/tags/*'], { signal })
    }
    const ref = this.ref === 'HEAD' && exists ? 'refs/remotes/source/HEAD' : this.ref
    return (await git(['--git-dir', this.dir, 'rev-parse', '--verify', '--quiet', `${ref}^{commit}`], { signal })).toString().trim()
  }

  async read (path: string, options: SourceReadOptions): Promise<SourceRead> {
    assertSafePath(path)
    if (this.closed) throw new FetchFailedError(`${this.url} is closed`)
    if (this.commit === undefined) {
      this.commit = this.sync(options.signal)
      this.commit.catch(() => { this.commit = undefined })
    }
    const commit = await this.commit
    let data: Buffer
    try {
      data = await git(['--git-dir', this.dir, 'cat-file', 'blob', `${commit}:${path}`], { signal: options.signal })
    } catch (err) {
      if (err instanceof FetchFailedError && err.data.exitCode === 128) throw new SourceNotFoundError(path, this.url)
      throw err
    }
    const offset = Math.min(options.offset ?? 0, data.length)
    return { offset, body: once(data.subarray(offset)) }
  }

  async close (): Promise<void> {
    this.closed = true
  }
}

const kinds = new Map<string, SourceFactory>()

/**
 * Teaches `openSource` a URL scheme ("logos-storage:" for instance): the factory makes the source; the rest of the
 * package manager is unchanged.
 */
export function registerSourceKind (scheme: string, factory: SourceFactory): () => void {
  const key = scheme.endsWith(':') ? scheme : scheme + ':'
  kinds.set(key, factory)
  return () => { if (kinds.get(key) === factory) kinds.delete(key) }
}

/** A source for a repository address: a folder path or file: URL, http(s)://, git+file/git+http(s)/git://. */
export function openSource (url: string, options: SourceOptions): PackageSource {
  if (isAbsolute(url) || url.startsWith('./') || url.startsWith('../') || url.startsWith('file:')) return new FolderSource(url)
  if (url.startsWith('http://') || url.startsWith('https://')) return new HttpSource(url)
  if (url.startsWith('git+file://') || url.startsWith('git+http://') || url.startsWith('git+https://') || url.startsWith('git://')) return new GitSource(url, options)
  const scheme = /^[a-z][a-z0-9+.-]*:/.exec(url)?.[0]
  const factory = scheme === undefined ? undefined : kinds.get(scheme)
  if (factory !== undefined) return factory(url, options)
  throw new UnsupportedSourceError(url)
}
