import type { TraceFilter, TraceListener, TraceRecord } from './types.ts'

interface Subscription {
  listener: TraceListener
  types?: ReadonlySet<TraceRecord['type']>
  modules?: ReadonlySet<string>
}

/**
 * The kernel's trace stream. Producers check `active` before building a record, so with no subscriber a call pays one
 * property read. A listener that throws is dropped from that record only; it never breaks the producer.
 */
export class TraceBus {
  private subscriptions: Subscription[] = []
  active = false

  subscribe (listener: TraceListener, filter: TraceFilter = {}): () => void {
    const sub: Subscription = { listener }
    if (filter.types !== undefined && filter.types.length > 0) sub.types = new Set(filter.types)
    if (filter.modules !== undefined && filter.modules.length > 0) sub.modules = new Set(filter.modules)
    // Copy on write: publish iterates a stable array even if a listener unsubscribes meanwhile.
    this.subscriptions = [...this.subscriptions, sub]
    this.active = true
    return () => {
      this.subscriptions = this.subscriptions.filter(s => s !== sub)
      this.active = this.subscriptions.length > 0
    }
  }

  publish (record: TraceRecord): void {
    for (const sub of this.subscriptions) {
      if (sub.types !== undefined && !sub.types.has(record.type)) continue
      if (sub.modules !== undefined && !matchesModules(record, sub.modules)) continue
      try {
        sub.listener(record)
      } catch {
        // An observer's bug must not change what it observes.
      }
    }
  }
}

function matchesModules (record: TraceRecord, modules: ReadonlySet<string>): boolean {
  switch (record.type) {
    case 'call': return modules.has(record.target) || modules.has(record.caller)
    case 'event': return modules.has(record.source)
    case 'lifecycle': return modules.has(record.module)
    case 'supervision': return modules.has(record.module)
  }
}
