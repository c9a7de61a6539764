import { LogosError, registerErrors } from '../../common/index.ts'
import type { LogosErrorOptions } from '../../common/index.ts'

/** A `.mix` address is malformed: not base32, the wrong length, a bad checksum, or not an Ed25519 key. */
export class HiddenAddressError extends LogosError {
  static readonly code = 'ERR_HS_BAD_ADDRESS'
  constructor (reason: string, options: LogosErrorOptions = {}) {
    super(HiddenAddressError.code, `not a .mix address: ${reason}`, options)
  }
}

/** A key on the wire is not a usable point (non-canonical, small order, or not on the curve). */
export class HiddenKeyError extends LogosError {
  static readonly code = 'ERR_HS_BAD_KEY'
  constructor (reason: string, options: LogosErrorOptions = {}) {
    super(HiddenKeyError.code, `bad key: ${reason}`, options)
  }
}

/** A hidden-service message or descriptor cannot be parsed. */
export class HiddenMalformedError extends LogosError {
  static readonly code = 'ERR_HS_MALFORMED'
  constructor (reason: string, options: LogosErrorOptions = {}) {
    super(HiddenMalformedError.code, `malformed hidden-service data: ${reason}`, options)
  }
}

/** A descriptor fails a check of mix-hidden-service.md 8.6 (signature, validity range, discovery key, inner MAC). */
export class HiddenDescriptorInvalidError extends LogosError {
  static readonly code = 'ERR_HS_DESCRIPTOR_INVALID'
  constructor (reason: string, options: LogosErrorOptions = {}) {
    super(HiddenDescriptorInvalidError.code, `descriptor refused: ${reason}`, { ...options, data: { reason, ...options.data } })
  }
}

/** A descriptor's revision counter is not higher than the one stored under its discovery key. */
export class HiddenDescriptorStaleError extends LogosError {
  static readonly code = 'ERR_HS_DESCRIPTOR_STALE'
  constructor (revision: bigint, stored: bigint, options: LogosErrorOptions = {}) {
    super(HiddenDescriptorStaleError.code, `revision ${revision} is not above the stored ${stored}`, { ...options, data: { revision: revision.toString(), stored: stored.toString() } })
  }
}

/** No descriptor of the service could be fetched for the current (or previous) epoch. */
export class HiddenDescriptorNotFoundError extends LogosError {
  static readonly code = 'ERR_HS_DESCRIPTOR_NOT_FOUND'
  constructor (address: string, options: LogosErrorOptions = {}) {
    super(HiddenDescriptorNotFoundError.code, `no descriptor found for ${address}`, { retryable: true, ...options, data: { address } })
  }
}

/** The descriptor is in restricted mode and this client holds no key it was written for. */
export class HiddenUnauthorizedError extends LogosError {
  static readonly code = 'ERR_HS_UNAUTHORIZED'
  constructor (options: LogosErrorOptions = {}) {
    super(HiddenUnauthorizedError.code, 'the service admits only authorised clients, and this one is not among them', options)
  }
}

/** An EstablishIntro or intro-SURB refill has a bad signature or auth_mac (mix-hidden-service.md 7.2). */
export class HiddenIntroAuthError extends LogosError {
  static readonly code = 'ERR_HS_INTRO_AUTH'
  constructor (reason: string, options: LogosErrorOptions = {}) {
    super(HiddenIntroAuthError.code, `introduction point registration refused: ${reason}`, options)
  }
}

/** This node already serves as an introduction point for that auth_key (mix-hidden-service.md 7.2). */
export class HiddenIntroDuplicateError extends LogosError {
  static readonly code = 'ERR_HS_INTRO_DUPLICATE'
  constructor (options: LogosErrorOptions = {}) {
    super(HiddenIntroDuplicateError.code, 'already an introduction point for this auth_key', options)
  }
}

/** A bounded table of the hidden-service layer is full (intro registrations, descriptors, sessions). */
export class HiddenCapacityError extends LogosError {
  static readonly code = 'ERR_HS_CAPACITY'
  constructor (table: string, limit: number, options: LogosErrorOptions = {}) {
    super(HiddenCapacityError.code, `${table} is full (${limit})`, { retryable: true, ...options, data: { table, limit } })
  }
}

/** An Introduce message with a client tag H(client_key) already seen (mix-hidden-service.md 9.5). */
export class HiddenReplayError extends LogosError {
  static readonly code = 'ERR_HS_REPLAY'
  constructor (where: string, options: LogosErrorOptions = {}) {
    super(HiddenReplayError.code, `replayed introduction refused at the ${where}`, { ...options, data: { where } })
  }
}

/** An Introduce1 names an auth_key this introduction point does not serve (or no longer does). */
export class HiddenUnknownIntroError extends LogosError {
  static readonly code = 'ERR_HS_UNKNOWN_INTRO'
  constructor (options: LogosErrorOptions = {}) {
    super(HiddenUnknownIntroError.code, 'no hidden service registered under this auth_key', options)
  }
}

/** The introduction point holds no intro-SURB to reach the service with. */
export class HiddenNoIntroSurbError extends LogosError {
  static readonly code = 'ERR_HS_NO_INTRO_SURB'
  constructor (options: LogosErrorOptions = {}) {
    super(HiddenNoIntroSurbError.code, 'no intro-SURB left for this service', { retryable: true, ...options })
  }
}

