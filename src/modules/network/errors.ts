import { LogosError, registerErrors } from '../../common/index.ts'
import type { LogosErrorOptions } from '../../common/index.ts'

/** The network module's configuration is malformed (the message names the field). */
export class NetworkConfigError extends LogosError {
  static readonly code = 'ERR_NET_CONFIG'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(NetworkConfigError.code, message, options)
  }
}

/** A method of the network module got parameters it cannot use. */
export class NetworkParamsError extends LogosError {
  static readonly code = 'ERR_NET_PARAMS'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(NetworkParamsError.code, message, options)
  }
}

/** Dialling a peer failed. */
export class DialFailedError extends LogosError {
  static readonly code = 'ERR_NET_DIAL_FAILED'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(DialFailedError.code, message, { retryable: true, ...options })
  }
}

/** The stored peer key cannot be read as a libp2p private key. */
export class PeerKeyError extends LogosError {
  static readonly code = 'ERR_NET_PEER_KEY'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(PeerKeyError.code, message, options)
  }
}

registerErrors(NetworkConfigError, NetworkParamsError, DialFailedError, PeerKeyError)
