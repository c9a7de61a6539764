import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { AbortedError, abortReason, errorFromWire, raceSignal } from '../../common/index.ts'
import { DEFAULT_MAX_QUEUE, WORKER_START_TIMEOUT_MS } from './constants.ts'
import { RlnBusyError, RlnWorkerError } from './errors.ts'
import { proverParts, verifierParts } from './engine.ts'
import type { EnginePart, EngineResources, ProverKind, VerifierKind, WitnessInput } from './engine.ts'
import type { PrecomputedProof, ProofPart } from './split-prover.ts'
import type { WorkerInit, WorkerJob, WorkerReply, WorkerRequest, WorkerValue } from './worker.ts'

export interface PoolOptions {
  /**
   * Threads for the heavy jobs (prove, precompute); default: one per core but one (and at least one), which leaves
   * a core to the event loop and the light thread. A zerokit proof runs on one thread; with two heavy threads or
   * more, a split precomputation runs in two halves side by side.
   */
  workers?: number
  /** Threads for the light jobs (verify, finalize: milliseconds each), so they never wait behind a proof (default 1). */
  lightWorkers?: number
  /** Jobs that may wait in each lane before new ones are refused with RlnBusyError. */
  maxQueue?: number
  /**
   * The prover the heavy threads load right after they start (default 'zerokit': its proving key, seconds of CPU
   * per thread). Any prover can still be asked for; one not loaded ahead loads on its first job.
   */
  prover?: ProverKind
  /** The verifier the light threads load right after they start (default 'zerokit'); as for `prover`. */
  verifier?: VerifierKind
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
  /** Settles when the thread has loaded its preloaded parts (or failed to). */
  loaded: Promise<void>
  loading: boolean
}

export function defaultWorkerCount (): number {
  return Math.max(1, availableParallelism() - 1)
}

function laneOf (job: WorkerJob): Lane {
  return job.op === 'verify' || job.op === 'finalize' ? 'light' : 'heavy'
}

/**
 * Worker threads that make and check proofs, so that the event loop never waits on one (RLN.md: a proof must never
 * be made on the event loop of a node that relays traffic). Each thread loads what it needs once: a heavy thread
 * its prover (zerokit's proving key by default), a light thread its verifier. Two lanes: heavy threads make proofs
 * (a second or more each), light threads verify and finalize split proofs (milliseconds), so a relay's checks never
 * queue behind its own proofs. In each lane, urgent jobs (a proof a caller waits for) go before background ones
 * (refilling precomputed proofs).
 */
export class ProverPool {
  private readonly resources: EngineResources
  private readonly sizes: Record<Lane, number>
  private readonly preload: Record<Lane, EnginePart[]>
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
    const prover = options.prover ?? 'zerokit'
    // A light thread finalizes split proofs, so it loads the split prover when that is the prover.
    this.preload = {
      heavy: proverParts(prover),
      light: [...verifierParts(options.verifier ?? 'zerokit'), ...(prover === 'split' ? ['split' as const] : [])]
    }
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

  /**
   * Starts every thread and waits until each runs; each then loads its parts before its first job (`loaded()`
   * waits for that), so a start does not wait for zerokit's seconds of key parsing.
   */
  async start (options: { signal?: AbortSignal } = {}): Promise<void> {
    const lanes: Lane[] = [...new Array<Lane>(this.sizes.heavy).fill('heavy'), ...new Array<Lane>(this.sizes.light).fill('light')]
    await Promise.all(lanes.map(async (lane) => { await this.spawn(lane, options.signal) }))
  }

  /** Resolves when every running thread has loaded its parts; rejects with the first failure to load. */
  async loaded (options: { signal?: AbortSignal } = {}): Promise<void> {
    await raceSignal(Promise.all(this.slots.map(async s => { await s.loaded })), options.signal)
  }

