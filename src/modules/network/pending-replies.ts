interface Waiting<T> {
  resolve: (answer: T | undefined) => void
}

/**
 * Incoming messages waiting for the answer a subscriber gives by a later call: the module emits an event carrying
 * the message's id, and a reply method answers that id. A wait ends unanswered (undefined) after `windowMs` (if
 * given), when its signal aborts, or when the module stops; at most `max` wait at once.
 */
export class PendingReplies<T> {
  private readonly waiting = new Map<string, Waiting<T>>()
  private readonly windowMs: number | undefined
  readonly max: number
  private nextId = 0

  constructor (options: { max: number, windowMs?: number }) {
    this.max = options.max
    this.windowMs = options.windowMs
  }

  /** How many wait now. */
  get size (): number {
    return this.waiting.size
  }

  /** Whether another wait would go past `max`. */
  get full (): boolean {
    return this.waiting.size >= this.max
  }

  /** An id unique in this process, for a message announced without waiting for an answer. */
  newId (): string {
    return `${Date.now().toString(36)}-${(this.nextId++).toString(36)}`
  }

  /**
   * A fresh id (unique in this process) and the promise of its answer: announce the id after this call, since a
   * subscriber may answer before the announcement returns.
   */
  open (options: { signal?: AbortSignal } = {}): { id: string, answer: Promise<T | undefined> } {
    const id = this.newId()
    const signal = options.signal
    const answer = new Promise<T | undefined>((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined
      const done = (value: T | undefined): void => {
        this.waiting.delete(id)
        if (timer !== undefined) clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        resolve(value)
      }
      const onAbort = (): void => { done(undefined) }
      if (this.windowMs !== undefined) timer = setTimeout(onAbort, this.windowMs)
      signal?.addEventListener('abort', onAbort, { once: true })
      this.waiting.set(id, { resolve: done })
      if (signal?.aborted === true) onAbort()
    })
    return { id, answer }
  }

  /** Gives `id` its answer; false when nothing waits for it (answered, expired, or never announced). */
  answer (id: string, value: T): boolean {
    const w = this.waiting.get(id)
    w?.resolve(value)
    return w !== undefined
  }

  /** Ends every wait unanswered (the module stops). */
  clear (): void {
    for (const w of [...this.waiting.values()]) w.resolve(undefined)
  }
}
