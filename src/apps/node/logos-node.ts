import { mkdir } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { IN_PROCESS_HOST, Kernel, readModuleFolder } from '../../kernel/index.ts'
import type { DirectoryEntry, KernelOptions, StartResult } from '../../kernel/index.ts'
import { installedModuleDirs } from '../../modules/package-manager/index.ts'
import { findModuleFolders } from './distribution.ts'
import { readNodeConfig } from './node-config.ts'
import type { NodeConfig } from './node-config.ts'

export interface NodeOptions extends Partial<Omit<KernelOptions, 'dataDir' | 'config'>> {
  dataDir?: string
  /** Module folders to load instead of the built-in distribution. */
  moduleDirs?: string[]
  /** Loads only these names of the distribution (all when absent). */
  only?: string[]
  /** Merged over the data directory's config.json. */
  config?: Partial<NodeConfig>
  /** Whether to start the modules (default true). */
  start?: boolean
  /** Whether to load the packages installed under the data directory (default true). */
  packages?: boolean
}

export interface LogosNode {
  kernel: Kernel
  dataDir: string
  results: StartResult[]
  stop: () => Promise<void>
}

/** The data directory a node uses when none is given: $LOGOS_DATA_DIR, else ~/.logos. */
export function defaultDataDir (): string {
  return resolve(process.env.LOGOS_DATA_DIR ?? join(homedir(), '.logos'))
}

/** Boots a node: a kernel, the default distribution of modules (minus the disabled ones), all started. */
export async function startNode (options: NodeOptions = {}): Promise<LogosNode> {
  const dataDir = resolve(options.dataDir ?? defaultDataDir())
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const fileConfig = await readNodeConfig(dataDir)
  const config: NodeConfig = {
    ...fileConfig,
    ...options.config,
    modules: { ...fileConfig.modules, ...options.config?.modules }
  }
  const moduleConfig: Record<string, Record<string, unknown>> = {}
  for (const [name, settings] of Object.entries(config.modules)) moduleConfig[name] = settings.config ?? {}
  const kernel = new Kernel({ ...options, dataDir, config: moduleConfig, logLevel: options.logLevel ?? config.logLevel })
  for (const [name, settings] of Object.entries(config.modules)) {
    if (settings.logLevel !== undefined) kernel.logs.setLevel(name, settings.logLevel)
  }
  const dirs = options.moduleDirs ?? await findModuleFolders()
  // Installed packages load like built-in modules, but untrusted: a package can never be privileged.
  const installed = options.packages === false
    ? []
    : await installedModuleDirs(dataDir).catch((err: unknown) => {
      kernel.logs.write({ at: Date.now(), module: 'node', level: 'error', message: `cannot read installed packages: ${(err as Error).message}` })
      return []
    })
  const sources = [
    ...dirs.map(dir => ({ dir, trusted: options.moduleDirs === undefined })),
    ...installed.map(dir => ({ dir, trusted: false }))
  ]
  const unwanted: string[] = []
  for (const { dir, trusted } of sources) {
    try {
      const { manifest } = await readModuleFolder(dir)
      const settings = config.modules[manifest.name]
      await kernel.load({ dir }, { trusted, host: settings?.host })
      if (settings?.enabled === false || (options.only !== undefined && !options.only.includes(manifest.name))) unwanted.push(manifest.name)
    } catch (err) {
      kernel.logs.write({ at: Date.now(), module: 'node', level: 'error', message: `cannot load ${dir}: ${(err as Error).message}` })
    }
  }
  // Unloaded after everything is in, so that a disabled module takes its dependents with it whatever the order.
  for (const name of unwanted) if (kernel.has(name)) await kernel.unload(name, { cascade: true })
  const results = options.start === false ? [] : await kernel.startAll()
  let stopped = false
  return {
    kernel,
    dataDir,
    results,
    stop: async () => {
      if (stopped) return
      stopped = true
      await kernel.shutdown()
    }
  }
}

/** A one-line view of each module, for the CLI; modules in processes of their own show pid, CPU, memory, restarts. */
export function formatModuleTable (entries: DirectoryEntry[]): string {
  const rows = entries.map(e => [e.name, e.version, e.state, e.host, formatProcess(e), e.cause?.message ?? ''])
  const heads = ['NAME', 'VERSION', 'STATE', 'HOST', 'PROCESS', 'NOTE']
  const widths = heads.map((h, i) => Math.max(...rows.map(r => (r[i] as string).length), h.length))
  const line = (r: string[]): string => r.map((c, i) => i < heads.length - 1 ? c.padEnd(widths[i] as number) : c).join('  ').trimEnd()
  return [line(heads), ...rows.map(line)].join('\n')
}

function formatProcess (e: DirectoryEntry): string {
  const p = e.process
  if (p === undefined || e.host === IN_PROCESS_HOST || p.pid <= 0) return ''
  const parts = [`pid ${p.pid}`]
  if (p.cpuPercent !== undefined) parts.push(`cpu ${p.cpuPercent.toFixed(1)}%`)
  if (p.rssBytes !== undefined) parts.push(`rss ${(p.rssBytes / (1024 * 1024)).toFixed(0)} MiB`)
  if (p.restarts > 0) parts.push(`${p.restarts} restart${p.restarts === 1 ? '' : 's'}`)
  return parts.join(' ')
}
