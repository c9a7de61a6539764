/**
 * The error base shared by every layer. An error has a stable `code` (listed in docs/errors.md), says whether a retry
 * can help, and carries small structured `data`. It survives a process boundary: `toWire()` on one side,
 * `errorFromWire()` on the other gives back an instance of the same class when that class is registered there.
 */

export interface ErrorWire {
  name: string
  code: string
  message: string
  retryable: boolean
  data?: Record<string, unknown>
  stack?: string
  cause?: ErrorWire
}

export interface LogosErrorOptions {
  cause?: unknown
  data?: Record<string, unknown>
  retryable?: boolean
}

export class LogosError extends Error {
  readonly code: string
  readonly retryable: boolean
  readonly data: Record<string, unknown>

  constructor (code: string, message: string, options: LogosErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.code = code
    this.retryable = options.retryable ?? false
    this.data = options.data ?? {}
  }

  toWire (): ErrorWire {
    return errorToWire(this)
  }
}

/** Error classes that can be rebuilt from the wire, by code. */
const registry = new Map<string, typeof LogosError>()

interface RegistrableError {
  readonly code: string
  readonly prototype: LogosError
}

/** Registers error classes (each with a static `code`) so `errorFromWire` rebuilds them as instances of that class. */
export function registerErrors (...classes: RegistrableError[]): void {
  for (const cls of classes) registry.set(cls.code, cls as unknown as typeof LogosError)
}

/** A wire form of any thrown value; plain errors get the code ERR_UNEXPECTED. */
export function errorToWire (err: unknown, depth = 0): ErrorWire {
  if (err instanceof LogosError) {
    const wire: ErrorWire = { name: err.name, code: err.code, message: err.message, retryable: err.retryable, stack: err.stack }
    if (Object.keys(err.data).length > 0) wire.data = err.data
    if (err.cause !== undefined && depth < 4) wire.cause = errorToWire(err.cause, depth + 1)
    return wire
  }
  if (err instanceof Error) {
    const maybeCode = (err as Error & { code?: unknown }).code
    const code = typeof maybeCode === 'string' ? maybeCode : UnexpectedError.code
    const wire: ErrorWire = { name: err.name, code, message: err.message, retryable: false, stack: err.stack }
    if (err.cause !== undefined && depth < 4) wire.cause = errorToWire(err.cause, depth + 1)
    return wire
  }
  return { name: 'Error', code: UnexpectedError.code, message: safeString(err), retryable: false }
}

/** A description of any value that never throws (objects can make String() throw). */
function safeString (value: unknown): string {
  try {
    return String(value)
  } catch {
    return Object.prototype.toString.call(value)
  }
}

/** Rebuilds an error sent by `errorToWire`, as its registered class when the code is known here. */
export function errorFromWire (wire: ErrorWire): LogosError {
  const cls = registry.get(wire.code)
  const err: LogosError = cls === undefined
    ? new LogosError(wire.code, wire.message)
    : Object.create(cls.prototype) as LogosError
  const fields: Record<string, unknown> = {
    name: wire.name,
    message: wire.message,
    code: wire.code,
    retryable: wire.retryable,
    data: wire.data ?? {}
  }
  if (wire.stack !== undefined) fields.stack = wire.stack
  if (wire.cause !== undefined) fields.cause = errorFromWire(wire.cause)
  for (const [key, value] of Object.entries(fields)) {
    Object.defineProperty(err, key, { value, writable: true, configurable: true, enumerable: key !== 'stack' && key !== 'message' })
  }
  return err
}

/** Wraps anything thrown into a LogosError, keeping LogosErrors as they are. */
export function toLogosError (err: unknown): LogosError {
  if (err instanceof LogosError) return err
  const wire = errorToWire(err)
  return new UnexpectedError(wire.message, { cause: err })
}

/** A failure without a code of its own (a plain Error crossing a boundary). */
export class UnexpectedError extends LogosError {
  static readonly code = 'ERR_UNEXPECTED'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(UnexpectedError.code, message, options)
  }
}

/** An operation was aborted by its AbortSignal. */
export class AbortedError extends LogosError {
  static readonly code = 'ERR_ABORTED'
  constructor (message = 'the operation was aborted', options: LogosErrorOptions = {}) {
    super(AbortedError.code, message, options)
  }
}

/** An operation timed out. */
export class TimeoutError extends LogosError {
  static readonly code = 'ERR_TIMEOUT'
  constructor (message = 'the operation timed out', options: LogosErrorOptions = {}) {
    super(TimeoutError.code, message, { retryable: true, ...options })
  }
}

/** An argument or configuration value is invalid; the message says which. */
export class InvalidArgumentError extends LogosError {
  static readonly code = 'ERR_INVALID_ARGUMENT'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(InvalidArgumentError.code, message, options)
  }
}

registerErrors(UnexpectedError, AbortedError, TimeoutError, InvalidArgumentError)
