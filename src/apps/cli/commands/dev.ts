import { resolve } from 'node:path'
import type { Command } from 'commander'
import { InvalidArgumentError } from '../../../common/index.ts'
import type { DirectoryEntry, LogEntry, TraceRecord } from '../../../kernel/index.ts'
import { connectFromDataDir, DevClient } from '../../../modules/developer/index.ts'
import type { ModuleRow, RecentActivity, ReloadOutcome, WatchInfo } from '../../../modules/developer/index.ts'
import { defaultDataDir } from '../../node/index.ts'

interface ConnectOptions {
  dataDir: string
  url?: string
  token?: string
}

/** `logos dev ...`: talks to a running node through its developer interface (found through --data-dir). */
export function registerDev (program: Command): void {
  const dev = program
    .command('dev')
    .description('inspect and control a running node: modules, calls, trace, logs, hot reload (its developer interface)')

  const connected = (cmd: Command): Command => cmd
    .option('--data-dir <dir>', 'the running node\'s data directory (its endpoint and token files)', defaultDataDir())
    .option('--url <url>', 'the interface\'s URL instead of the endpoint file (http://127.0.0.1:<port>/rpc)')
    .option('--token <token>', 'the access token instead of the token file')

  connected(dev.command('modules'))
    .description('every module: version, state, host, pid, uptime, restarts, CPU, memory, calls and failures')
    .option('--json', 'print JSON')
    .action(async (opts: ConnectOptions & { json?: boolean }) => {
      const rows = await (await connect(opts)).call<ModuleRow[]>('modules.list')
      console.log(opts.json === true ? JSON.stringify(rows, null, 2) : formatModuleRows(rows))
    })

  connected(dev.command('describe <name>'))
    .description('one module: methods, events, dependencies, recent calls and errors')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: ConnectOptions & { json?: boolean }) => {
      const client = await connect(opts)
      const [entry, recent] = await Promise.all([
        client.call<DirectoryEntry & { logLevel: string, watch?: WatchInfo }>('modules.describe', { name }),
        client.call<RecentActivity>('modules.recent', { name, limit: 10 })
      ])
      console.log(opts.json === true ? JSON.stringify({ ...entry, recent }, null, 2) : formatDescription(entry, recent))
    })

  connected(dev.command('call <module> <method> [params]'))
    .description('call a module\'s method; params is JSON (bytes as {"$bytes":"<base64>"})')
    .option('--timeout <ms>', 'the call\'s deadline in ms')
    .action(async (module: string, method: string, params: string | undefined, opts: ConnectOptions & { timeout?: string }) => {
      const request: Record<string, unknown> = { module, method }
      if (params !== undefined) request.params = parseJson(params, 'params')
      if (opts.timeout !== undefined) request.timeoutMs = positive(opts.timeout, '--timeout')
      const result = await (await connect(opts)).call('modules.call', request)
      console.log(JSON.stringify(result, null, 2))
    })

  connected(dev.command('trace'))
    .description('follow the trace: calls (timing, parent links, outcome), events, lifecycle, crashes and restarts')
    .option('--types <list>', 'comma-separated: call, event, lifecycle, supervision')
    .option('--modules <list>', 'comma-separated module names (a call matches on its caller or target)')
    .option('--errors', 'only failures: failed calls, changes to failed, crashes, give-ups, rollbacks')
    .option('--count <n>', 'stop after n records')
    .option('--json', 'one JSON record per line')
    .action(async (opts: ConnectOptions & { types?: string, modules?: string, errors?: boolean, count?: string, json?: boolean }) => {
      const params: Record<string, unknown> = {}
      if (opts.types !== undefined) params.types = list(opts.types)
      if (opts.modules !== undefined) params.modules = list(opts.modules)
      if (opts.errors === true) params.errorsOnly = true
      const limit = opts.count === undefined ? Infinity : positive(opts.count, '--count')
      await follow(await connect(opts), 'trace.subscribe', params, limit, (r) => opts.json === true ? JSON.stringify(r) : formatTrace(r as TraceRecord))
    })

  connected(dev.command('logs [module]'))
    .description('a module\'s recent log entries (all modules without a name); --follow for new ones, --set-level to change its level')
    .option('-n, --lines <n>', 'how many recent entries', '50')
    .option('--level <level>', 'only entries at this level or above')
    .option('--set-level <level>', 'set the module\'s log level at run time first')
    .option('-f, --follow', 'keep printing new entries')
    .option('--json', 'one JSON entry per line')
    .action(async (module: string | undefined, opts: ConnectOptions & { lines: string, level?: string, setLevel?: string, follow?: boolean, json?: boolean }) => {
      const client = await connect(opts)
      if (opts.setLevel !== undefined) {
        if (module === undefined) throw new InvalidArgumentError('--set-level needs a module name')
        const changed = await client.call<{ level: string, previous: string }>('logs.setLevel', { module, level: opts.setLevel })
        console.error(`${module}: log level ${changed.previous} -> ${changed.level}`)
      }
      const print = (e: LogEntry): string => opts.json === true ? JSON.stringify(e) : formatLog(e)
      const tail: Record<string, unknown> = { limit: positive(opts.lines, '--lines') }
      if (module !== undefined) tail.module = module
      if (opts.level !== undefined) tail.level = opts.level
      for (const entry of await client.call<LogEntry[]>('logs.tail', tail)) console.log(print(entry))
      if (opts.follow === true) {
        const params: Record<string, unknown> = {}
        if (module !== undefined) params.modules = [module]
        if (opts.level !== undefined) params.level = opts.level
        await follow(client, 'logs.subscribe', params, Infinity, (e) => print(e as LogEntry))
      }
    })

  connected(dev.command('reload <module>'))
    .description('replace a module\'s code while the node runs (rolled back if the new code fails); --watch to reload on save')
    .option('--dir <folder>', 'take the new code from this folder instead of the module\'s own')
    .option('--watch', 'have the node watch the module\'s folder and reload it on every change (no reload now)')
    .option('--unwatch', 'stop watching the module\'s folder')
    .option('--debounce <ms>', 'quiet period before a watched change reloads')
    .option('--follow', 'with --watch: keep printing the outcome of each reload')
    .action(async (module: string, opts: ConnectOptions & { dir?: string, watch?: boolean, unwatch?: boolean, debounce?: string, follow?: boolean }) => {
      const client = await connect(opts)
      if (opts.unwatch === true) {
        console.log(await client.call<boolean>('modules.unwatch', { name: module }) ? `stopped watching ${module}` : `${module} was not watched`)
        return
      }
      if (opts.watch === true) {
        const params: Record<string, unknown> = { name: module }
        if (opts.debounce !== undefined) params.debounceMs = positive(opts.debounce, '--debounce')
        const watch = await client.call<WatchInfo>('modules.watch', params)
        console.log(`watching ${watch.dir}: ${module} reloads ${watch.debounceMs} ms after the last change`)
        if (opts.follow === true) {
          await follow(client, 'logs.subscribe', { modules: ['developer'] }, Infinity, (e) => {
            const entry = e as LogEntry
            return entry.message.includes(` ${module}`) && /reload/.test(entry.message) ? formatLog(entry) : undefined
          })
        }
        return
      }
      const params: Record<string, unknown> = { name: module }
      if (opts.dir !== undefined) params.dir = resolve(opts.dir)
      const outcome = await client.call<ReloadOutcome>('modules.reload', params)
      console.log(`reloaded ${outcome.module} ${outcome.previousVersion} -> ${outcome.version} in ${outcome.durationMs.toFixed(0)} ms`)
    })
}

