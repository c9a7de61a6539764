import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Kernel } from '../../../src/kernel/index.ts'
import type { KernelOptions, LogEntry, TraceRecord } from '../../../src/kernel/index.ts'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')
export const PM_DIR = join(root, 'src/modules/process-manager')
export const FIXTURES = join(root, 'test/fixtures/process-manager')
export const fixture = (name: string): string => join(FIXTURES, name)

export interface TestNode {
  kernel: Kernel
  dataDir: string
  trace: TraceRecord[]
  logs: LogEntry[]
  /** Every pid a module of this node ran in (filled by `pidOf`). */
  pids: Set<number>
  pidOf: (module: string) => number
  close: () => Promise<void>
}

/** A kernel with the process manager loaded and started, recording trace (minus calls) and logs. */
export async function startTestNode (options: { pm?: Record<string, unknown>, kernel?: Partial<KernelOptions> } = {}): Promise<TestNode> {
  const dataDir = await mkdtemp(join(tmpdir(), 'logos-pm-test-'))
  const kernel = new Kernel({ dataDir, ...options.kernel })
  const trace: TraceRecord[] = []
  const logs: LogEntry[] = []
  kernel.subscribeTrace((r) => { trace.push(r) }, { types: ['lifecycle', 'supervision', 'event'] })
  kernel.logs.subscribe((e) => { logs.push(e) })
  await kernel.load({ dir: PM_DIR }, { trusted: true, config: { spares: 0, ...options.pm } })
  await kernel.start('process-manager')
  const pids = new Set<number>()
  return {
    kernel,
    dataDir,
    trace,
    logs,
    pids,
    pidOf: (module) => {
      const pid = kernel.describe(module).process?.pid ?? -1
      if (pid > 0) pids.add(pid)
      return pid
    },
    close: async () => {
      await kernel.shutdown()
      await rm(dataDir, { recursive: true, force: true })
    }
  }
}

export function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  // A zombie (exited, not yet reaped by its parent) is not alive either.
  try {
    const stat = readStat(pid)
    return stat !== 'Z'
  } catch {
    return false
  }
}

function readStat (pid: number): string {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
  return text.slice(text.lastIndexOf(')') + 2).split(' ')[0] as string
}

/** Polls until `predicate` holds; fails with `what` after `timeoutMs`. */
export async function until (predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs
  for (;;) {
    if (await predicate()) return
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

export function supervision (trace: TraceRecord[], module: string, action?: string): Array<Extract<TraceRecord, { type: 'supervision' }>> {
  return trace.filter((r): r is Extract<TraceRecord, { type: 'supervision' }> => r.type === 'supervision' && r.module === module && (action === undefined || r.action === action))
}

/** Resolves with the error a promise rejects with; fails if it resolves. */
export async function rejection (promise: Promise<unknown>): Promise<Error & { code?: string, data?: Record<string, unknown> }> {
  try {
    await promise
  } catch (err) {
    return err as Error & { code?: string }
  }
  throw new Error('expected a rejection')
}
