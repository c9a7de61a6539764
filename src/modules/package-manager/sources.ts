import { spawn } from 'node:child_process'
import { createReadStream } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises'
import { isAbsolute, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { combineSignals, raceSignal, throwIfAborted } from '../../common/index.ts'
import { FETCH_TIMEOUT_MS, GIT_MAX_FETCH_BYTES, GIT_MAX_OUTPUT_BYTES, GIT_TIMEOUT_MS, GIT_WATCH_INTERVAL_MS } from './constants.ts'
import { EndlessDataError, FetchFailedError, SourceNotFoundError, UnsupportedSourceError } from './errors.ts'
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

function parseContentRangeStart (header: string | null): number {
  const m = header === null ? null : /^bytes (\d+)-/.exec(header)
  return m === null ? 0 : Number(m[1])
}

/** No prompts, no user or system configuration that could change what git fetches or runs. */
const GIT_ENV = { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' }

/** The bytes of the files under a folder: what a fetch has added to a git directory so far. */
async function folderBytes (dir: string): Promise<number> {
  let entries
  try {
    entries = await readdir(dir, { withFileTypes: true })
  } catch {
    return 0
  }
  let total = 0
  for (const e of entries) {
    const path = join(dir, e.name)
    if (e.isDirectory()) {
      total += await folderBytes(path)
    } else if (e.isFile()) {
      try {
        total += (await stat(path)).size
      } catch {
        // git renamed or removed it meanwhile (a temporary pack becoming the pack)
      }
    }
  }
  return total
}

interface GitOptions {
  signal?: AbortSignal
  /** Kills git once `dir` has grown by more than `maxBytes` (checked as it runs, and once more when it ends). */
  watch?: { dir: string, maxBytes: number, what: string }
}

/**
 * Runs git; resolves with its standard output (at most GIT_MAX_OUTPUT_BYTES: these commands print a line or two), or
 * rejects with a FetchFailedError carrying git's stderr, or an EndlessDataError when a watched fetch grew too large.
 */
async function git (args: string[], options: GitOptions = {}): Promise<Buffer> {
  const watch = options.watch
  const baseline = watch === undefined ? 0 : await folderBytes(watch.dir)
  return await new Promise<Buffer>((resolvePromise, reject) => {
    const child = spawn('git', args, { stdio: ['ignore', 'pipe', 'pipe'], signal: combineSignals([options.signal], GIT_TIMEOUT_MS), env: GIT_ENV })
    const out: Buffer[] = []
    const errOut: Buffer[] = []
    let outBytes = 0
    let errBytes = 0
    let failure: Error | undefined
    const fail = (err: Error): void => {
      failure ??= err
      child.kill('SIGKILL')
    }
    child.stdout.on('data', (b: Buffer) => {
      outBytes += b.length
      if (outBytes > GIT_MAX_OUTPUT_BYTES) fail(new FetchFailedError(`git ${args.join(' ')} printed more than ${GIT_MAX_OUTPUT_BYTES} bytes`))
      else out.push(b)
    })
    child.stderr.on('data', (b: Buffer) => {
      if (errBytes < GIT_MAX_OUTPUT_BYTES) errOut.push(b)
      errBytes += b.length
    })
    const measure = async (): Promise<void> => {
      if (watch === undefined) return
      const grown = await folderBytes(watch.dir) - baseline
      if (grown > watch.maxBytes) fail(new EndlessDataError(watch.what, watch.maxBytes, { data: { received: grown } }))
    }
    // One measurement at a time; the last one starts after git ended.
    let measuring: Promise<void> = Promise.resolve()
    const timer = watch === undefined
      ? undefined
      : setInterval(() => { measuring = measuring.then(measure) }, GIT_WATCH_INTERVAL_MS)
    child.on('error', (err) => { failure ??= new FetchFailedError(`git ${args[0] ?? ''}: ${err.message}`, { cause: err }) })
    child.on('close', (code) => {
      clearInterval(timer)
      void (async () => {
        // A fetch can finish between two measurements: what it left must be within the bound too.
        measuring = measuring.then(measure)
        await measuring
        if (failure !== undefined) reject(failure)
        else if (code === 0) resolvePromise(Buffer.concat(out))
        else reject(new FetchFailedError(`git ${args.join(' ')} failed (${code}): ${Buffer.concat(errOut).toString().trim()}`, { data: { exitCode: code } }))
      })()
    })
  })
}

/** Where a git source pins the commit it serves from, in its cache clone. */
const PINNED_REF = 'refs/logos/source'

/**
 * A repository kept in a git repository (committed as is: metadata/, targets/, chunks/ at the top). The first read
 * fetches the one commit of the ref (default HEAD) into a cache clone, shallow (`--depth 1`: no history), and pins
 * it, so every file of one session comes from the same commit; later sessions fetch the new commit into the same
 * clone (only the objects it lacks). A `#ref` suffix picks a branch or tag.
 * `git+file:///srv/repo.git`, `git+https://host/repo.git`, `git://host/repo.git`. Git's own hashes protect nothing
 * here: TUF does.
 *
 * Bounds (endless data): a fetch may add at most `maxFetchBytes` to the clone (GIT_MAX_FETCH_BYTES by default; git
 * is killed past it, and the result checked again when it ends); a file's size is read from its object header before
 * any of its bytes, and a file larger than the caller's bound is refused (EndlessDataError) without being read; the
 * rest is streamed from `git cat-file`, never more than the size the header gave.
 */
export class GitSource implements PackageSource {
  readonly kind = 'git'
  readonly url: string
  private readonly remote: string
  private readonly ref: string
  private readonly dir: string
  private readonly maxFetchBytes: number
  private commit: Promise<string> | undefined
  private closed = false

  constructor (url: string, options: SourceOptions & { maxFetchBytes?: number }) {
    this.url = url
    const hashAt = url.indexOf('#')
    const bare = hashAt === -1 ? url : url.slice(0, hashAt)
    this.ref = hashAt === -1 ? 'HEAD' : url.slice(hashAt + 1)
    if (!/^[A-Za-z0-9._/-]+$/.test(this.ref) || this.ref.startsWith('-')) throw new UnsupportedSourceError(url)
    this.remote = bare.startsWith('git+') ? bare.slice(4) : bare
    this.dir = join(options.cacheDir, 'git', sha256Hex(this.remote).slice(0, 32))
    this.maxFetchBytes = options.maxFetchBytes ?? GIT_MAX_FETCH_BYTES
  }

  private async sync (signal?: AbortSignal): Promise<string> {
    let exists = true
    try {
      await stat(join(this.dir, 'HEAD'))
    } catch {
      exists = false
    }
    // A first fetch goes to a folder of its own, renamed into place once complete.
    const target = exists ? this.dir : `${this.dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`
    if (!exists) {
      await mkdir(join(this.dir, '..'), { recursive: true })
      await git(['init', '--bare', '--quiet', target], { signal })
    }
    try {
      await git(['--git-dir', target, 'fetch', '--quiet', '--depth', '1', '--no-tags', '--force', '--', this.remote, `+${this.ref}:${PINNED_REF}`], {
        signal,
        watch: { dir: target, maxBytes: this.maxFetchBytes, what: `git repository ${this.url}` }
      })
    } catch (err) {
      if (!exists) await rm(target, { recursive: true, force: true })
      else await removeTemporaryPacks(target)
      throw err
    }
    if (!exists) {
      try {
        await rename(target, this.dir)
      } catch (err) {
        await rm(target, { recursive: true, force: true })
        // Another process put its clone there first: use that one (fetching into it brings it to the commit).
        if (!await stat(join(this.dir, 'HEAD')).then(() => true, () => false)) throw err
        return await this.sync(signal)
      }
    }
    return (await git(['--git-dir', this.dir, 'rev-parse', '--verify', '--quiet', `${PINNED_REF}^{commit}`], { signal })).toString().trim()
  }

  async read (path: string, options: SourceReadOptions): Promise<SourceRead> {
    assertSafePath(path)
    if (this.closed) throw new FetchFailedError(`${this.url} is closed`)
    if (this.commit === undefined) {
      this.commit = this.sync(options.signal)
      this.commit.catch(() => { this.commit = undefined })
    }
    const commit = await this.commit
    return await this.readBlob(`${commit}:${path}`, path, options)
  }

  /**
   * One file through `git cat-file --batch`: its header (`<oid> blob <size>`) comes first, so the size is checked
   * before any content is read; then at most `size` bytes are passed on, and git is killed when the reading stops.
   */
  private async readBlob (spec: string, path: string, options: SourceReadOptions): Promise<SourceRead> {
    const child = spawn('git', ['--git-dir', this.dir, 'cat-file', '--batch'], {
      stdio: ['pipe', 'pipe', 'ignore'], signal: combineSignals([options.signal], GIT_TIMEOUT_MS), env: GIT_ENV
    })
    let spawnError: Error | undefined
    child.on('error', (err) => { spawnError = err })
    child.stdin.on('error', () => {})
    child.stdin.end(`${spec}\n`)
    const it = (child.stdout as AsyncIterable<Buffer>)[Symbol.asyncIterator]()
    const stop = (): void => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      it.return?.()?.catch(() => {})
    }
    let head = Buffer.alloc(0)
    let size: number
    let rest: Buffer
    try {
      let nl = -1
      while ((nl = head.indexOf(10)) === -1) {
        if (head.length > GIT_MAX_OUTPUT_BYTES) throw new FetchFailedError(`git cat-file ${spec}: no header`)
        const next = await it.next()
        if (next.done === true) throw new FetchFailedError(`git cat-file ${spec} ended without an answer${spawnError === undefined ? '' : `: ${spawnError.message}`}`, { cause: spawnError })
        head = Buffer.concat([head, next.value])
      }
      const header = head.subarray(0, nl).toString().split(' ')
      if (header.length !== 3 || header[1] !== 'blob') throw new SourceNotFoundError(path, this.url)
      size = Number(header[2])
      if (!Number.isSafeInteger(size) || size < 0) throw new FetchFailedError(`git cat-file ${spec}: bad header ${header.join(' ')}`)
      if (size > options.maxBytes) throw new EndlessDataError(`${this.url} ${path}`, options.maxBytes, { data: { size } })
      rest = head.subarray(nl + 1)
    } catch (err) {
      stop()
      throw err
    }
    const offset = Math.min(options.offset ?? 0, size)
    async function * body (): AsyncGenerator<Uint8Array> {
      let at = 0
      let piece = rest
      try {
        for (;;) {
          const take = piece.subarray(0, size - at)
          if (at + take.length > offset) yield take.subarray(Math.max(0, offset - at))
          at += take.length
          if (at >= size) return
          const next = await it.next()
          if (next.done === true) throw new FetchFailedError(`git cat-file ${spec} ended after ${at} of ${size} bytes`)
          piece = next.value
        }
      } finally {
        stop()
      }
    }
    return { offset, body: body() }
  }

  async close (): Promise<void> {
    this.closed = true
  }
}

/** Removes what a killed fetch left in a clone (git's temporary packs); the clone itself is as before the fetch. */
async function removeTemporaryPacks (gitDir: string): Promise<void> {
  const packs = join(gitDir, 'objects', 'pack')
  try {
    for (const name of await readdir(packs)) {
      if (name.startsWith('tmp_')) await rm(join(packs, name), { force: true })
    }
  } catch {
    // no pack folder
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