async function connect (opts: ConnectOptions): Promise<DevClient> {
  if (opts.url !== undefined) {
    if (opts.token === undefined) throw new InvalidArgumentError('--url needs --token')
    return new DevClient({ url: opts.url, token: opts.token })
  }
  const client = await connectFromDataDir(resolve(opts.dataDir))
  return opts.token === undefined ? client : new DevClient({ url: client.url, ws: client.wsUrl, token: opts.token })
}

/** Subscribes and prints until `limit` items, Ctrl-C, or the node goes away. */
async function follow (client: DevClient, method: 'trace.subscribe' | 'logs.subscribe', params: Record<string, unknown>, limit: number, format: (item: unknown) => string | undefined): Promise<void> {
  let printed = 0
  let finish: () => void = () => {}
  const done = new Promise<void>((resolve) => { finish = resolve })
  const sub = await client.subscribe(method, params, (items) => {
    for (const item of items) {
      if (printed >= limit) return
      const line = format(item)
      if (line === undefined) continue
      console.log(line)
      if (++printed >= limit) finish()
    }
  }, (dropped) => { console.error(`... ${dropped} records dropped (this terminal reads too slowly)`) })
  const onSignal = (): void => { finish() }
  process.once('SIGINT', onSignal)
  await Promise.race([done, sub.closed])
  process.off('SIGINT', onSignal)
  await sub.close()
}

// ---- formatting -------------------------------------------------------------------------------------------------

