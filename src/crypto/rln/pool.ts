import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { AbortedError, abortReason, errorFromWire } from '../../common/index.ts'
import { DEFAULT_MAX_QUEUE, WORKER_START_TIMEOUT_MS } from './constants.ts'
import { RlnBusyError, RlnWorkerError } from './errors.ts'
import type { EngineResources, ProverKind, VerifierKind, WitnessInput } from './engine.ts'
import type { WorkerInit, WorkerReply, WorkerRequest } from './worker.ts'

export interface PoolOptions {
  /** Threads; default: one per core left after the event loop's, at least one. */
  workers?: number
  /** Jobs that may wait for a thread before new ones are refused with RlnBusyError. */
  maxQueue?: number
  /** Load zerokit in each thread (needed for zerokit proving or verifying). */
  zerokit?: boolean
  /** Nice value added to each thread so the process's event loop keeps the CPU it needs (default 10). */
  niceness?: number
}

/** Thread restarts after crashes before the pool stops replacing them (a bound against a crash loop). */
const MAX_RESTARTS = 5

type JobRequest =
  | { op: 'prove', input: WitnessInput, prover: ProverKind }
  | { op: 'verify', proof: Uint8Array, signal: Uint8Array, roots: bigint[], verifier: VerifierKind }

interface Job {
  id: number
  request: JobRequest
  resolve: (value: Uint8Array | boolean) => void
  reject: (err: Error) => void
  signal?: AbortSignal
  onAbort?: () => void
  settled: boolean
}

interface Slot {
  worker: Worker
  job: Job | undefined
}

export function defaultWorkerCount (): number {
  return Math.max(1, availableParallelism() - 1)
}

/**
 * Worker threads that make and check proofs, so that the event loop never waits on one (RLN.md: a proof must never
 * be made on the event loop of a node that relays traffic). Each thread loads the proving key once. Verify jobs go
 * before prove jobs: a relay's incoming checks should not queue behind its own proofs.
 */
export class ProverPool {
  private readonly resources: EngineResources
  private readonly size: number
  private readonly maxQueue: number
  private readonly zerokit: boolean
  private readonly niceness: number
  private readonly slots: Slot[] = []
  private readonly verifyQueue: Job[] = []
  private readonly proveQueue: Job[] = []
  private nextId = 1
  private restarts = 0
  private closed = false

  constructor (resources: EngineResources, options: PoolOptions = {}) {
    this.resources = resources
    this.size = options.workers ?? defaultWorkerCount()
    this.maxQueue = options.maxQueue ?? DEFAULT_MAX_QUEUE
    this.zerokit = options.zerokit ?? true
    this.niceness = options.niceness ?? 10
    if (!Number.isInteger(this.size) || this.size < 1) throw new RangeError('workers must be a positive integer')
  }

  get workers (): number {
    return this.slots.length
  }

  /** Jobs waiting for a thread. */
  get queued (): number {
    return this.verifyQueue.length + this.proveQueue.length
  }

  /** Starts every thread and waits until each has loaded the key. */
  async start (options: { signal?: AbortSignal } = {}): Promise<void> {
    await Promise.all(Array.from({ length: this.size }, async () => { await this.spawn(options.signal) }))
  }

