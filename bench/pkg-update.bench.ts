import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  CHUNKER_ALGORITHM, ChunkStore, DEFAULT_CHUNKER, PackageManager, initRepository, manifestChunks, openSource, packModule,
  publishPackage
} from '../src/modules/package-manager/index.ts'
import type { ChunkerParams, PackageSource, PackedModule } from '../src/modules/package-manager/index.ts'
import { round } from './measure.ts'

/**
 * How many bytes an update of a realistic module costs when one small place changed, against a full download, for
 * our chunker and for a casync-like one (64 KiB average) in the same run, plus the verification speed.
 *
 * Two modules, two sets of edits. The tuning set: the JavaScript of a libp2p networking stack (libp2p, gossipsub,
 * noise, yamux, identify, tcp) as installed in node_modules, about 630 KiB in ~110 files, as a module vendoring its
 * dependencies would ship, with edits from one seed; the default chunker was chosen by a sweep over its first 8 edits.
 * The held-out set: other files (ts-mls, @libp2p/utils, @libp2p/crypto, multiformats, @libp2p/peer-store,
 * protons-runtime: ~600 KiB in ~280 smaller files) and edits from another seed, never used to choose anything.
 * Each trial edits one place (chosen by a seeded generator, weighted by bytes, so big files are hit more often):
 * even trials replace 16 bytes of a line, odd ones insert a 40-byte line. A client with the old version installed
 * runs `update` against a repository served over HTTP on 127.0.0.1; every byte it receives counts (TUF metadata,
 * descriptor, manifest chunks, file chunks). full_bytes is what a fresh install of the new version receives.
 *
 * `npm run bench -- pkg-update [--trials N] [--min B --avg B --max B] [--no-sweep]`
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')

interface ModuleSpec {
  name: string
  exportName: string
  description: string
  /** node_modules packages vendored into it: package -> folder of its JavaScript. */
  vendored: Record<string, string>
  /** Seed of its edits. */
  seed: number
}

const TUNING: ModuleSpec = {
  name: 'net-stack',
  exportName: 'netStack',
  description: 'A vendored libp2p stack',
  vendored: Object.fromEntries(['libp2p', '@libp2p/gossipsub', '@chainsafe/libp2p-noise', '@chainsafe/libp2p-yamux', '@libp2p/identify', '@libp2p/tcp'].map(p => [p, 'dist/src'])),
  seed: 20260101
}

const HELD_OUT: ModuleSpec = {
  name: 'mls-kit',
  exportName: 'mlsKit',
  description: 'A vendored MLS and libp2p utility kit',
  vendored: Object.fromEntries(['ts-mls', '@libp2p/utils', '@libp2p/crypto', 'multiformats', '@libp2p/peer-store', 'protons-runtime'].map(p => [p, 'dist/src'])),
  seed: 20261126
}

const CASYNC_LIKE: ChunkerParams = { algorithm: CHUNKER_ALGORITHM, min: 16 * 1024, avg: 64 * 1024, max: 256 * 1024 }

async function jsFiles (dir: string): Promise<string[]> {
  const out: string[] = []
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) out.push(...await jsFiles(p))
    else if (e.name.endsWith('.js')) out.push(p)
  }
  return out.sort()
}

/** Builds the module folder and returns its files (relative path -> bytes) in a stable order. */
async function buildModule (dir: string, spec: ModuleSpec): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>()
  for (const [pkg, sub] of Object.entries(spec.vendored)) {
    const src = join(ROOT, 'node_modules', pkg, sub)
    for (const file of await jsFiles(src)) files.set(`vendor/${pkg.replace('@', '').replace('/', '-')}/${relative(src, file)}`, await readFile(file))
  }
  files.set('module.json', Buffer.from(JSON.stringify({ name: spec.name, version: '1.0.0', description: spec.description, entry: './index.js', dependencies: {} }, null, 2)))
  files.set('index.js', Buffer.from(`export const ${spec.exportName} = { start () { return { methods: {} } } }\n`))
  await writeTree(dir, files)
  return files
}

