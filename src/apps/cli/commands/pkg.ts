import cliProgress from 'cli-progress'
import type { Command } from 'commander'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { readModuleFolder } from '../../../kernel/index.ts'
import {
  PackageManager, decodeArchive, encodeArchive, initRepository, packModule, publishPackage, refreshTimestamp, rotateKeys,
  sha256Hex
} from '../../../modules/package-manager/index.ts'
import type { PackedModule, Progress, TransactionResult, TufRole } from '../../../modules/package-manager/index.ts'
import { defaultDataDir, findModuleFolders } from '../../node/index.ts'

interface DataDirOption { dataDir: string }

/** The built-in modules, which dependencies may name but which are never installed. */
async function builtins (): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const dir of await findModuleFolders()) {
    const { manifest } = await readModuleFolder(dir)
    out[manifest.name] = manifest.version
  }
  return out
}

function formatBytes (n: number): string {
  if (n < 1024) return `${n} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`
  return `${(n / 1024 / 1024).toFixed(2)} MiB`
}

/** A package manager whose downloads draw a progress bar on the terminal. */
async function manager (opts: DataDirOption): Promise<{ pm: PackageManager, done: () => void }> {
  let bar: cliProgress.SingleBar | undefined
  const onProgress = (p: Progress): void => {
    if (p.phase === 'download' && (p.totalBytes ?? 0) > 0) {
      if (bar === undefined) {
        // {size}, not {total}: cli-progress fills {total} itself (the raw number), over any payload of that name.
        bar = new cliProgress.SingleBar({
          format: 'downloading [{bar}] {percentage}% | {done} of {size} | {chunks} chunks',
          hideCursor: true
        }, cliProgress.Presets.shades_classic)
        bar.start(p.totalBytes ?? 0, 0, { done: '0 B', size: formatBytes(p.totalBytes ?? 0), chunks: `0/${p.totalChunks ?? 0}` })
      }
      bar.update(p.doneBytes ?? 0, { done: formatBytes(p.doneBytes ?? 0), size: formatBytes(p.totalBytes ?? 0), chunks: `${p.doneChunks ?? 0}/${p.totalChunks ?? 0}` })
    } else if (bar !== undefined && p.phase !== 'download') {
      bar.stop()
      bar = undefined
    }
    if (p.phase === 'refresh') console.error(`checking repository ${p.name ?? ''}`)
  }
  const pm = new PackageManager({ dataDir: resolve(opts.dataDir), builtins: await builtins(), onProgress })
  return { pm, done: () => { bar?.stop() } }
}

function printResult (r: TransactionResult): void {
  if (r.changes.length === 0) console.log('nothing to do')
  for (const c of r.changes) {
    if (c.from === undefined) console.log(`+ ${c.name} ${c.to ?? ''}`)
    else if (c.to === undefined) console.log(`- ${c.name} ${c.from}`)
    else console.log(`~ ${c.name} ${c.from} -> ${c.to}`)
  }
  if (r.transferredBytes > 0 || r.chunksFetched > 0) {
    console.log(`${formatBytes(r.transferredBytes)} transferred, ${r.chunksFetched} chunks fetched, ${r.chunksReused} reused`)
  }
}

async function loadPackage (path: string): Promise<PackedModule> {
  const s = await stat(path)
  return s.isDirectory() ? await packModule(path) : decodeArchive(new Uint8Array(await readFile(path)))
}

function parseThresholds (values: string[] | undefined): { keys: Partial<Record<TufRole, number>>, thresholds: Partial<Record<TufRole, number>> } {
  const keys: Partial<Record<TufRole, number>> = {}
  const thresholds: Partial<Record<TufRole, number>> = {}
  for (const v of values ?? []) {
    const m = /^(root|targets|snapshot|timestamp)=(\d+)(?:\/(\d+))?$/.exec(v)
    if (m === null) throw new Error(`--threshold ${v}: expected ROLE=N or ROLE=N/KEYS (like root=2/3)`)
    const role = m[1] as TufRole
    thresholds[role] = Number(m[2])
    keys[role] = m[3] === undefined ? Number(m[2]) : Number(m[3])
  }
  return { keys, thresholds }
}

