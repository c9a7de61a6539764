import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { AbortedError, abortReason, errorFromWire } from '../../common/index.ts'
import { DEFAULT_MAX_QUEUE, WORKER_START_TIMEOUT_MS } from './constants.ts'
import { RlnBusyError, RlnWorkerError } from './errors.ts'
import type { EngineResources, ProverKind, VerifierKind, WitnessInput } from './engine.ts'
import type { PrecomputedProof, ProofPart } from './groth16-prover.ts'
import type { WorkerInit, WorkerJob, WorkerReply, WorkerRequest, WorkerValue } from './worker.ts'

export interface PoolOptions {
  /**
   * Threads for the heavy jobs (prove, precompute); default: one per core, so one proof can use every core (split
   * in two halves) while the event loop, at a higher priority, still gets the CPU it needs.
   */
  workers?: number
  /** Threads for the light jobs (verify, finalize: milliseconds each), so they never wait behind a proof (default 1). */
  lightWorkers?: number
  /** Jobs that may wait in each lane before new ones are refused with RlnBusyError. */
  maxQueue?: number
  /** Load zerokit in the heavy threads (needed to prove with zerokit). */
  zerokit?: boolean
  /** Load zerokit in the light threads (needed to verify with zerokit). */
  lightZerokit?: boolean
  /**
   * Nice value added to each heavy thread (Linux applies it per thread; light threads keep the process's
   * priority). Default 0: measured on a shared machine, +10 doubled proving time without shortening the event
   * loop's stalls (BENCHMARKS.md); raise it where the node's own event loop is busy enough to compete with proofs.
   */
  niceness?: number
}

/** Thread restarts after crashes before the pool stops replacing them (a bound against a crash loop). */
const MAX_RESTARTS = 5

type Lane = 'heavy' | 'light'

interface Job {
  id: number
  lane: Lane
  request: WorkerJob
  urgent: boolean
  resolve: (value: WorkerValue) => void
  reject: (err: Error) => void
  signal?: AbortSignal
  onAbort?: () => void
  settled: boolean
}

interface Slot {
  lane: Lane
  worker: Worker
  job: Job | undefined
}

export function defaultWorkerCount (): number {
  return Math.max(1, availableParallelism())
}

function laneOf (job: WorkerJob): Lane {
  return job.op === 'verify' || job.op === 'finalize' ? 'light' : 'heavy'
}

/**
 * Worker threads that make and check proofs, so that the event loop never waits on one (RLN.md: a proof must never
 * be made on the event loop of a node that relays traffic). Each thread loads the proving key once. Two lanes:
 * heavy threads make proofs (about a second each), light threads verify and finalize precomputed proofs
 * (milliseconds), so a relay's checks never queue behind its own proofs. In each lane, urgent jobs (a proof a
 * caller waits for) go before background ones (refilling precomputed proofs).
 */
export class ProverPool {
  private readonly resources: EngineResources
  private readonly sizes: Record<Lane, number>
  private readonly zerokit: Record<Lane, boolean>
  private readonly maxQueue: number
  private readonly niceness: number
  private readonly slots: Slot[] = []
  private readonly queues: Record<Lane, Job[]> = { heavy: [], light: [] }
  private nextId = 1
  private restarts = 0
  private closed = false

  constructor (resources: EngineResources, options: PoolOptions = {}) {
    this.resources = resources
    this.sizes = { heavy: options.workers ?? defaultWorkerCount(), light: options.lightWorkers ?? 1 }
    this.zerokit = { heavy: options.zerokit ?? false, light: options.lightZerokit ?? false }
    this.maxQueue = options.maxQueue ?? DEFAULT_MAX_QUEUE
    this.niceness = options.niceness ?? 0
    for (const lane of ['heavy', 'light'] as const) {
      if (!Number.isInteger(this.sizes[lane]) || this.sizes[lane] < 1) throw new RangeError(`${lane} workers must be a positive integer`)
    }
  }

  get workers (): number {
    return this.slots.length
  }

  /** Jobs waiting for a thread, both lanes. */
  get queued (): number {
    return this.queues.heavy.length + this.queues.light.length
  }

  /** Starts every thread and waits until each has loaded the key. */
  async start (options: { signal?: AbortSignal } = {}): Promise<void> {
    const lanes: Lane[] = [...new Array<Lane>(this.sizes.heavy).fill('heavy'), ...new Array<Lane>(this.sizes.light).fill('light')]
    await Promise.all(lanes.map(async (lane) => { await this.spawn(lane, options.signal) }))
  }