  private async spawn (signal?: AbortSignal): Promise<Slot> {
    const init: WorkerInit = {
      resources: this.resources,
      zerokit: this.zerokit,
      niceness: this.niceness,
      // ffjavascript imports the 'web-worker' shim, which in any worker thread acts as the inside of one of its own
      // workers and imports workerData.mod: give it an empty module so it does nothing.
      mod: 'data:text/javascript,',
      type: 'module'
    }
    const worker = new Worker(new URL('./worker.ts', import.meta.url), { workerData: init })
    const slot: Slot = { worker, job: undefined }
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { fail(new RlnWorkerError('a proving thread did not start in time')) }, WORKER_START_TIMEOUT_MS)
      const onAbort = (): void => { fail(abortReason(signal as AbortSignal)) }
      signal?.addEventListener('abort', onAbort, { once: true })
      const done = (): void => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        worker.off('message', onMessage)
        worker.off('error', onError)
        worker.off('exit', onExit)
      }
      const fail = (err: Error): void => { done(); void worker.terminate(); reject(err) }
      const onMessage = (msg: WorkerReply): void => {
        if (msg.type === 'ready') { done(); resolve() } else if (msg.type === 'failed') fail(errorFromWire(msg.error))
      }
      const onError = (err: Error): void => { fail(new RlnWorkerError('a proving thread failed to start', { cause: err })) }
      const onExit = (code: number): void => { fail(new RlnWorkerError(`a proving thread exited while starting (code ${code})`)) }
      worker.on('message', onMessage)
      worker.on('error', onError)
      worker.on('exit', onExit)
    })
    if (this.closed) {
      await worker.terminate()
      throw new RlnWorkerError('the prover pool is closed')
    }
    worker.on('message', (msg: WorkerReply) => { this.onReply(slot, msg) })
    worker.on('error', (err: Error) => { this.onCrash(slot, err) })
    worker.on('exit', (code: number) => { this.onCrash(slot, new RlnWorkerError(`a proving thread exited (code ${code})`)) })
    // An idle thread must not keep the process alive; a thread with a job does (see dispatch and onReply).
    worker.unref()
    this.slots.push(slot)
    this.dispatch()
    return slot
  }

  async prove (input: WitnessInput, prover: ProverKind, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    return await this.submit({ op: 'prove', input, prover }, options.signal) as Uint8Array
  }

  async verify (proof: Uint8Array, signal: Uint8Array, roots: readonly bigint[], verifier: VerifierKind, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    return await this.submit({ op: 'verify', proof, signal, roots: [...roots], verifier }, options.signal) as boolean
  }

  private async submit (request: JobRequest, signal?: AbortSignal): Promise<Uint8Array | boolean> {
    if (this.closed) throw new RlnWorkerError('the prover pool is closed')
    if (signal?.aborted === true) throw abortReason(signal)
    if (this.queued >= this.maxQueue) throw new RlnBusyError(`${this.queued} RLN jobs are waiting (the bound is ${this.maxQueue})`)
    return await new Promise((resolve, reject) => {
      const job: Job = { id: this.nextId++, request, resolve, reject, signal, settled: false }
      if (signal !== undefined) {
        job.onAbort = () => {
          // A queued job is dropped; a running one finishes in its thread and its result is ignored.
          this.removeQueued(job)
          this.settle(job, undefined, abortReason(signal))
        }
        signal.addEventListener('abort', job.onAbort, { once: true })
      }
      ;(request.op === 'verify' ? this.verifyQueue : this.proveQueue).push(job)
      this.dispatch()
    })
  }

  private dispatch (): void {
    for (const slot of this.slots) {
      if (slot.job !== undefined) continue
      const job = this.verifyQueue.shift() ?? this.proveQueue.shift()
      if (job === undefined) return
      slot.job = job
      slot.worker.ref()
      const msg: WorkerRequest = { id: job.id, ...job.request }
      slot.worker.postMessage(msg)
    }
  }

  private onReply (slot: Slot, msg: WorkerReply): void {
    if (msg.type !== 'result') return
    const job = slot.job
    slot.job = undefined
    slot.worker.unref()
    if (job !== undefined && job.id === msg.id) {
      if (msg.ok) this.settle(job, msg.value)
      else this.settle(job, undefined, errorFromWire(msg.error))
    }
    this.dispatch()
  }

  private onCrash (slot: Slot, err: Error): void {
    const index = this.slots.indexOf(slot)
    if (index < 0) return
    this.slots.splice(index, 1)
    if (slot.job !== undefined) this.settle(slot.job, undefined, new RlnWorkerError('the proving thread died during the job', { cause: err }))
    slot.job = undefined
    if (this.closed) return
    if (this.restarts++ < MAX_RESTARTS) {
      this.spawn().catch((spawnErr: unknown) => { this.failAll(spawnErr as Error) })
    } else if (this.slots.length === 0) {
      this.failAll(new RlnWorkerError('the proving threads keep dying; the pool gave up', { cause: err }))
    }
  }

  private failAll (err: Error): void {
    if (this.slots.length > 0) return
    for (const job of [...this.verifyQueue.splice(0), ...this.proveQueue.splice(0)]) this.settle(job, undefined, err)
  }

  private removeQueued (job: Job): void {
    for (const q of [this.verifyQueue, this.proveQueue]) {
      const i = q.indexOf(job)
      if (i >= 0) q.splice(i, 1)
    }
  }

  private settle (job: Job, value: Uint8Array | boolean | undefined, err?: Error): void {
    if (job.settled) return
    job.settled = true
    if (job.onAbort !== undefined) job.signal?.removeEventListener('abort', job.onAbort)
    if (err !== undefined) job.reject(err)
    else job.resolve(value as Uint8Array | boolean)
  }

  async stop (): Promise<void> {
    if (this.closed) return
    this.closed = true
    const err = new AbortedError('the prover pool stopped')
    for (const job of [...this.verifyQueue.splice(0), ...this.proveQueue.splice(0)]) this.settle(job, undefined, err)
    const slots = this.slots.splice(0)
    for (const slot of slots) if (slot.job !== undefined) this.settle(slot.job, undefined, err)
    await Promise.all(slots.map(async s => await s.worker.terminate()))
  }
}
