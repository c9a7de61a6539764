import { LogosError, registerErrors } from '../../common/index.ts'
import type { LogosErrorOptions } from '../../common/index.ts'

/** The delivery module's configuration is malformed (the message names the field). */
export class DeliveryConfigError extends LogosError {
  static readonly code = 'ERR_DLV_CONFIG'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(DeliveryConfigError.code, message, options)
  }
}

/** A method of the delivery module got parameters it cannot use. */
export class DeliveryParamsError extends LogosError {
  static readonly code = 'ERR_DLV_PARAMS'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(DeliveryParamsError.code, message, options)
  }
}

/** Too many sends are in progress; try again later. */
export class DeliveryBusyError extends LogosError {
  static readonly code = 'ERR_DLV_BUSY'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(DeliveryBusyError.code, message, { retryable: true, ...options })
  }
}

/** No peer serving the needed protocol (store, lightpush) answered. */
export class DeliveryNoServicePeerError extends LogosError {
  static readonly code = 'ERR_DLV_NO_SERVICE_PEER'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(DeliveryNoServicePeerError.code, message, { retryable: true, ...options })
  }
}

/** This node is not (yet) a member of the RLN group, so it cannot prove its messages. */
export class DeliveryNotAMemberError extends LogosError {
  static readonly code = 'ERR_DLV_NOT_A_MEMBER'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(DeliveryNotAMemberError.code, message, options)
  }
}

registerErrors(DeliveryConfigError, DeliveryParamsError, DeliveryBusyError, DeliveryNoServicePeerError, DeliveryNotAMemberError)