  private async spawn (lane: Lane, signal?: AbortSignal): Promise<Slot> {
    const init: WorkerInit = {
      resources: this.resources,
      zerokit: this.zerokit[lane],
      niceness: lane === 'heavy' ? this.niceness : 0,
      // ffjavascript imports the 'web-worker' shim, which in any worker thread acts as the inside of one of its own
      // workers and imports workerData.mod: give it an empty module so it does nothing.
      mod: 'data:text/javascript,',
      type: 'module'
    }
    const worker = new Worker(new URL('./worker.ts', import.meta.url), { workerData: init })
    const slot: Slot = { lane, worker, job: undefined }
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

  /** A proof in the heavy lane; with the groth16 prover and two heavy threads or more, split over two of them. */
  async prove (input: WitnessInput, prover: ProverKind, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    if (prover === 'groth16' && this.sizes.heavy >= 2) {
      return await this.finalize(await this.precompute(input, { urgent: true, full: true, signal: options.signal }), 0n, options)
    }
    return await this.submit({ op: 'prove', input, prover }, true, options.signal) as Uint8Array
  }

  /**
   * The signal-independent part of a proof (groth16 prover), as parts for `finalize`. With two heavy threads or
   * more it is split in two halves of about equal cost that run side by side. `urgent` puts it before background
   * jobs. With `full`, the input's x is used and the parts make a direct proof (finalize them with x = 0).
   */
  async precompute (input: WitnessInput, options: { signal?: AbortSignal, urgent?: boolean, full?: boolean } = {}): Promise<PrecomputedProof[]> {
    const urgent = options.urgent ?? false
    const full = options.full ?? false
    const parts: ProofPart[] = this.sizes.heavy >= 2 ? ['a', 'b'] : ['all']
    return await Promise.all(parts.map(async part => await this.submit({ op: 'precompute', input, part, full }, urgent, options.signal) as PrecomputedProof))
  }

  /** A proof for signal hash x from precomputed parts (milliseconds, in a light thread). */
  async finalize (parts: PrecomputedProof[], x: bigint, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    return await this.submit({ op: 'finalize', parts, x }, true, options.signal) as Uint8Array
  }

  async verify (proof: Uint8Array, signal: Uint8Array, roots: readonly bigint[], verifier: VerifierKind, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    return await this.submit({ op: 'verify', proof, signal, roots: [...roots], verifier }, true, options.signal) as boolean
  }

  private async submit (request: WorkerJob, urgent: boolean, signal?: AbortSignal): Promise<WorkerValue> {
    if (this.closed) throw new RlnWorkerError('the prover pool is closed')
    if (signal?.aborted === true) throw abortReason(signal)
    const lane = laneOf(request)
    const queue = this.queues[lane]
    if (queue.length >= this.maxQueue) throw new RlnBusyError(`${queue.length} RLN ${lane} jobs are waiting (the bound is ${this.maxQueue})`)
    return await new Promise((resolve, reject) => {
      const job: Job = { id: this.nextId++, lane, request, urgent, resolve, reject, signal, settled: false }
      if (signal !== undefined) {
        job.onAbort = () => {
          // A queued job is dropped; a running one finishes in its thread and its result is ignored.
          this.removeQueued(job)
          this.settle(job, undefined, abortReason(signal))
        }
        signal.addEventListener('abort', job.onAbort, { once: true })
      }
      if (urgent) {
        const firstBackground = queue.findIndex(j => !j.urgent)
        if (firstBackground < 0) queue.push(job)
        else queue.splice(firstBackground, 0, job)
      } else {
        queue.push(job)
      }
      this.dispatch()
    })
  }

  private dispatch (): void {
    for (const slot of this.slots) {
      if (slot.job !== undefined) continue
      const job = this.queues[slot.lane].shift()
      if (job === undefined) continue
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
      this.spawn(slot.lane).catch((spawnErr: unknown) => { this.failLane(slot.lane, spawnErr as Error) })
    } else {
      this.failLane(slot.lane, new RlnWorkerError('the proving threads keep dying; the pool gave up', { cause: err }))
    }
  }

  private failLane (lane: Lane, err: Error): void {
    if (this.slots.some(s => s.lane === lane)) return
    for (const job of this.queues[lane].splice(0)) this.settle(job, undefined, err)
  }

  private removeQueued (job: Job): void {
    const q = this.queues[job.lane]
    const i = q.indexOf(job)
    if (i >= 0) q.splice(i, 1)
  }

  private settle (job: Job, value: WorkerValue | undefined, err?: Error): void {
    if (job.settled) return
    job.settled = true
    if (job.onAbort !== undefined) job.signal?.removeEventListener('abort', job.onAbort)
    if (err !== undefined) job.reject(err)
    else job.resolve(value as WorkerValue)
  }

  async stop (): Promise<void> {
    if (this.closed) return
    this.closed = true
    const err = new AbortedError('the prover pool stopped')
    for (const job of [...this.queues.heavy.splice(0), ...this.queues.light.splice(0)]) this.settle(job, undefined, err)
    const slots = this.slots.splice(0)
    for (const slot of slots) if (slot.job !== undefined) this.settle(slot.job, undefined, err)
    await Promise.all(slots.map(async s => await s.worker.terminate()))
  }
}
