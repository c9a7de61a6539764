import { RingBuffer } from '../../common/index.ts'
import type { TraceRecord } from '../../sdk/index.ts'
import { MAX_TRACKED_MODULES, RECENT_CALLS, RECENT_ERRORS } from './constants.ts'

type CallRecord = Extract<TraceRecord, { type: 'call' }>

/** What `modules.recent` returns for one module. */
export interface RecentActivity {
  module: string
  /** Calls served and failed since the developer module started (or the module was loaded, if later). */
  calls: number
  failed: number
  since: number
  lastCallAt?: number
  /** The newest calls it served, oldest first. */
  recentCalls: CallRecord[]
  /** The newest errors, oldest first: failed calls, lifecycle changes to `failed`, crashes, give-ups, rollbacks. */
  recentErrors: TraceRecord[]
}

class ModuleActivity {
  readonly calls = new RingBuffer<CallRecord>(RECENT_CALLS)
  readonly errors = new RingBuffer<TraceRecord>(RECENT_ERRORS)
  total = 0
  failed = 0
  lastCallAt = 0
  readonly since = Date.now()
}

/**
 * Recent calls and errors per module, fed from the kernel's trace stream while the developer module runs (the
 * listener is attached at its start and detached at its stop). Each module keeps two bounded rings; a module's rings
 * go when it is unloaded.
 */
export class ActivityLog {
  private readonly modules = new Map<string, ModuleActivity>()

  /** The trace listener. Kept cheap: it runs inside every call while the developer module runs. */
  readonly listener = (record: TraceRecord): void => {
    if (record.type === 'call') {
      const a = this.modules.get(record.target) ?? this.track(record.target)
      a.calls.push(record)
      a.total++
      a.lastCallAt = record.at
      if (!record.ok) {
        a.failed++
        a.errors.push(record)
      }
      return
    }
    if (record.type === 'lifecycle') {
      if (record.to === 'unloaded') this.modules.delete(record.module)
      else if (record.to === 'failed') (this.modules.get(record.module) ?? this.track(record.module)).errors.push(record)
      return
    }
    if (record.type === 'supervision' && record.action !== 'restarting' && record.action !== 'restarted') {
      (this.modules.get(record.module) ?? this.track(record.module)).errors.push(record)
    }
  }

  private track (name: string): ModuleActivity {
    if (this.modules.size >= MAX_TRACKED_MODULES) {
      // The oldest tracked module makes room (Map keeps insertion order).
      const oldest = this.modules.keys().next().value
      if (oldest !== undefined) this.modules.delete(oldest)
    }
    const a = new ModuleActivity()
    this.modules.set(name, a)
    return a
  }

  /** Totals only (for the module list): calls and failed calls since tracking began. */
  totals (name: string): { calls: number, failed: number } {
    const a = this.modules.get(name)
    return a === undefined ? { calls: 0, failed: 0 } : { calls: a.total, failed: a.failed }
  }

  recent (name: string, limit = RECENT_CALLS): RecentActivity {
    const a = this.modules.get(name)
    if (a === undefined) return { module: name, calls: 0, failed: 0, since: Date.now(), recentCalls: [], recentErrors: [] }
    const out: RecentActivity = {
      module: name,
      calls: a.total,
      failed: a.failed,
      since: a.since,
      recentCalls: a.calls.toArray(limit),
      recentErrors: a.errors.toArray(limit)
    }
    if (a.lastCallAt > 0) out.lastCallAt = a.lastCallAt
    return out
  }
}
