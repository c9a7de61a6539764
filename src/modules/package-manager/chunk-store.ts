import { randomBytes } from 'node:crypto'
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ChunkHashMismatchError, SizeMismatchError } from './errors.ts'
import { isSha256Hex, sha256Hex } from './hash.ts'

/**
 * The local content-addressed chunk store, shared by every version of every package: `<dir>/<ab>/<sha256>`. A chunk
 * is written under its name only after its bytes hashed to that name, and hashed again each time it is read, so a
 * torn or corrupted file (a crash, a bad disk) is noticed, dropped, and fetched again. Writes are not fsynced for
 * that reason: the installed files are, and they are what the node runs.
 */
export class ChunkStore {
  readonly dir: string

  constructor (dir: string) {
    this.dir = dir
  }

  path (hash: string): string {
    return join(this.dir, hash.slice(0, 2), hash)
  }

  /** Where a chunk being downloaded accumulates, so a later run can resume it. */
  partialPath (hash: string): string {
    return join(this.dir, 'partial', hash)
  }

  async has (hash: string): Promise<boolean> {
    try {
      return (await stat(this.path(hash))).isFile()
    } catch {
      return false
    }
  }

  /** The chunk's bytes, verified; a corrupted copy is deleted and reported as a mismatch. */
  async get (hash: string, expectedLength?: number): Promise<Uint8Array> {
    const bytes = new Uint8Array(await readFile(this.path(hash)))
    const actual = sha256Hex(bytes)
    if (actual !== hash) {
      await rm(this.path(hash), { force: true })
      throw new ChunkHashMismatchError(hash, actual, { data: { where: 'local chunk store' } })
    }
    if (expectedLength !== undefined && bytes.length !== expectedLength) {
      throw new SizeMismatchError(`chunk ${hash} is ${bytes.length} bytes, its manifest says ${expectedLength}`)
    }
    return bytes
  }

  /** Stores bytes under their hash after checking it (a no-op when present). */
  async put (hash: string, bytes: Uint8Array): Promise<void> {
    const actual = sha256Hex(bytes)
    if (actual !== hash) throw new ChunkHashMismatchError(hash, actual)
    if (await this.has(hash)) return
    const dir = join(this.dir, hash.slice(0, 2))
    await mkdir(dir, { recursive: true })
    const tmp = join(dir, `.${hash}.${randomBytes(4).toString('hex')}.tmp`)
    await writeFile(tmp, bytes)
    await rename(tmp, this.path(hash))
  }

  /** Moves a completed, verified partial download into place. */
  async adopt (hash: string, partialFile: string): Promise<void> {
    await mkdir(join(this.dir, hash.slice(0, 2)), { recursive: true })
    await rename(partialFile, this.path(hash))
  }

  /** Every chunk name in the store. */
  async list (): Promise<string[]> {
    const out: string[] = []
    let prefixes: string[]
    try {
      prefixes = await readdir(this.dir)
    } catch {
      return out
    }
    for (const prefix of prefixes) {
      if (!/^[0-9a-f]{2}$/.test(prefix)) continue
      for (const name of await readdir(join(this.dir, prefix))) if (isSha256Hex(name)) out.push(name)
    }
    return out
  }

  /** Deletes every chunk not in `keep` and every partial download; returns how many chunks went. */
  async collect (keep: ReadonlySet<string>): Promise<number> {
    let removed = 0
    for (const hash of await this.list()) {
      if (keep.has(hash)) continue
      await rm(this.path(hash), { force: true })
      removed++
    }
    return removed
  }

  /** Drops stale partial downloads (for chunks no longer wanted). */
  async clearPartials (keep: ReadonlySet<string> = new Set()): Promise<void> {
    let names: string[]
    try {
      names = await readdir(join(this.dir, 'partial'))
    } catch {
      return
    }
    for (const name of names) if (!keep.has(name)) await rm(join(this.dir, 'partial', name), { force: true })
  }
}
