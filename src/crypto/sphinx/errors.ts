import { LogosError, registerErrors } from '../../common/index.ts'
import type { LogosErrorOptions } from '../../common/index.ts'

/**
 * Every way a Sphinx packet, SURB, address or payload can be refused. A relay turns each into a silent drop
 * (mix.md 8.6.3 step 6) but counts it by code, so every rejection is typed and none is a crash.
 */
export class SphinxError extends LogosError {}

/** A packet (or header, or SURB) does not have its fixed length. */
export class SphinxLengthError extends SphinxError {
  static readonly code = 'ERR_SPHINX_LENGTH'
  constructor (what: string, expected: number, actual: number, options: LogosErrorOptions = {}) {
    super(SphinxLengthError.code, `${what} must be ${expected} bytes, got ${actual}`, { ...options, data: { what, expected, actual } })
  }
}

/** alpha (or a mix public key) is not a canonical Curve25519 point of large order. */
export class SphinxInvalidPointError extends SphinxError {
  static readonly code = 'ERR_SPHINX_INVALID_POINT'
  constructor (reason: string, options: LogosErrorOptions = {}) {
    super(SphinxInvalidPointError.code, `invalid Curve25519 point: ${reason}`, options)
  }
}

/** The packet's replay tag H(s) was seen before: a replay, or a second use of a SURB. */
export class SphinxReplayError extends SphinxError {
  static readonly code = 'ERR_SPHINX_REPLAY'
  constructor (options: LogosErrorOptions = {}) {
    super(SphinxReplayError.code, 'replayed packet (its tag was seen before)', options)
  }
}

/** The header MAC gamma does not match beta: a tampered header or a packet for another key. */
export class SphinxMacError extends SphinxError {
  static readonly code = 'ERR_SPHINX_BAD_MAC'
  constructor (options: LogosErrorOptions = {}) {
    super(SphinxMacError.code, 'header integrity check failed', options)
  }
}

/** The payload's all-zero integrity prefix is wrong after the last layer came off: a tampered payload. */
export class SphinxPayloadIntegrityError extends SphinxError {
  static readonly code = 'ERR_SPHINX_PAYLOAD_INTEGRITY'
  constructor (options: LogosErrorOptions = {}) {
    super(SphinxPayloadIntegrityError.code, 'payload integrity prefix check failed', options)
  }
}

/** The decrypted message inside the payload does not parse (padding, codec, SURBs, fragment header). */
export class SphinxMalformedPayloadError extends SphinxError {
  static readonly code = 'ERR_SPHINX_MALFORMED_PAYLOAD'
  constructor (reason: string, options: LogosErrorOptions = {}) {
    super(SphinxMalformedPayloadError.code, `malformed payload: ${reason}`, options)
  }
}

/** A 94-byte hop address does not decode, or a multiaddr cannot be encoded into one. */
export class SphinxAddressError extends SphinxError {
  static readonly code = 'ERR_SPHINX_BAD_ADDRESS'
  constructor (reason: string, options: LogosErrorOptions = {}) {
    super(SphinxAddressError.code, `bad mix address: ${reason}`, options)
  }
}

/** A path or its per-hop parameters cannot make a packet (length, keys, delays). */
export class SphinxPathError extends SphinxError {
  static readonly code = 'ERR_SPHINX_INVALID_PATH'
  constructor (reason: string, options: LogosErrorOptions = {}) {
    super(SphinxPathError.code, `invalid path: ${reason}`, options)
  }
}

/** A message (with its codec and SURBs) does not fit in one packet's payload. */
export class SphinxMessageTooLargeError extends SphinxError {
  static readonly code = 'ERR_SPHINX_MESSAGE_TOO_LARGE'
  constructor (size: number, capacity: number, options: LogosErrorOptions = {}) {
    super(SphinxMessageTooLargeError.code, `message of ${size} bytes does not fit in ${capacity} bytes`, { ...options, data: { size, capacity } })
  }
}

/** The X25519 computation itself failed (an all-zero shared secret from a small-order input). */
export class SphinxKeyAgreementError extends SphinxError {
  static readonly code = 'ERR_SPHINX_KEY_AGREEMENT'
  constructor (options: LogosErrorOptions = {}) {
    super(SphinxKeyAgreementError.code, 'X25519 key agreement failed', options)
  }
}

registerErrors(
  SphinxLengthError, SphinxInvalidPointError, SphinxReplayError, SphinxMacError, SphinxPayloadIntegrityError,
  SphinxMalformedPayloadError, SphinxAddressError, SphinxPathError, SphinxMessageTooLargeError, SphinxKeyAgreementError
)
