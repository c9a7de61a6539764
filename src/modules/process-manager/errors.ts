import { LogosError, registerErrors } from '../../sdk/index.ts'

/** The process manager's failures; a crash itself is the kernel's ModuleCrashedError (ERR_MODULE_CRASHED). */

/** A host option (restart policy, backoff, heartbeat, ...) in a manifest or the user's configuration is invalid. */
export class PmBadOptionsError extends LogosError {
  static readonly code = 'ERR_PM_BAD_OPTIONS'
  constructor (module: string, field: string, expected: string, got: unknown) {
    super(PmBadOptionsError.code, `host options of "${module}": "${field}" must be ${expected}, got ${JSON.stringify(got) ?? String(got)}`, { data: { module, field, expected } })
  }
}

/** The module process could not be started, or ended before it was serving. */
export class PmSpawnFailedError extends LogosError {
  static readonly code = 'ERR_PM_SPAWN_FAILED'
  constructor (module: string, reason: string, data: Record<string, unknown> = {}) {
    super(PmSpawnFailedError.code, `cannot run "${module}" in a process of its own: ${reason}`, { retryable: true, data: { module, ...data } })
  }
}

/** The module crashed more often than its restart intensity allows, so it is left down. */
export class PmRestartIntensityError extends LogosError {
  static readonly code = 'ERR_PM_RESTART_INTENSITY'
  constructor (module: string, restarts: number, withinMs: number, options: { cause?: unknown } = {}) {
    super(PmRestartIntensityError.code, `module "${module}" was restarted ${restarts} times within ${withinMs} ms and is left down`, { ...options, data: { module, restarts, withinMs } })
  }
}

/** The module's process ended and its restart policy (temporary, or transient after a clean exit) keeps it down. */
export class PmNotRestartedError extends LogosError {
  static readonly code = 'ERR_PM_NOT_RESTARTED'
  constructor (module: string, policy: string, reason: string, options: { cause?: unknown } = {}) {
    super(PmNotRestartedError.code, `module "${module}" ended (${reason}) and its restart policy "${policy}" leaves it down`, { ...options, data: { module, policy, reason } })
  }
}

/** A value that cannot cross a process boundary (a function, a symbol, ...) was passed or returned. */
export class PmNotSerializableError extends LogosError {
  static readonly code = 'ERR_PM_NOT_SERIALIZABLE'
  constructor (what: string, options: { cause?: unknown } = {}) {
    const reason = options.cause instanceof Error ? `: ${options.cause.message}` : ''
    super(PmNotSerializableError.code, `${what} cannot cross a process boundary${reason}`, { ...options, data: { what } })
  }
}

/** One message is larger than the channel's bound. */
export class PmMessageTooLargeError extends LogosError {
  static readonly code = 'ERR_PM_MESSAGE_TOO_LARGE'
  constructor (bytes: number, limit: number) {
    super(PmMessageTooLargeError.code, `a message of ${bytes} bytes exceeds the limit of ${limit} bytes`, { data: { bytes, limit } })
  }
}

/** A module process broke the wire protocol (a bad frame or message); it is killed. */
export class PmProtocolError extends LogosError {
  static readonly code = 'ERR_PM_PROTOCOL'
  constructor (reason: string) {
    super(PmProtocolError.code, `protocol error on a module channel: ${reason}`, { data: { reason } })
  }
}

registerErrors(
  PmBadOptionsError, PmSpawnFailedError, PmRestartIntensityError, PmNotRestartedError, PmNotSerializableError,
  PmMessageTooLargeError, PmProtocolError
)
