import type { LogLevel, ModuleManifest } from '../../sdk/index.ts'

/**
 * The messages between the host (parent) and a module process (child). Each is an array: its type, then positional
 * fields, which keeps the hot ones (calls and replies) small. Ids are per direction: the parent numbers the calls it
 * makes, the child numbers its own (nested calls, subscriptions).
 */

// parent -> child
/** [INIT, InitMessage]: become this module. */
export const P_INIT = 1
/**
 * [CALL, id, method, params, callId, parentId, depth, caller, deadline]: serve a call. `deadline` is absolute (ms since
 * the epoch, both processes read the same clock) or undefined; the module's process aborts the handler's signal when
 * it passes, even before the host's CANCEL arrives.
 */
export const P_CALL = 2
/**
 * [CANCEL, id, ErrorWire]: the kernel gave up on the call (its deadline passed, its caller aborted, its parent was
 * cancelled): abort the handler's signal with that reason. The handler's answer, whenever it comes, is the
 * acknowledgement; until then (or the host's grace period) the call still counts as in flight.
 */
export const P_CANCEL = 3
/** [RESULT, id, value]: the reply to the child's call `id`. */
export const P_RESULT = 4
/** [ERROR, id, ErrorWire]: the failure of the child's call `id`. */
export const P_ERROR = 5
/** [EVENT, subscriptionId, payload, source, event, at, callId]: an event the child subscribed to. */
export const P_EVENT = 6
/** [PING, seq, logLevel]: are you alive? (and the module's current log level). */
export const P_PING = 7
/**
 * [STOP, graceMs, keep]: run the stop hook within graceMs, answer STOPPED, exit. With `keep` (a reload), a module that
 * stopped cleanly keeps its code loaded and the process stays, held, until a reuse INIT (rollback) or its end.
 */
export const P_STOP = 8

// child -> parent
/** [HELLO, pid]: booted, waiting for INIT. */
export const C_HELLO = 20
/** [READY, MethodInfo[], events, rssBytes]: started and serving. */
export const C_READY = 21
/** [START_FAILED, ErrorWire]: the module's start threw. */
export const C_START_FAILED = 22
/** [RESULT, id, value] */
export const C_RESULT = 23
/** [ERROR, id, ErrorWire] */
export const C_ERROR = 24
/**
 * [CALL, id, target, method, params, parent: CallMeta | undefined, timeout | undefined, parentChannelId | undefined]: a
 * call made by the module; `parentChannelId` is the id (in the parent's CALL) of the call it was made in, so that the
 * kernel cancels it with that call.
 */
export const C_CALL = 25
/** [CANCEL, id]: the module aborted its call `id`. */
export const C_CANCEL = 26
/** [EMIT, event, payload] */
export const C_EMIT = 27
/** [SUBSCRIBE, subscriptionId, source, event] */
export const C_SUBSCRIBE = 28
/** [UNSUBSCRIBE, subscriptionId] */
export const C_UNSUBSCRIBE = 29
/** [LOG, level, message, fields | undefined, at] */
export const C_LOG = 30
/** [PONG, seq, cpuMicros, rssBytes]: cumulative CPU time (user + system) and resident memory. */
export const C_PONG = 31
/**
 * [STOPPED, ErrorWire | undefined, timedOut, held]: the stop hook ended (its failure, or cut short at the grace); exit
 * follows, unless `held`.
 */
export const C_STOPPED = 32
/** [FATAL, ErrorWire]: an uncaught exception is about to end the process. */
export const C_FATAL = 33

export interface InitMessage {
  manifest: ModuleManifest
  entryPath: string
  dataDir: string
  config: Record<string, unknown>
  logLevel: LogLevel
  /** Start the code this (held) process already holds instead of importing the entry: a reload's rollback. */
  reuse?: boolean
}