async function writeTree (dir: string, files: Map<string, Buffer>): Promise<void> {
  for (const [path, bytes] of files) {
    await mkdir(dirname(join(dir, path)), { recursive: true })
    await writeFile(join(dir, path), bytes)
  }
}

/** xorshift32: the same edits on every run. */
function rng (seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    return x / 2 ** 32
  }
}

interface Edit { path: string, at: number, kind: 'replace' | 'insert' }

function planEdits (files: Map<string, Buffer>, trials: number, seed: number): Edit[] {
  const candidates = [...files].filter(([p]) => p.startsWith('vendor/'))
  const total = candidates.reduce((s, [, b]) => s + b.length, 0)
  const next = rng(seed)
  const edits: Edit[] = []
  for (let t = 0; t < trials; t++) {
    let pick = Math.floor(next() * total)
    let chosen = candidates[0] as [string, Buffer]
    for (const c of candidates) {
      if (pick < c[1].length) { chosen = c; break }
      pick -= c[1].length
    }
    // Snap to the start of a line.
    const at = Math.max(0, chosen[1].lastIndexOf(10, pick) + 1)
    edits.push({ path: chosen[0], at, kind: t % 2 === 0 ? 'replace' : 'insert' })
  }
  return edits
}

function applyEdit (files: Map<string, Buffer>, edit: Edit, trial: number): Map<string, Buffer> {
  const out = new Map(files)
  const data = files.get(edit.path) as Buffer
  const mark = `/* patch ${String(trial).padStart(4, '0')} */`
  if (edit.kind === 'replace') {
    const patched = Buffer.from(data)
    Buffer.from(mark.slice(0, 16)).copy(patched, Math.min(edit.at, Math.max(0, patched.length - 16)))
    out.set(edit.path, patched)
  } else {
    out.set(edit.path, Buffer.concat([data.subarray(0, edit.at), Buffer.from(`${mark} const x${trial} = 1;`.slice(0, 39) + '\n'), data.subarray(edit.at)]))
  }
  const manifest = JSON.parse((files.get('module.json') as Buffer).toString()) as { version: string }
  manifest.version = '1.0.1'
  out.set('module.json', Buffer.from(JSON.stringify(manifest, null, 2)))
  return out
}

/** Counts the bytes a source delivers, by kind of file. */
class Counter {
  metadata = 0
  descriptor = 0
  manifest = 0
  chunks = 0
  manifestChunkHashes = new Set<string>()
  reset (): void { this.metadata = 0; this.descriptor = 0; this.manifest = 0; this.chunks = 0 }
  get total (): number { return this.metadata + this.descriptor + this.manifest + this.chunks }
  wrap (source: PackageSource): PackageSource {
    return {
      kind: source.kind,
      url: source.url,
      close: async () => { await source.close() },
      read: async (path, options) => {
        const r = await source.read(path, options)
        const kind = path.startsWith('metadata/') || path.endsWith('index.json')
          ? 'metadata'
          : path.startsWith('targets/') ? 'descriptor' : this.manifestChunkHashes.has(path.slice(path.lastIndexOf('/') + 1)) ? 'manifest' : 'chunks'
        const add = (n: number): void => { this[kind] += n }
        async function * counted (): AsyncGenerator<Uint8Array> {
          for await (const piece of r.body) {
            add(piece.length)
            yield piece
          }
        }
        return { offset: r.offset, body: counted() }
      }
    }
  }
}

interface BuiltModule { dir: string, files: Map<string, Buffer>, spec: ModuleSpec, bytes: number }

interface TrialResult { full: number, update: number, metadata: number, descriptor: number, manifest: number, chunks: number }

