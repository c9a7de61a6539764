import { AbortedError, TimeoutError } from './errors.ts'

export interface AbortOptions {
  signal?: AbortSignal
}

/** Throws AbortedError when the signal has fired. */
export function throwIfAborted (signal?: AbortSignal): void {
  if (signal?.aborted === true) throw abortReason(signal)
}

/** The signal's reason as a LogosError (AbortSignal.timeout gives a DOMException we translate). */
export function abortReason (signal: AbortSignal): Error {
  const reason: unknown = signal.reason
  if (reason instanceof AbortedError || reason instanceof TimeoutError) return reason
  if (reason instanceof Error && reason.name === 'TimeoutError') return new TimeoutError(undefined, { cause: reason })
  if (reason instanceof Error && reason.name !== 'AbortError') return reason
  return new AbortedError(undefined, { cause: reason })
}

/** Resolves after `ms`, or rejects with the signal's reason. The timer never keeps the process alive on its own. */
export async function delay (ms: number, options: AbortOptions = {}): Promise<void> {
  const { signal } = options
  throwIfAborted(signal)
  await new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(abortReason(signal as AbortSignal))
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** Races a promise against a signal; the promise keeps running, its result is ignored after an abort. */
export async function raceSignal<T> (promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (signal === undefined) return await promise
  throwIfAborted(signal)
  let onAbort: (() => void) | undefined
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_resolve, reject) => {
        onAbort = () => { reject(abortReason(signal)) }
        signal.addEventListener('abort', onAbort, { once: true })
      })
    ])
  } finally {
    if (onAbort !== undefined) signal.removeEventListener('abort', onAbort)
  }
}

/** A signal that fires when any input fires or after `timeoutMs` (with a TimeoutError). */
export function combineSignals (signals: Array<AbortSignal | undefined>, timeoutMs?: number): AbortSignal {
  const list = signals.filter((s): s is AbortSignal => s !== undefined)
  if (timeoutMs !== undefined && Number.isFinite(timeoutMs)) list.push(AbortSignal.timeout(timeoutMs))
  if (list.length === 1) return list[0] as AbortSignal
  return AbortSignal.any(list)
}

/** Waits for an event-emitter style condition, with a signal. */
export async function waitFor (predicate: () => boolean, options: AbortOptions & { intervalMs?: number, timeoutMs?: number } = {}): Promise<void> {
  const signal = combineSignals([options.signal], options.timeoutMs)
  while (!predicate()) {
    await delay(options.intervalMs ?? 10, { signal })
  }
}