  private async spawn (lane: Lane, signal?: AbortSignal): Promise<Slot> {
    const init: WorkerInit = {
      resources: this.resources,
      preload: this.preload[lane],
      niceness: lane === 'heavy' ? this.niceness : 0,
      // ffjavascript imports the 'web-worker' shim, which in any worker thread acts as the inside of one of its own
      // workers and imports workerData.mod: give it an empty module so it does nothing.
      mod: 'data:text/javascript,',
      type: 'module'
    }
    const worker = new Worker(new URL('./worker.ts', import.meta.url), { workerData: init })
    let started = false
    let settleLoaded: (err?: Error) => void = () => {}
    const loaded = new Promise<void>((resolve, reject) => { settleLoaded = (err) => { if (err === undefined) resolve(); else reject(err) } })
    // A failure to load is also reported to the jobs that need the part; nobody may be waiting for `loaded`.
    loaded.catch(() => {})
    const slot: Slot = { lane, worker, job: undefined, loaded, loading: true }
    const markLoaded = (err?: Error): void => {
      slot.loading = false
      settleLoaded(err)
      this.updateRef(slot)
    }
    // One set of listeners for the thread's whole life (its first messages may arrive together).
    let onStart: ((err?: Error) => void) | undefined
    worker.on('message', (msg: WorkerReply) => {
      if (msg.type === 'ready') { started = true; onStart?.() } else if (msg.type === 'loaded') markLoaded()
      else if (msg.type === 'failed') markLoaded(errorFromWire(msg.error))
      else this.onReply(slot, msg)
    })
    worker.on('error', (err: Error) => {
      markLoaded(err)
      if (started) this.onCrash(slot, err)
      else onStart?.(new RlnWorkerError('a proving thread failed to start', { cause: err }))
    })
    worker.on('exit', (code: number) => {
      const err = new RlnWorkerError(`a proving thread exited (code ${code})`)
      markLoaded(err)
      if (started) this.onCrash(slot, err)
      else onStart?.(err)
    })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { fail(new RlnWorkerError('a proving thread did not start in time')) }, WORKER_START_TIMEOUT_MS)
      const onAbort = (): void => { fail(abortReason(signal as AbortSignal)) }
      signal?.addEventListener('abort', onAbort, { once: true })
      const done = (): void => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        onStart = undefined
      }
      const fail = (err: Error): void => { done(); void worker.terminate(); reject(err) }
      onStart = (err) => { if (err === undefined) { done(); resolve() } else fail(err) }
      if (started) onStart()
    })
    if (this.closed) {
      await worker.terminate()
      throw new RlnWorkerError('the prover pool is closed')
    }
    this.updateRef(slot)
    this.slots.push(slot)
    this.dispatch()
    return slot
  }

  /**
   * A proof in the heavy lane. A split proof with two heavy threads or more is precomputed in two halves side by
   * side, then finalized in a light thread; otherwise one heavy thread makes the whole proof.
   */
  async prove (input: WitnessInput, prover: ProverKind, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    if (prover === 'split' && this.sizes.heavy >= 2) {
      return await this.finalize(await this.precompute(input, { urgent: true, signal: options.signal }), input.x, options)
    }
    return await this.submit({ op: 'prove', input, prover }, true, options.signal) as Uint8Array
  }

  /**
   * The signal-independent part of a split proof (the input's x is ignored), as parts for `finalize`. With two heavy
   * threads or more it is made in two halves of about equal cost that run side by side. `urgent` puts it before
   * background jobs.
   */
  async precompute (input: WitnessInput, options: { signal?: AbortSignal, urgent?: boolean } = {}): Promise<PrecomputedProof[]> {
    const urgent = options.urgent ?? false
    const parts: ProofPart[] = this.sizes.heavy >= 2 ? ['a', 'b'] : ['all']
    return await Promise.all(parts.map(async part => await this.submit({ op: 'precompute', input, part }, urgent, options.signal) as PrecomputedProof))
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
    this.updateRef(slot)
    if (job !== undefined && job.id === msg.id) {
      if (msg.ok) this.settle(job, msg.value)
      else this.settle(job, undefined, errorFromWire(msg.error))
    }
    this.dispatch()
  }

  /**
   * An idle thread must not keep the process alive; a thread with a job, or still loading its key (which a caller
   * may be awaiting through `loaded()`), does.
   */
  private updateRef (slot: Slot): void {
    if (slot.job !== undefined || slot.loading) slot.worker.ref()
    else slot.worker.unref()
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
