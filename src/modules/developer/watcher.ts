import { watch } from 'node:fs'
import type { FSWatcher } from 'node:fs'
import { sep } from 'node:path'
import { MAX_WATCHES, WATCH_DEBOUNCE_MS } from './constants.ts'
import { DevLimitReachedError, DevNotWatchableError } from './errors.ts'
import type { ReloadOutcome } from './reloader.ts'

/** One watched module folder, as `modules.watches` lists it. */
export interface WatchInfo {
  module: string
  dir: string
  debounceMs: number
  since: number
  /** Reloads this watch set off. */
  reloads: number
  last?: ReloadOutcome
}

interface Watch {
  info: WatchInfo
  watcher: FSWatcher
  timer: ReturnType<typeof setTimeout> | undefined
  running: boolean
  /** A change arrived while a reload ran: one more reload follows it. */
  again: boolean
}

/**
 * Hot reload on save: watches module folders (recursively, with fs.watch) and reloads a module once its folder has
 * been quiet for the debounce window. Reloads of one module never overlap: changes during a reload make one more
 * reload after it. Editor droppings (dotfiles, `~` backups, swap files) and node_modules are ignored.
 */
export class FolderWatcher {
  private readonly watches = new Map<string, Watch>()
  private readonly reload: (name: string) => Promise<ReloadOutcome>
  private readonly onError: (name: string, err: Error) => void

  constructor (reload: (name: string) => Promise<ReloadOutcome>, onError: (name: string, err: Error) => void) {
    this.reload = reload
    this.onError = onError
  }

  watch (name: string, dir: string, debounceMs = WATCH_DEBOUNCE_MS): WatchInfo {
    const existing = this.watches.get(name)
    if (existing !== undefined && existing.info.dir === dir) {
      existing.info.debounceMs = debounceMs
      return { ...existing.info }
    }
    if (existing === undefined && this.watches.size >= MAX_WATCHES) throw new DevLimitReachedError('watched folders', MAX_WATCHES)
    let watcher: FSWatcher
    try {
      watcher = watch(dir, { recursive: true, persistent: false })
    } catch (err) {
      throw new DevNotWatchableError(name, (err as Error).message)
    }
    if (existing !== undefined) this.unwatch(name)
    const w: Watch = { info: { module: name, dir, debounceMs, since: Date.now(), reloads: 0 }, watcher, timer: undefined, running: false, again: false }
    watcher.on('change', (_event, filename) => {
      if (typeof filename === 'string' && ignored(filename)) return
      this.changed(w)
    })
    watcher.on('error', (err) => {
      this.onError(name, err)
      this.unwatch(name)
    })
    this.watches.set(name, w)
    return { ...w.info }
  }

  unwatch (name: string): boolean {
    const w = this.watches.get(name)
    if (w === undefined) return false
    this.watches.delete(name)
    if (w.timer !== undefined) clearTimeout(w.timer)
    w.watcher.close()
    return true
  }

  get (name: string): WatchInfo | undefined {
    const w = this.watches.get(name)
    return w === undefined ? undefined : { ...w.info }
  }

  list (): WatchInfo[] {
    return [...this.watches.values()].map(w => ({ ...w.info }))
  }

  close (): void {
    for (const name of [...this.watches.keys()]) this.unwatch(name)
  }

  private changed (w: Watch): void {
    if (w.timer !== undefined) clearTimeout(w.timer)
    w.timer = setTimeout(() => {
      w.timer = undefined
      void this.fire(w)
    }, w.info.debounceMs)
  }

  private async fire (w: Watch): Promise<void> {
    if (w.running) {
      w.again = true
      return
    }
    w.running = true
    try {
      do {
        w.again = false
        if (this.watches.get(w.info.module) !== w) return
        w.info.reloads++
        try {
          await this.reload(w.info.module)
        } catch {
          // The outcome (with the error and whether it rolled back) was recorded and reported by the reloader.
        }
      } while (w.again)
    } finally {
      w.running = false
    }
  }

  /** The reloader reports every outcome here; one a watch set off becomes its `last`. */
  record (outcome: ReloadOutcome): void {
    const w = this.watches.get(outcome.module)
    if (w !== undefined && outcome.trigger === 'watch') w.info.last = outcome
  }
}

function ignored (filename: string): boolean {
  const parts = filename.split(sep)
  const base = parts[parts.length - 1] ?? ''
  return parts.some(p => p.startsWith('.') || p === 'node_modules') || base.endsWith('~') || base.endsWith('.swp') || base.endsWith('.tmp')
}