/** Introductions beyond the rate an introduction point or a service accepts (DoS protection). */
export class HiddenRateLimitedError extends LogosError {
  static readonly code = 'ERR_HS_RATE_LIMITED'
  constructor (where: string, options: LogosErrorOptions = {}) {
    super(HiddenRateLimitedError.code, `introduction rate exceeded at the ${where}`, { retryable: true, ...options, data: { where } })
  }
}

/** An Introduce2 whose MAC does not verify under the intro point's service key (mix-hidden-service.md 9.4 step 5). */
export class HiddenIntroMacError extends LogosError {
  static readonly code = 'ERR_HS_INTRO_MAC'
  constructor (options: LogosErrorOptions = {}) {
    super(HiddenIntroMacError.code, 'introduction MAC does not verify', options)
  }
}

/** A SURB-rendezvous payload fails its integrity check after the session layer's LIONESS decryption. */
export class HiddenRendezvousIntegrityError extends LogosError {
  static readonly code = 'ERR_HS_RENDEZVOUS_INTEGRITY'
  constructor (options: LogosErrorOptions = {}) {
    super(HiddenRendezvousIntegrityError.code, 'rendezvous payload fails its integrity check', options)
  }
}

/** The service could not establish any introduction point. */
export class HiddenNoIntroPointsError extends LogosError {
  static readonly code = 'ERR_HS_NO_INTRO_POINTS'
  constructor (tried: number, options: LogosErrorOptions = {}) {
    super(HiddenNoIntroPointsError.code, `no introduction point answered (${tried} tried)`, { retryable: true, ...options, data: { tried } })
  }
}

/** No directory node acknowledged the descriptor. */
export class HiddenPublishFailedError extends LogosError {
  static readonly code = 'ERR_HS_PUBLISH_FAILED'
  constructor (tried: number, options: LogosErrorOptions = {}) {
    super(HiddenPublishFailedError.code, `no directory stored the descriptor (${tried} tried)`, { retryable: true, ...options, data: { tried } })
  }
}

/** No introduction point of the descriptor passed the introduction on to the service. */
export class HiddenConnectFailedError extends LogosError {
  static readonly code = 'ERR_HS_CONNECT_FAILED'
  constructor (reason: string, options: LogosErrorOptions = {}) {
    super(HiddenConnectFailedError.code, `cannot reach the hidden service: ${reason}`, { retryable: true, ...options })
  }
}

/** A request to a hidden service got no (complete) response in time. */
export class HiddenRequestTimeoutError extends LogosError {
  static readonly code = 'ERR_HS_REQUEST_TIMEOUT'
  constructor (timeoutMs: number, options: LogosErrorOptions = {}) {
    super(HiddenRequestTimeoutError.code, `no response within ${timeoutMs} ms`, { retryable: true, ...options, data: { timeoutMs } })
  }
}

/** The hidden service answered that it could not serve the request (no handler for the protocol, handler failed). */
export class HiddenResponseError extends LogosError {
  static readonly code = 'ERR_HS_RESPONSE_FAILED'
  constructor (status: string, options: LogosErrorOptions = {}) {
    super(HiddenResponseError.code, `the hidden service reports: ${status}`, { ...options, data: { status } })
  }
}

/** A request or response is larger than a session carries. */
export class HiddenMessageTooLargeError extends LogosError {
  static readonly code = 'ERR_HS_MESSAGE_TOO_LARGE'
  constructor (size: number, limit: number, options: LogosErrorOptions = {}) {
    super(HiddenMessageTooLargeError.code, `message of ${size} bytes exceeds ${limit}`, { ...options, data: { size, limit } })
  }
}

/** The hidden-service layer is not started. */
export class HiddenNotStartedError extends LogosError {
  static readonly code = 'ERR_HS_NOT_STARTED'
  constructor (options: LogosErrorOptions = {}) {
    super(HiddenNotStartedError.code, 'the hidden-service layer is not running', options)
  }
}

/** A service with this identity is already hosted here. */
export class HiddenDuplicateServiceError extends LogosError {
  static readonly code = 'ERR_HS_DUPLICATE_SERVICE'
  constructor (address: string, options: LogosErrorOptions = {}) {
    super(HiddenDuplicateServiceError.code, `${address} is already hosted here`, { ...options, data: { address } })
  }
}

/** The session with the hidden service (or client) ended before the message went through. */
export class HiddenSessionClosedError extends LogosError {
  static readonly code = 'ERR_HS_SESSION_CLOSED'
  constructor (reason: string, options: LogosErrorOptions = {}) {
    super(HiddenSessionClosedError.code, `session closed: ${reason}`, { retryable: true, ...options })
  }
}

registerErrors(
  HiddenAddressError, HiddenKeyError, HiddenMalformedError, HiddenDescriptorInvalidError, HiddenDescriptorStaleError,
  HiddenDescriptorNotFoundError, HiddenUnauthorizedError, HiddenIntroAuthError, HiddenIntroDuplicateError,
  HiddenCapacityError, HiddenReplayError, HiddenUnknownIntroError, HiddenNoIntroSurbError, HiddenRateLimitedError,
  HiddenIntroMacError, HiddenRendezvousIntegrityError, HiddenNoIntroPointsError, HiddenPublishFailedError,
  HiddenConnectFailedError, HiddenRequestTimeoutError, HiddenResponseError, HiddenMessageTooLargeError,
  HiddenNotStartedError, HiddenDuplicateServiceError, HiddenSessionClosedError
)
