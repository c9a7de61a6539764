import { LogosError, registerErrors } from '../../common/index.ts'
import type { LogosErrorOptions } from '../../common/index.ts'

/** No folder, cache or download gave the RLN circuit resources; the message says how to provide them. */
export class RlnResourcesUnavailableError extends LogosError {
  static readonly code = 'ERR_RLN_RESOURCES_UNAVAILABLE'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(RlnResourcesUnavailableError.code, message, options)
  }
}

/** A circuit resource does not have its pinned sha256: it is not the ceremony file and is never used. */
export class RlnResourceChecksumError extends LogosError {
  static readonly code = 'ERR_RLN_RESOURCE_CHECKSUM'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(RlnResourceChecksumError.code, message, options)
  }
}

/** A byte string is not a valid RLN value (wrong length, not a canonical field element, bad point encoding). */
export class RlnEncodingError extends LogosError {
  static readonly code = 'ERR_RLN_ENCODING'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(RlnEncodingError.code, message, options)
  }
}

/** message_id must lie in [0, user_message_limit): the circuit cannot prove a message past the limit. */
export class RlnMessageLimitError extends LogosError {
  static readonly code = 'ERR_RLN_MESSAGE_LIMIT'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(RlnMessageLimitError.code, message, options)
  }
}

/** The identity is not a member of the group (never registered, or removed), so it cannot prove. */
export class RlnNotAMemberError extends LogosError {
  static readonly code = 'ERR_RLN_NOT_A_MEMBER'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(RlnNotAMemberError.code, message, options)
  }
}

/** The membership group refused a change (duplicate commitment, full tree, unknown index, bad limit). */
export class RlnGroupError extends LogosError {
  static readonly code = 'ERR_RLN_GROUP'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(RlnGroupError.code, message, options)
  }
}

/** The proof's epoch is further from ours than the allowed gap (clock skew bound). */
export class RlnEpochOutOfRangeError extends LogosError {
  static readonly code = 'ERR_RLN_EPOCH_OUT_OF_RANGE'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(RlnEpochOutOfRangeError.code, message, options)
  }
}

/** The proof's Merkle root is not one of the recent roots this node accepts. */
export class RlnUnknownRootError extends LogosError {
  static readonly code = 'ERR_RLN_UNKNOWN_ROOT'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(RlnUnknownRootError.code, message, options)
  }
}

/** The proof does not verify: the zkSNARK fails, or its x is not the hash of the signal, or its values were altered. */
export class RlnInvalidProofError extends LogosError {
  static readonly code = 'ERR_RLN_INVALID_PROOF'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(RlnInvalidProofError.code, message, options)
  }
}

/** The same message (same nullifier and same share) was seen before in this epoch. */
export class RlnDuplicateMessageError extends LogosError {
  static readonly code = 'ERR_RLN_DUPLICATE_MESSAGE'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(RlnDuplicateMessageError.code, message, options)
  }
}

/** Double signalling: two different messages with one nullifier; the sender's secret was recovered. */
export class RlnSpamDetectedError extends LogosError {
  static readonly code = 'ERR_RLN_SPAM_DETECTED'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(RlnSpamDetectedError.code, message, options)
  }
}

/** Slashing evidence does not hold: the shares do not give a secret whose commitment is the accused member's. */
export class RlnInvalidEvidenceError extends LogosError {
  static readonly code = 'ERR_RLN_INVALID_EVIDENCE'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(RlnInvalidEvidenceError.code, message, options)
  }
}

/** The prover pool has more jobs waiting than its bound; try again later. */
export class RlnBusyError extends LogosError {
  static readonly code = 'ERR_RLN_BUSY'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(RlnBusyError.code, message, { retryable: true, ...options })
  }
}

/** The prover pool is closed or a worker died; the job did not run to its end. */
export class RlnWorkerError extends LogosError {
  static readonly code = 'ERR_RLN_WORKER'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(RlnWorkerError.code, message, options)
  }
}

/** This member already used every message_id of the epoch: sending more would be double signalling. */
export class RlnRateLimitedError extends LogosError {
  static readonly code = 'ERR_RLN_RATE_LIMITED'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(RlnRateLimitedError.code, message, { retryable: true, ...options })
  }
}

registerErrors(
  RlnResourcesUnavailableError, RlnResourceChecksumError, RlnEncodingError, RlnMessageLimitError, RlnNotAMemberError,
  RlnGroupError, RlnEpochOutOfRangeError, RlnUnknownRootError, RlnInvalidProofError, RlnDuplicateMessageError,
  RlnSpamDetectedError, RlnInvalidEvidenceError, RlnBusyError, RlnWorkerError, RlnRateLimitedError
)

/** The circuit's constraints refuse the inputs (for instance a Merkle path that does not fit, or a bad limit). */
export class RlnWitnessError extends LogosError {
  static readonly code = 'ERR_RLN_WITNESS'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(RlnWitnessError.code, message, options)
  }
}

registerErrors(RlnWitnessError)