export function registerPkg (program: Command): void {
  const pkg = program.command('pkg').description('module packages: pack, publish, install, update, remove, list, verify, rollback, search')
  const dataDirOption = ['--data-dir <dir>', 'the node\'s data directory', defaultDataDir()] as const

  pkg.command('pack <dir>')
    .description('make a package archive from a module folder (deterministic: same folder, same bytes)')
    .option('-o, --output <file>', 'where to write it (default NAME-VERSION.lpkg)')
    .action(async (dir: string, opts: { output?: string }) => {
      const packed = await packModule(resolve(dir))
      const bytes = encodeArchive(packed)
      const out = resolve(opts.output ?? `${packed.manifest.name}-${packed.manifest.version}.lpkg`)
      await writeFile(out, bytes)
      console.log(`${out}: ${packed.manifest.name}@${packed.manifest.version}, ${packed.manifest.files.length} files, ${packed.chunks.size} chunks, ${formatBytes(bytes.length)}, sha256 ${sha256Hex(bytes)}`)
    })

  pkg.command('publish <package>')
    .description('add a package (archive or module folder) to a repository folder and re-sign its metadata')
    .requiredOption('--repo <dir>', 'the repository folder (what a static server or git serves)')
    .option('--keys <dir>', 'the signing keys (default <repo>.keys)')
    .action(async (path: string, opts: { repo: string, keys?: string }) => {
      const repo = resolve(opts.repo)
      const r = await publishPackage(repo, resolve(opts.keys ?? `${repo}.keys`), await loadPackage(resolve(path)))
      console.log(`published ${r.name}@${r.version} (manifest ${r.manifestSha256.slice(0, 16)}): ${r.newChunks} of ${r.chunks} chunks new, ${formatBytes(r.newChunkBytes)}; targets version ${r.targetsVersion}`)
    })

  const repo = pkg.command('repo').description('repositories: create and sign (publisher side), add and list (client side)')
  repo.command('init <dir>')
    .description('create an empty repository and its Ed25519 keys (one per role unless --threshold says more)')
    .option('--keys <dir>', 'where to keep the signing keys (default <dir>.keys; never serve it)')
    .option('--threshold <role=n[/keys]...>', 'signatures needed per role, e.g. root=2/3', (v: string, prev: string[] = []) => [...prev, v])
    .action(async (dir: string, opts: { keys?: string, threshold?: string[] }) => {
      const root = resolve(dir)
      const keysDir = resolve(opts.keys ?? `${root}.keys`)
      const r = await initRepository(root, keysDir, parseThresholds(opts.threshold))
      console.log(`repository ${root}\nkeys ${keysDir}\ntrust anchor ${r.rootFile} (hand it to clients: logos pkg repo add NAME URL --root root.json)`)
      for (const [role, ids] of Object.entries(r.keyIds)) console.log(`  ${role.padEnd(9)} ${ids.map(id => id.slice(0, 16)).join(', ')}`)
    })
  repo.command('timestamp <dir>')
    .description('sign a fresh timestamp (do this at least daily, or clients refuse the repository as frozen)')
    .option('--keys <dir>', 'the signing keys (default <dir>.keys)')
    .action(async (dir: string, opts: { keys?: string }) => {
      const root = resolve(dir)
      console.log(`timestamp version ${await refreshTimestamp(root, resolve(opts.keys ?? `${root}.keys`))}`)
    })
  repo.command('rotate <dir> <role>')
    .description('replace the keys of a role (root, targets, snapshot, timestamp): a new root names them, old ones retire')
    .option('--keys <dir>', 'the signing keys (default <dir>.keys)')
    .option('--threshold <n[/keys]>', 'signatures the role will need, and how many keys to make')
    .action(async (dir: string, role: string, opts: { keys?: string, threshold?: string }) => {
      if (!['root', 'targets', 'snapshot', 'timestamp'].includes(role)) throw new Error(`unknown role ${role}`)
      const root = resolve(dir)
      const m = opts.threshold === undefined ? null : /^(\d+)(?:\/(\d+))?$/.exec(opts.threshold)
      if (opts.threshold !== undefined && m === null) throw new Error(`--threshold ${opts.threshold}: expected N or N/KEYS`)
      const r = await rotateKeys(root, resolve(opts.keys ?? `${root}.keys`), role as TufRole, {
        threshold: m === null ? undefined : Number(m[1]),
        keys: m === null ? undefined : Number(m[2] ?? m[1])
      })
      console.log(`root version ${r.rootVersion}: ${role} keys ${r.keyIds.map(id => id.slice(0, 16)).join(', ')}`)
    })
  repo.command('add <name> <url>')
    .description('add a repository: a folder, http(s)://..., git+file://..., git+https://... or git://...')
    .option('--root <file>', 'its root.json, obtained out of band (the trust anchor)')
    .option('--trust-on-first-use', 'trust the root the repository serves now (weaker: only later changes are checked)')
    .option(...dataDirOption)
    .action(async (name: string, url: string, opts: DataDirOption & { root?: string, trustOnFirstUse?: boolean }) => {
      const { pm, done } = await manager(opts)
      try {
        const location = /^[a-z+]+:\/\//.test(url) ? url : resolve(url)
        const root = opts.root === undefined ? undefined : new Uint8Array(await readFile(resolve(opts.root)))
        await pm.addRepository(name, location, { root, trustOnFirstUse: opts.trustOnFirstUse })
        console.log(`added ${name} (${location})`)
      } finally {
        done()
      }
    })
  repo.command('list')
    .description('the configured repositories')
    .option(...dataDirOption)
    .action(async (opts: DataDirOption) => {
      const { pm } = await manager(opts)
      for (const r of await pm.repositories()) console.log(`${r.name}  ${r.url}`)
    })
  repo.command('remove <name>')
    .description('forget a repository (installed packages stay)')
    .option(...dataDirOption)
    .action(async (name: string, opts: DataDirOption) => {
      const { pm } = await manager(opts)
      await pm.removeRepository(name)
    })

  pkg.command('install <specs...>')
    .description('install packages (NAME or NAME@RANGE) with their dependencies')
    .option(...dataDirOption)
    .action(async (specs: string[], opts: DataDirOption) => {
      const { pm, done } = await manager(opts)
      try {
        printResult(await pm.install(specs))
      } finally {
        done()
      }
    })
  pkg.command('update [names...]')
    .description('update packages (all when none named) to the newest versions their ranges allow; fetches only missing chunks')
    .option(...dataDirOption)
    .action(async (names: string[], opts: DataDirOption) => {
      const { pm, done } = await manager(opts)
      try {
        printResult(await pm.update(names))
      } finally {
        done()
      }
    })
  pkg.command('remove <name>')
    .description('remove a package and the dependencies nothing else needs')
    .option(...dataDirOption)
    .action(async (name: string, opts: DataDirOption) => {
      const { pm } = await manager(opts)
      printResult(await pm.remove(name))
    })
  pkg.command('rollback <name>')
    .description('switch a package back to the version it replaced')
    .option(...dataDirOption)
    .action(async (name: string, opts: DataDirOption) => {
      const { pm } = await manager(opts)
      printResult(await pm.rollback(name))
    })
  pkg.command('list')
    .description('the installed packages')
    .option('--json', 'print JSON')
    .option(...dataDirOption)
    .action(async (opts: DataDirOption & { json?: boolean }) => {
      const { pm } = await manager(opts)
      const rows = await pm.list()
      if (opts.json === true) {
        console.log(JSON.stringify(rows, null, 2))
        return
      }
      if (rows.length === 0) console.log('no packages installed')
      for (const r of rows) {
        console.log(`${r.name.padEnd(24)} ${r.version.padEnd(12)} ${r.requested ? 'requested ' : 'dependency'} ${r.repository}${r.previous === undefined ? '' : `  (previous ${r.previous.version})`}`)
      }
    })
  pkg.command('verify [names...]')
    .description('check installed files against their manifests')
    .option(...dataDirOption)
    .action(async (names: string[], opts: DataDirOption) => {
      const { pm } = await manager(opts)
      let bad = 0
      for (const r of await pm.verify(names)) {
        console.log(`${r.ok ? 'ok  ' : 'FAIL'} ${r.name}@${r.version}`)
        for (const p of r.problems) console.log(`     ${p}`)
        if (!r.ok) bad++
      }
      if (bad > 0) process.exitCode = 1
    })
  pkg.command('search [query]')
    .description('packages whose name or description contains the query')
    .option(...dataDirOption)
    .action(async (query: string | undefined, opts: DataDirOption) => {
      const { pm } = await manager(opts)
      for (const r of await pm.search(query ?? '')) {
        console.log(`${r.name.padEnd(24)} ${r.latest.padEnd(12)} ${r.repository.padEnd(10)} ${r.description ?? ''}`)
      }
    })
}
