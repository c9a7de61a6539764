/** Every default of the kernel, with why it is what it is. */

/** Deepest call chain allowed: deep enough for real module graphs, shallow enough to stop a call loop at once. */
export const DEFAULT_MAX_CALL_DEPTH = 32

/** A call with no `timeout` fails after this long: a hung module must not hang its callers forever. */
export const DEFAULT_CALL_TIMEOUT_MS = 30_000

/** How long a call waits for a module that is starting, restarting or reloading before it fails. */
export const DEFAULT_CALL_WAIT_MS = 5_000

/** Calls that may wait for one module at a time; beyond it they fail with ERR_QUEUE_FULL instead of piling up. */
export const DEFAULT_MAX_WAITING_CALLS = 10_000

/** A module's start must finish within this, or it ends `failed`. */
export const DEFAULT_START_TIMEOUT_MS = 30_000

/** A module's stop hook gets this long before the kernel gives up on it. */
export const DEFAULT_STOP_TIMEOUT_MS = 10_000

/** How often the kernel checks deadlines of calls in flight (their resolution). */
export const DEADLINE_TICK_MS = 50

/** The kernel's own version, which is also the version of the built-in `directory` module. */
export const KERNEL_VERSION = '0.1.0'

/** Name of the built-in module that answers questions about the others. */
export const DIRECTORY_MODULE = 'directory'

/** The caller name of calls that come from outside any module (CLI, tests, the developer interface). */
export const EXTERNAL_CALLER = 'external'
