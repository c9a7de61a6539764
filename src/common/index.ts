/**
 * The lowest layer: what every other layer may import (errors, cancellation, small data structures).
 * It imports nothing of the project.
 */
export {
  LogosError, UnexpectedError, AbortedError, TimeoutError, InvalidArgumentError,
  registerErrors, errorToWire, errorFromWire, toLogosError
} from './errors.ts'
export type { ErrorWire, LogosErrorOptions } from './errors.ts'
export { throwIfAborted, abortReason, delay, raceSignal, combineSignals, waitFor } from './abort.ts'
export type { AbortOptions } from './abort.ts'
export { summarize, percentileOfSorted } from './stats.ts'
export type { Summary } from './stats.ts'
export { RingBuffer } from './ring-buffer.ts'
export { TokenBucket, TokenBuckets } from './token-buckets.ts'
export type { TokenRate } from './token-buckets.ts'
export { writeFileAtomic, fsyncDir } from './atomic-file.ts'
export { loadSqlite, openDatabase } from './sqlite.ts'
export { quietly } from './quietly.ts'
export { presentedCredential, sameSecret } from './credentials.ts'