async function runConfig (label: string, chunker: ChunkerParams, mod: BuiltModule, edits: Edit[], work: string): Promise<Record<string, number>> {
  const { dir: baseDir, files, spec } = mod
  const basePack = await packModule(baseDir, { chunker })
  const results: TrialResult[] = []
  let servedRoot = ''
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)
    readFile(join(servedRoot, path)).then((data) => {
      const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '')
      if (m !== null && Number(m[1]) < data.length) {
        res.writeHead(206, { 'content-range': `bytes ${m[1]}-${data.length - 1}/${data.length}`, 'content-length': data.length - Number(m[1]) }).end(data.subarray(Number(m[1])))
      } else res.writeHead(200, { 'content-length': data.length }).end(data)
    }, () => { res.writeHead(404).end() })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
  try {
    for (const [t, edit] of edits.entries()) {
      const dir = join(work, `${label}-${t}`)
      const repo = join(dir, 'repo')
      const keys = join(dir, 'keys')
      await initRepository(repo, keys)
      await publishPackage(repo, keys, basePack)
      servedRoot = repo
      const counter = new Counter()
      const open = (u: string, o: { cacheDir: string }): PackageSource => counter.wrap(openSource(u, o))
      const root = new Uint8Array(await readFile(join(repo, 'root.json')))
      const client = new PackageManager({ dataDir: join(dir, 'old'), openSource: open })
      await client.addRepository('main', url, { root })
      await client.install([spec.name])

      const editedDir = join(dir, 'edited')
      await writeTree(editedDir, applyEdit(files, edit, t))
      const edited: PackedModule = await packModule(editedDir, { chunker })
      await publishPackage(repo, keys, edited)
      counter.manifestChunkHashes = new Set(manifestChunks(edited.manifestBytes).map(c => c.hash))
      counter.reset()
      const update = await client.update()
      if (update.changes[0]?.to !== '1.0.1') throw new Error('update did not happen')
      const u = { update: counter.total, metadata: counter.metadata, descriptor: counter.descriptor, manifest: counter.manifest, chunks: counter.chunks }

      const fresh = new PackageManager({ dataDir: join(dir, 'fresh'), openSource: open })
      await fresh.addRepository('main', url, { root })
      counter.reset()
      await fresh.install([spec.name])
      results.push({ full: counter.total, ...u })
      await rm(dir, { recursive: true, force: true })
    }
  } finally {
    server.closeAllConnections()
    await new Promise(resolve => server.close(resolve))
  }
  const mean = (k: keyof TrialResult): number => results.reduce((s, r) => s + r[k], 0) / results.length
  const ratios = results.map(r => r.update / r.full).sort((a, b) => a - b)
  return {
    full_bytes: round(mean('full')),
    update_bytes: round(mean('update')),
    update_ratio: round(mean('update') / mean('full'), 4),
    update_ratio_p90: round(ratios[Math.floor(ratios.length * 0.9)] ?? Number.NaN, 4),
    update_ratio_max: round(ratios[ratios.length - 1] ?? Number.NaN, 4),
    update_metadata_bytes: round(mean('metadata')),
    update_descriptor_bytes: round(mean('descriptor')),
    update_manifest_bytes: round(mean('manifest')),
    update_chunk_bytes: round(mean('chunks')),
    chunks: basePack.chunks.size
  }
}

function option (args: string[], name: string): number | undefined {
  const i = args.indexOf(`--${name}`)
  return i === -1 ? undefined : Number(args[i + 1])
}

/** The chunker sweep: other averages (min = avg / 2, max = avg * 8, as the defaults), on the given edits. */
async function sweep (label: string, mod: BuiltModule, edits: Edit[], work: string): Promise<Array<Record<string, number>>> {
  const out: Array<Record<string, number>> = []
  for (const avg of [1024, 2048, 4096, 8192, 16384]) {
    const params: ChunkerParams = { algorithm: CHUNKER_ALGORITHM, min: avg / 2, avg, max: avg * 8 }
    const r = await runConfig(`${label}-${avg}`, params, mod, edits, work)
    console.log(`${label} avg ${avg}: ratio ${r.update_ratio} (${r.update_bytes} of ${r.full_bytes} bytes)`)
    out.push({ avg, min: params.min, max: params.max, update_ratio: r.update_ratio as number, update_bytes: r.update_bytes as number })
  }
  return out
}

