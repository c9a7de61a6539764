import { MAX_QUEUE_LENGTH } from './constants.ts'
import { DemlsQueueFullError } from './errors.ts'

/**
 * Runs async jobs one at a time, in order: a group's MLS state is a value that each step replaces, so two steps must
 * never interleave. Bounded: a full queue refuses new jobs with DemlsQueueFullError.
 */
export class SerialQueue {
  private tail: Promise<void> = Promise.resolve()
  private length = 0
  private readonly max: number

  constructor (max = MAX_QUEUE_LENGTH) {
    this.max = max
  }

  get size (): number {
    return this.length
  }

  async run<T> (job: () => Promise<T>): Promise<T> {
    if (this.length >= this.max) throw new DemlsQueueFullError(`queue of ${this.max} jobs is full`)
    this.length++
    const result = this.tail.then(job)
    this.tail = result.then(() => {}, () => {}).finally(() => { this.length-- })
    return await result
  }

  /** Resolves once every job queued so far has finished. */
  async idle (): Promise<void> {
    while (this.length > 0) await this.tail
  }
}
