import { LogosError, registerErrors } from '../../common/index.ts'
import type { LogosErrorOptions } from '../../common/index.ts'

/** A discovery message could not be decoded or breaks a size limit. */
export class InvalidMessageError extends LogosError {
  static readonly code = 'ERR_DISC_INVALID_MESSAGE'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(InvalidMessageError.code, message, options)
  }
}

/** An advertisement (signed extensible peer record) is malformed, forged, oversized or for another service. */
export class InvalidAdvertisementError extends LogosError {
  static readonly code = 'ERR_DISC_INVALID_ADVERTISEMENT'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(InvalidAdvertisementError.code, message, options)
  }
}

/** A ticket is not signed by this registrar, is for another ad, or arrived outside its registration window. */
export class InvalidTicketError extends LogosError {
  static readonly code = 'ERR_DISC_INVALID_TICKET'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(InvalidTicketError.code, message, options)
  }
}

/** The ServiceInfo data of an advertised capability is larger than 33 bytes. */
export class ServiceDataTooLargeError extends LogosError {
  static readonly code = 'ERR_DISC_SERVICE_DATA_TOO_LARGE'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(ServiceDataTooLargeError.code, message, options)
  }
}

/** A node in client (light) mode was asked to advertise; client nodes only discover. */
export class ClientModeError extends LogosError {
  static readonly code = 'ERR_DISC_CLIENT_MODE'
  constructor (message = 'a node in client mode only discovers; it cannot advertise', options: LogosErrorOptions = {}) {
    super(ClientModeError.code, message, options)
  }
}

/** The node already advertises as many services as it may (MAX_ADVERTISED_SERVICES). */
export class TooManyServicesError extends LogosError {
  static readonly code = 'ERR_DISC_TOO_MANY_SERVICES'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(TooManyServicesError.code, message, options)
  }
}

/** A request to a registrar failed (unreachable, timed out, or answered with something unusable). */
export class RequestFailedError extends LogosError {
  static readonly code = 'ERR_DISC_REQUEST_FAILED'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(RequestFailedError.code, message, { retryable: true, ...options })
  }
}

/** The discovery service is not started. */
export class NotStartedError extends LogosError {
  static readonly code = 'ERR_DISC_NOT_STARTED'
  constructor (message = 'capability discovery is not started', options: LogosErrorOptions = {}) {
    super(NotStartedError.code, message, options)
  }
}

registerErrors(InvalidMessageError, InvalidAdvertisementError, InvalidTicketError, ServiceDataTooLargeError, ClientModeError,
  TooManyServicesError, RequestFailedError, NotStartedError)