export function formatModuleRows (rows: ModuleRow[]): string {
  const header = ['NAME', 'VERSION', 'STATE', 'HOST', 'PID', 'UPTIME', 'RESTARTS', 'CPU', 'MEM', 'CALLS', 'ERRORS', 'NOTE']
  const lines = rows.map(r => [
    r.name + (r.watching ? '*' : ''),
    r.version,
    r.state,
    r.host,
    r.pid === undefined ? '-' : String(r.pid),
    r.uptimeMs === undefined ? '-' : duration(r.uptimeMs),
    String(r.restarts),
    r.cpuPercent === undefined ? '-' : `${r.cpuPercent.toFixed(1)}%`,
    r.rssBytes === undefined ? '-' : bytes(r.rssBytes),
    String(r.calls),
    String(r.failed),
    r.cause === undefined ? '' : `${r.cause.code}: ${r.cause.message}`
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map(l => (l[i] as string).length)))
  const fmt = (cells: string[]): string => cells.map((c, i) => i === cells.length - 1 ? c : c.padEnd(widths[i] as number)).join('  ').trimEnd()
  const out = [fmt(header), ...lines.map(fmt)]
  if (rows.some(r => r.watching)) out.push('* its folder is watched: it reloads on save')
  return out.join('\n')
}

function formatDescription (e: DirectoryEntry & { logLevel: string, watch?: WatchInfo }, recent: RecentActivity): string {
  const out = [`${e.name} ${e.version}  ${e.state} on ${e.host}${e.process === undefined ? '' : ` (pid ${e.process.pid})`}`]
  if (e.description !== undefined) out.push(`  ${e.description}`)
  if (e.source !== undefined) out.push(`  source: ${e.source}${e.watch === undefined ? '' : ' (watched)'}`)
  out.push(`  log level: ${e.logLevel}`)
  if (e.cause !== undefined) out.push(`  cause: ${e.cause.code}: ${e.cause.message}`)
  const deps = Object.entries(e.dependencies)
  out.push(`  depends on: ${deps.length === 0 ? '-' : deps.map(([n, r]) => `${n}@${r}`).join(', ')}; used by: ${e.dependents.join(', ') || '-'}`)
  out.push('methods:')
  for (const m of e.methods) out.push(`  ${m.name}${m.description === undefined ? '' : `  ${m.description}`}${m.params === undefined ? '' : `  params ${JSON.stringify(m.params)}`}`)
  if (e.methods.length === 0) out.push('  -')
  out.push('events:')
  for (const ev of e.events) out.push(`  ${ev.name}${ev.description === undefined ? '' : `  ${ev.description}`}`)
  if (e.events.length === 0) out.push('  -')
  out.push(`calls: ${recent.calls} served, ${recent.failed} failed (since ${new Date(recent.since).toISOString()})`)
  for (const c of recent.recentCalls) out.push(`  ${formatTrace(c)}`)
  out.push('recent errors:')
  for (const r of recent.recentErrors) out.push(`  ${formatTrace(r)}`)
  if (recent.recentErrors.length === 0) out.push('  -')
  return out.join('\n')
}

export function formatTrace (r: TraceRecord): string {
  const time = clock(r.at)
  switch (r.type) {
    case 'call': {
      const link = r.parentId === undefined ? '' : ` <- #${r.parentId}`
      const outcome = r.ok ? 'ok' : `FAILED ${r.error?.code ?? ''} ${r.error?.message ?? ''}`.trimEnd()
      return `${time} call  ${'  '.repeat(r.depth)}#${r.id}${link} ${r.caller} -> ${r.target}.${r.method}  ${(r.durationNs / 1e6).toFixed(3)} ms  ${outcome}`
    }
    case 'event':
      return `${time} event ${r.source}:${r.event} (${r.subscribers} subscriber${r.subscribers === 1 ? '' : 's'})${r.callId === undefined ? '' : ` during #${r.callId}`}`
    case 'lifecycle':
      return `${time} state ${r.module} ${r.from} -> ${r.to}${r.cause === undefined ? '' : `  ${r.cause.code}: ${r.cause.message}`}`
    case 'supervision':
      return `${time} ${r.action.toUpperCase()} ${r.module} ${JSON.stringify(r.detail)}`
  }
}

function formatLog (e: LogEntry): string {
  return `${new Date(e.at).toISOString()} ${e.level.padEnd(5)} [${e.module}] ${e.message}${e.fields === undefined ? '' : ` ${JSON.stringify(e.fields)}`}`
}

function clock (at: number): string {
  return new Date(at).toISOString().slice(11, 23)
}

export function duration (ms: number): string {
  const s = Math.floor(ms / 1000)
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, '0')}m`
  return `${Math.floor(s / 86400)}d${String(Math.floor(s / 3600) % 24).padStart(2, '0')}h`
}

function bytes (n: number): string {
  return n >= 1024 * 1024 * 1024 ? `${(n / 1024 ** 3).toFixed(1)}G` : `${(n / 1024 ** 2).toFixed(1)}M`
}

function list (text: string): string[] {
  return text.split(',').map(s => s.trim()).filter(s => s.length > 0)
}

function positive (text: string, what: string): number {
  const n = Number(text)
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${what} must be a positive integer, got "${text}"`)
  return n
}

function parseJson (text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch (err) {
    throw new InvalidArgumentError(`${what} must be JSON: ${(err as Error).message}`)
  }
}
