/** Every default of the process manager, with why it is what it is. */

/** The name modules (or the user's config.json) give as `host` to run in a process of their own. */
export const CHILD_PROCESS_HOST = 'child-process'

// ---- restart policy ----------------------------------------------------------------------------------------------

/**
 * permanent: restarted whatever ended it (a module is expected to run as long as the node does, like Erlang's
 * permanent children and systemd's Restart=always). The user or the manifest picks transient or temporary.
 */
export const DEFAULT_RESTART = 'permanent'

/** First restart delay: long enough that a crash loop costs at most ~10 spawns a second, short enough to go unnoticed. */
export const DEFAULT_BACKOFF_BASE_MS = 100

/** Each consecutive crash doubles the delay: the classic exponential backoff, a few steps from 100 ms to the cap. */
export const DEFAULT_BACKOFF_FACTOR = 2

/** The longest delay between restarts: a broken module is retried twice a minute, not forgotten. */
export const DEFAULT_BACKOFF_CAP_MS = 30_000

/**
 * Fraction of the delay drawn at random (the delay is uniform in [d * (1 - jitter), d]): modules that crashed
 * together (a shared dependency went down) do not all come back in the same millisecond. Never above the cap.
 */
export const DEFAULT_BACKOFF_JITTER = 0.3

/** A process that served this long without crashing is healthy again: the next crash starts the backoff over. */
export const DEFAULT_RESET_AFTER_MS = 30_000

/**
 * At most this many restarts within DEFAULT_INTENSITY_WITHIN_MS, then the module is left down (failed). Close to
 * systemd's StartLimitBurst=5; with the default backoff five quick crashes take ~3 s, so a module that crashes every
 * few seconds stops being restarted within the minute instead of flapping forever.
 */
export const DEFAULT_INTENSITY_MAX_RESTARTS = 5

/** The window of the restart intensity limit (see DEFAULT_INTENSITY_MAX_RESTARTS). */
export const DEFAULT_INTENSITY_WITHIN_MS = 60_000

// ---- health ------------------------------------------------------------------------------------------------------

/** How often the host pings each module process; also how often CPU and memory figures are sampled. */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 1_000

/**
 * A process that answers no ping for this long is hung and is killed. Ten seconds spares a module doing several
 * seconds of synchronous work (a proof, a key derivation) while still catching a dead event loop quickly.
 */
export const DEFAULT_HEARTBEAT_TIMEOUT_MS = 10_000

/** No memory ceiling unless asked: a node has no single right answer, and a wrong one restarts healthy modules. */
export const DEFAULT_MEMORY_LIMIT_BYTES = 0

// ---- start and stop ----------------------------------------------------------------------------------------------

/** A restarted process must be serving within this (the kernel bounds the first start with its own deadline). */
export const DEFAULT_START_TIMEOUT_MS = 30_000

/**
 * The module's stop hook gets this long before SIGTERM. It is below the kernel's 10 s stop deadline so that the
 * whole sequence (hook, SIGTERM, SIGKILL) fits inside it.
 */
export const DEFAULT_STOP_GRACE_MS = 5_000

/** After SIGTERM, this long before SIGKILL. */
export const DEFAULT_KILL_GRACE_MS = 2_000

/**
 * A call the kernel gave up on (deadline, the caller's abort) is cancelled in the module's process; its handler then
 * gets this long to return before the host stops counting it as in flight. As long as the stop hook's grace: a
 * handler told to stop is expected to stop about as promptly as a module told to stop, and a stubborn one (or one
 * that never answers) holds its place for a bounded time only.
 */
export const DEFAULT_CANCEL_GRACE_MS = 5_000

/** After SIGKILL the kernel reaps at once; waiting longer than this means a zombie we cannot do anything about. */
export const KILL_WAIT_MS = 5_000

// ---- processes ---------------------------------------------------------------------------------------------------

/**
 * Idle pre-booted processes (Node started, the SDK and the TypeScript loader in memory) kept ready to become any
 * module. A restart then costs the module's own start, not ~150-400 ms of booting Node: one idle process (~60 MB) buys
 * restarts in tens of milliseconds. Made only once the host has launched a module; 0 turns it off.
 */
export const DEFAULT_SPARES = 1

/** Node flags of every module process: the type-stripping notice would otherwise fill each process's stderr. */
export const CHILD_EXEC_ARGV: readonly string[] = ['--disable-warning=ExperimentalWarning']

/** The file descriptor of the IPC socket in the child (0-2 are stdio). */
export const CHANNEL_FD = 3

/** Lines of a process's stderr kept for the crash report. */
export const STDERR_TAIL_LINES = 20

/** A longer stderr line is cut: the tail is for a report, not an archive. */
export const STDERR_LINE_MAX_CHARS = 1_000

/** Once a process has exited, its stderr pipe normally closes within a millisecond; a grandchild may hold it open. */
export const STDERR_DRAIN_MS = 100

/**
 * When the channel closes, the process normally exits within a millisecond (it watches the channel); one still
 * alive after this lost its channel some other way and is killed.
 */
export const CHANNEL_LOST_EXIT_WAIT_MS = 1_000

/** How often the child's watchdog thread checks that its parent is alive (it kills the process when not). */
export const ORPHAN_CHECK_INTERVAL_MS = 250

/**
 * Exit code of a module process that lost its channel while its parent was still alive (when its parent died it
 * kills itself instead). Outside the range Node uses for its own failures (1-14).
 */
export const EXIT_CODE_CHANNEL_LOST = 90

/** A module process that is done waits at most this for its last messages to leave (its module may hold it open). */
export const EXIT_FLUSH_MS = 1_000

/** How long the child waits to see whether its parent died (reparenting lags the channel's end by a moment). */
export const PARENT_DEATH_CHECK_MS = 100

// ---- the channel -------------------------------------------------------------------------------------------------

/** One message at most this big: a larger payload belongs in a file or a stream, not in one call. */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024

/** Bytes queued for a process that does not read them: beyond this, calls to it fail with ERR_QUEUE_FULL. */
export const MAX_QUEUED_BYTES = 256 * 1024 * 1024

/** Calls in flight to one process (and from it): far above any real load, low enough that a leak shows. */
export const MAX_IN_FLIGHT = 65_536

/** Event subscriptions one process may hold. */
export const MAX_SUBSCRIPTIONS = 10_000
