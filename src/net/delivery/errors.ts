import { LogosError, registerErrors } from '../../common/index.ts'
import type { LogosErrorOptions } from '../../common/index.ts'

/** Bytes that should hold a delivery protocol message (WakuMessage, RateLimitProof, store or lightpush RPC) do not decode. */
export class DeliveryDecodeError extends LogosError {
  static readonly code = 'ERR_DLV_DECODE'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(DeliveryDecodeError.code, message, options)
  }
}

/** A message is larger than the relay's limit (150 KiB by default). */
export class DeliveryMessageTooLargeError extends LogosError {
  static readonly code = 'ERR_DLV_MESSAGE_TOO_LARGE'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(DeliveryMessageTooLargeError.code, message, options)
  }
}

/** A WakuMessage breaks a rule of 14/WAKU2-MESSAGE (meta above 64 bytes, no content topic, ...). */
export class DeliveryInvalidMessageError extends LogosError {
  static readonly code = 'ERR_DLV_INVALID_MESSAGE'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(DeliveryInvalidMessageError.code, message, options)
  }
}

/** A content topic is not of the form /{application}/{version}/{name}/{encoding} (23/WAKU2-TOPICS). */
export class DeliveryContentTopicError extends LogosError {
  static readonly code = 'ERR_DLV_CONTENT_TOPIC'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(DeliveryContentTopicError.code, message, options)
  }
}

/** A pubsub topic is not a static shard /waku/2/rs/{cluster}/{shard} of this network. */
export class DeliveryPubsubTopicError extends LogosError {
  static readonly code = 'ERR_DLV_PUBSUB_TOPIC'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(DeliveryPubsubTopicError.code, message, options)
  }
}

/** A delivery service was used before start() or after stop(). */
export class DeliveryNotStartedError extends LogosError {
  static readonly code = 'ERR_DLV_NOT_STARTED'
  constructor (message = 'the delivery service is not started', options: LogosErrorOptions = {}) {
    super(DeliveryNotStartedError.code, message, options)
  }
}

/** A request to a peer (store query, lightpush) failed on the way: dial, stream, timeout, or no answer. */
export class DeliveryRequestFailedError extends LogosError {
  static readonly code = 'ERR_DLV_REQUEST_FAILED'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(DeliveryRequestFailedError.code, message, { retryable: true, ...options })
  }
}

/** A store node answered a query with an error status (13/WAKU2-STORE: anything outside 2xx). */
export class DeliveryStoreQueryError extends LogosError {
  static readonly code = 'ERR_DLV_STORE_QUERY'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(DeliveryStoreQueryError.code, message, options)
  }
}

/** The message archive (SQLite) failed. */
export class DeliveryArchiveError extends LogosError {
  static readonly code = 'ERR_DLV_ARCHIVE'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(DeliveryArchiveError.code, message, options)
  }
}

/** A lightpush service node refused or failed a push (the status code is in data.status). */
export class DeliveryLightpushError extends LogosError {
  static readonly code = 'ERR_DLV_LIGHTPUSH'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(DeliveryLightpushError.code, message, options)
  }
}

/** RLN relay: the message's timestamp is more than the allowed gap (20 s) from our clock. */
export class DeliveryTimestampError extends LogosError {
  static readonly code = 'ERR_DLV_TIMESTAMP'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(DeliveryTimestampError.code, message, options)
  }
}

/** RLN relay: the proof's epoch is not the epoch of the message's timestamp. */
export class DeliveryEpochMismatchError extends LogosError {
  static readonly code = 'ERR_DLV_EPOCH_MISMATCH'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(DeliveryEpochMismatchError.code, message, options)
  }
}

/** RLN relay: the message carries no rate limit proof, or one that does not decode. */
export class DeliveryMissingProofError extends LogosError {
  static readonly code = 'ERR_DLV_NO_PROOF'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(DeliveryMissingProofError.code, message, options)
  }
}

/** RLN relay: the proof names another application's RLN identifier. */
export class DeliveryRlnIdentifierError extends LogosError {
  static readonly code = 'ERR_DLV_RLN_IDENTIFIER'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(DeliveryRlnIdentifierError.code, message, options)
  }
}

/** A publish found no peer to send to, or gossipsub refused it. */
export class DeliveryPublishError extends LogosError {
  static readonly code = 'ERR_DLV_PUBLISH'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(DeliveryPublishError.code, message, { retryable: true, ...options })
  }
}

/** A membership registry message (snapshot, join, slashing notice) is malformed or badly signed. */
export class DeliveryMembershipError extends LogosError {
  static readonly code = 'ERR_DLV_MEMBERSHIP'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(DeliveryMembershipError.code, message, options)
  }
}

registerErrors(
  DeliveryDecodeError, DeliveryMessageTooLargeError, DeliveryInvalidMessageError, DeliveryContentTopicError,
  DeliveryPubsubTopicError, DeliveryNotStartedError, DeliveryRequestFailedError, DeliveryStoreQueryError,
  DeliveryArchiveError, DeliveryLightpushError, DeliveryTimestampError, DeliveryEpochMismatchError,
  DeliveryMissingProofError, DeliveryRlnIdentifierError, DeliveryPublishError, DeliveryMembershipError
)
