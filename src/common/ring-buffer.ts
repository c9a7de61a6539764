/** A fixed-capacity FIFO that overwrites its oldest entry when full. */
export class RingBuffer<T> {
  readonly capacity: number
  private readonly items: Array<T | undefined>
  private start = 0
  private size = 0

  constructor (capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer')
    this.capacity = capacity
    this.items = new Array<T | undefined>(capacity)
  }

  get length (): number {
    return this.size
  }

  push (item: T): void {
    const index = (this.start + this.size) % this.capacity
    this.items[index] = item
    if (this.size < this.capacity) this.size++
    else this.start = (this.start + 1) % this.capacity
  }

  /** Oldest first; at most the `limit` newest entries. */
  toArray (limit = this.size): T[] {
    const n = Math.min(limit, this.size)
    const out: T[] = []
    for (let i = this.size - n; i < this.size; i++) out.push(this.items[(this.start + i) % this.capacity] as T)
    return out
  }

  clear (): void {
    this.items.fill(undefined)
    this.start = 0
    this.size = 0
  }
}
