import { LogosError, registerErrors } from '../../sdk/index.ts'
import type { ErrorWire } from '../../sdk/index.ts'

/** A request to the developer interface carried no access token. */
export class DevTokenMissingError extends LogosError {
  static readonly code = 'ERR_DEV_TOKEN_MISSING'
  constructor () {
    super(DevTokenMissingError.code, 'this interface needs the node\'s access token (Authorization: Bearer <token>, from <data dir>/modules/developer/token)')
  }
}

/** A request to the developer interface carried a token that is not the node's. */
export class DevTokenInvalidError extends LogosError {
  static readonly code = 'ERR_DEV_TOKEN_INVALID'
  constructor () {
    super(DevTokenInvalidError.code, 'the access token is not this node\'s')
  }
}

/** A browser page from another origin (or a request naming a foreign Host) tried to reach the developer interface. */
export class DevOriginRefusedError extends LogosError {
  static readonly code = 'ERR_DEV_ORIGIN_REFUSED'
  constructor (what: string, value: string) {
    super(DevOriginRefusedError.code, `requests with ${what} "${value}" are refused`, { data: { [what]: value } })
  }
}

/** A JSON-RPC request's params do not match the method's schema. */
export class DevInvalidParamsError extends LogosError {
  static readonly code = 'ERR_DEV_INVALID_PARAMS'
  constructor (method: string, problem: string) {
    super(DevInvalidParamsError.code, `invalid params for ${method}: ${problem}`, { data: { method, problem } })
  }
}

/** A bound of the developer interface (clients, subscriptions, requests in flight, watches) is reached. */
export class DevLimitReachedError extends LogosError {
  static readonly code = 'ERR_DEV_LIMIT_REACHED'
  constructor (what: string, limit: number) {
    super(DevLimitReachedError.code, `too many ${what} (limit ${limit})`, { retryable: true, data: { what, limit } })
  }
}

/** A method that streams (a subscription) was asked for over plain HTTP. */
export class DevNeedsWebSocketError extends LogosError {
  static readonly code = 'ERR_DEV_NEEDS_WEBSOCKET'
  constructor (method: string) {
    super(DevNeedsWebSocketError.code, `${method} streams notifications and is available over WebSocket only`, { data: { method } })
  }
}

/** An unsubscribe named a subscription this client does not hold. */
export class DevSubscriptionNotFoundError extends LogosError {
  static readonly code = 'ERR_DEV_SUBSCRIPTION_NOT_FOUND'
  constructor (subscription: string) {
    super(DevSubscriptionNotFoundError.code, `no subscription "${subscription}" on this connection`, { data: { subscription } })
  }
}

/** The developer module was asked over its own interface to stop, unload or reload itself (the answer could never arrive). */
export class DevSelfControlError extends LogosError {
  static readonly code = 'ERR_DEV_SELF_CONTROL'
  constructor (name: string, action: string) {
    super(DevSelfControlError.code, `the developer interface cannot ${action} "${name}", the module that serves it; use the node's own controls`, { data: { module: name, action } })
  }
}

/** The developer module started without kernel access (it must be loaded as a trusted, privileged, in-process module). */
export class DevNotPrivilegedError extends LogosError {
  static readonly code = 'ERR_DEV_NOT_PRIVILEGED'
  constructor () {
    super(DevNotPrivilegedError.code, 'the developer module needs ctx.system: load it as a trusted privileged module on the in-process host')
  }
}

/** The developer module's configuration has a bad field. */
export class DevBadConfigError extends LogosError {
  static readonly code = 'ERR_DEV_BAD_CONFIG'
  constructor (field: string, expected: string) {
    super(DevBadConfigError.code, `developer module config: "${field}" must be ${expected}`, { data: { field, expected } })
  }
}

/** A module asked to be watched was not loaded from a folder (or the folder cannot be watched). */
export class DevNotWatchableError extends LogosError {
  static readonly code = 'ERR_DEV_NOT_WATCHABLE'
  constructor (name: string, reason: string) {
    super(DevNotWatchableError.code, `module "${name}" cannot be watched: ${reason}`, { data: { module: name } })
  }
}

/** The CLI found no running node: no endpoint file in the data directory, or nothing answers at its address. */
export class DevNodeUnreachableError extends LogosError {
  static readonly code = 'ERR_DEV_NODE_UNREACHABLE'
  constructor (where: string, options: { cause?: unknown } = {}) {
    super(DevNodeUnreachableError.code, `no running node answers at ${where} (is the node running, with the developer module?)`, { ...options, retryable: true, data: { where } })
  }
}

/** A JSON-RPC error that is not an error of a module (protocol errors: parse, invalid request, unknown method). */
export class DevRpcError extends LogosError {
  static readonly code = 'ERR_DEV_RPC'
  readonly rpcCode: number
  constructor (rpcCode: number, message: string, data?: unknown) {
    super(DevRpcError.code, `${message} (JSON-RPC ${rpcCode})`, { data: { rpcCode, detail: data as ErrorWire | undefined } })
    this.rpcCode = rpcCode
  }
}

registerErrors(
  DevTokenMissingError, DevTokenInvalidError, DevOriginRefusedError, DevInvalidParamsError, DevLimitReachedError,
  DevNeedsWebSocketError, DevSubscriptionNotFoundError, DevSelfControlError, DevNotPrivilegedError, DevBadConfigError,
  DevNotWatchableError, DevNodeUnreachableError, DevRpcError
)
