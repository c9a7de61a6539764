/** A minimal typed event emitter: listeners run synchronously; a throwing listener does not stop the others. */
export class Emitter<Events extends Record<string, unknown>> {
  private readonly listeners = new Map<keyof Events, Set<(payload: never) => void>>()

  on<K extends keyof Events> (event: K, fn: (payload: Events[K]) => void): () => void {
    let set = this.listeners.get(event)
    if (set === undefined) {
      set = new Set()
      this.listeners.set(event, set)
    }
    set.add(fn as (payload: never) => void)
    return () => { this.off(event, fn) }
  }

  off<K extends keyof Events> (event: K, fn: (payload: Events[K]) => void): void {
    this.listeners.get(event)?.delete(fn as (payload: never) => void)
  }

  protected emit<K extends keyof Events> (event: K, payload: Events[K]): void {
    const set = this.listeners.get(event)
    if (set === undefined) return
    for (const fn of [...set]) {
      try {
        (fn as (p: Events[K]) => void)(payload)
      } catch (err) {
        queueMicrotask(() => { throw err })
      }
    }
  }
}