/** Runs `fn` repeatedly for about `ms` milliseconds; MiB of `bytes` per pass per second. */
async function throughput (bytes: number, ms: number, fn: () => Promise<void>): Promise<number> {
  let done = 0
  const t0 = performance.now()
  while (performance.now() - t0 < ms) {
    await fn()
    done += bytes
  }
  return done / 1024 / 1024 / ((performance.now() - t0) / 1000)
}

export async function run (args: string[]): Promise<Record<string, unknown>> {
  const trials = option(args, 'trials') ?? 16
  const ours: ChunkerParams = {
    algorithm: CHUNKER_ALGORITHM,
    min: option(args, 'min') ?? DEFAULT_CHUNKER.min,
    avg: option(args, 'avg') ?? DEFAULT_CHUNKER.avg,
    max: option(args, 'max') ?? DEFAULT_CHUNKER.max
  }
  const work = await mkdtemp(join(tmpdir(), 'logos-bench-pkg-'))
  try {
    const build = async (spec: ModuleSpec): Promise<BuiltModule> => {
      const dir = join(work, `module-${spec.name}`)
      const files = await buildModule(dir, spec)
      const bytes = [...files.values()].reduce((s, b) => s + b.length, 0)
      console.log(`${spec.name}: ${files.size} files, ${round(bytes / 1024)} KiB; ${trials} one-place edits (seed ${spec.seed})`)
      return { dir, files, spec, bytes }
    }
    const tuning = await build(TUNING)
    const heldOut = await build(HELD_OUT)
    const tuningEdits = planEdits(tuning.files, trials, TUNING.seed)
    const heldOutEdits = planEdits(heldOut.files, trials, HELD_OUT.seed)

    const t0 = performance.now()
    const packed = await packModule(tuning.dir, { chunker: ours })
    const packMs = performance.now() - t0

    const doSweep = !args.includes('--no-sweep')
    // The sweep that chose the defaults ran on the tuning set's first 8 edits; the held-out sweep shows whether the
    // choice carries over to files and edits it never saw.
    const tuningSweep = doSweep ? await sweep('sweep', tuning, tuningEdits.slice(0, Math.min(8, trials)), work) : []
    const heldOutSweep = doSweep ? await sweep('held-out sweep', heldOut, heldOutEdits.slice(0, Math.min(8, trials)), work) : []

    const casync = await runConfig('casync', CASYNC_LIKE, tuning, tuningEdits, work)
    console.log(`casync-like (min 16 KiB, avg 64 KiB, max 256 KiB): ratio ${casync.update_ratio}, ${casync.update_bytes} of ${casync.full_bytes} bytes`)
    const ourResult = await runConfig('ours', ours, tuning, tuningEdits, work)
    console.log(`ours (min ${ours.min}, avg ${ours.avg}, max ${ours.max}): ratio ${ourResult.update_ratio}, ${ourResult.update_bytes} of ${ourResult.full_bytes} bytes`)
    const heldOutCasync = await runConfig('held-out-casync', CASYNC_LIKE, heldOut, heldOutEdits, work)
    console.log(`held out, casync-like: ratio ${heldOutCasync.update_ratio}, ${heldOutCasync.update_bytes} of ${heldOutCasync.full_bytes} bytes`)
    const heldOutOurs = await runConfig('held-out-ours', ours, heldOut, heldOutEdits, work)
    console.log(`held out, ours: ratio ${heldOutOurs.update_ratio}, ${heldOutOurs.update_bytes} of ${heldOutOurs.full_bytes} bytes`)

    // Verification. An install of the tuning module from a folder repository, timing its stage phase (every chunk read
    // back from the chunk store and hashed, every file written, hashed, fsynced); then the same verification without
    // the writes; then `logos pkg verify` of the installed build. All three read from the page cache (the files were
    // just written): they measure hashing and system calls, not a disk.
    const vrepo = join(work, 'verify')
    await initRepository(join(vrepo, 'repo'), join(vrepo, 'keys'))
    await publishPackage(join(vrepo, 'repo'), join(vrepo, 'keys'), packed)
    let stageStart = 0
    let stageEnd = 0
    const pm = new PackageManager({
      dataDir: join(vrepo, 'data'),
      onProgress: (p) => {
        if (p.phase === 'stage' && stageStart === 0) stageStart = performance.now()
        if (p.phase === 'commit' && stageEnd === 0) stageEnd = performance.now()
      }
    })
    await pm.addRepository('main', join(vrepo, 'repo'), { root: new Uint8Array(await readFile(join(vrepo, 'repo', 'root.json'))) })
    await pm.install([TUNING.name])
    const assembleMiBps = tuning.bytes / 1024 / 1024 / ((stageEnd - stageStart) / 1000)

    const store = new ChunkStore(join(vrepo, 'data', 'packages', 'chunks'))
    const installVerifyMiBps = await throughput(tuning.bytes, 2000, async () => {
      for (const f of packed.manifest.files) {
        const hash = createHash('sha256')
        for (const [chunk, len] of f.chunks) hash.update(await store.get(chunk, len))
        if (hash.digest('hex') !== f.sha256) throw new Error(`${f.path} does not verify`)
      }
    })
    const verifyMiBps = await throughput(tuning.bytes, 2000, async () => {
      const [r] = await pm.verify()
      if (r?.ok !== true) throw new Error('verify failed')
    })

    return {
      module_bytes: tuning.bytes,
      module_files: tuning.files.size,
      trials,
      chunker: `${ours.min}/${ours.avg}/${ours.max}`,
      full_bytes: ourResult.full_bytes,
      update_bytes: ourResult.update_bytes,
      update_ratio: ourResult.update_ratio,
      update_ratio_p90: ourResult.update_ratio_p90,
      update_ratio_max: ourResult.update_ratio_max,
      update_breakdown: {
        metadata: ourResult.update_metadata_bytes,
        descriptor: ourResult.update_descriptor_bytes,
        manifest_chunks: ourResult.update_manifest_bytes,
        file_chunks: ourResult.update_chunk_bytes
      },
      casync_like_update_bytes: casync.update_bytes,
      casync_like_update_ratio: casync.update_ratio,
      vs_casync_like: round((casync.update_ratio as number) / (ourResult.update_ratio as number), 2),
      heldout_module_bytes: heldOut.bytes,
      heldout_module_files: heldOut.files.size,
      heldout_full_bytes: heldOutOurs.full_bytes,
      heldout_update_bytes: heldOutOurs.update_bytes,
      heldout_update_ratio: heldOutOurs.update_ratio,
      heldout_update_ratio_p90: heldOutOurs.update_ratio_p90,
      heldout_update_ratio_max: heldOutOurs.update_ratio_max,
      heldout_casync_like_update_ratio: heldOutCasync.update_ratio,
      heldout_vs_casync_like: round((heldOutCasync.update_ratio as number) / (heldOutOurs.update_ratio as number), 2),
      verify_mib_per_s: round(verifyMiBps, 1),
      install_verify_mib_per_s: round(installVerifyMiBps, 1),
      assemble_mib_per_s: round(assembleMiBps, 1),
      pack_mib_per_s: round(tuning.bytes / 1024 / 1024 / (packMs / 1000), 1),
      sweep: tuningSweep,
      heldout_sweep: heldOutSweep
    }
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}
