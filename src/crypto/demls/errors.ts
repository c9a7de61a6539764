import { LogosError, registerErrors } from '../../common/index.ts'
import type { LogosErrorOptions } from '../../common/index.ts'

/** A De-MLS wire message is malformed (truncated, oversized, bad field). */
export class DemlsDecodeError extends LogosError {
  static readonly code = 'ERR_MLS_DECODE'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(DemlsDecodeError.code, message, options)
  }
}

/** A De-MLS wire message carries a version this implementation does not speak. */
export class DemlsVersionError extends LogosError {
  static readonly code = 'ERR_MLS_VERSION'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(DemlsVersionError.code, message, options)
  }
}

/** A vote fails its hash, signature, chain or timestamp checks (HASHGRAPHLIKE §2, §3). */
export class InvalidVoteError extends LogosError {
  static readonly code = 'ERR_MLS_INVALID_VOTE'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(InvalidVoteError.code, message, options)
  }
}

/** A voting proposal is malformed, expired, from a non-member or for another group or epoch. */
export class InvalidProposalError extends LogosError {
  static readonly code = 'ERR_MLS_INVALID_PROPOSAL'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(InvalidProposalError.code, message, options)
  }
}

/** A commit candidate fails the commit validation service (a broken commit). */
export class InvalidCommitError extends LogosError {
  static readonly code = 'ERR_MLS_INVALID_COMMIT'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(InvalidCommitError.code, message, options)
  }
}

/** A key package is malformed, not for this cipher suite, or its credential does not match its key. */
export class InvalidKeyPackageError extends LogosError {
  static readonly code = 'ERR_MLS_INVALID_KEY_PACKAGE'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(InvalidKeyPackageError.code, message, options)
  }
}

/** A group configuration is out of range (steward list bounds, timers, scores). */
export class InvalidGroupConfigError extends LogosError {
  static readonly code = 'ERR_MLS_INVALID_CONFIG'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(InvalidGroupConfigError.code, message, options)
  }
}

/** The group is not known to this client. */
export class UnknownGroupError extends LogosError {
  static readonly code = 'ERR_MLS_UNKNOWN_GROUP'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(UnknownGroupError.code, message, options)
  }
}

/** This client already has a group with that id. */
export class GroupExistsError extends LogosError {
  static readonly code = 'ERR_MLS_GROUP_EXISTS'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(GroupExistsError.code, message, options)
  }
}

/** The operation needs a member of the group (target not a member, or we are no longer one). */
export class NotMemberError extends LogosError {
  static readonly code = 'ERR_MLS_NOT_MEMBER'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(NotMemberError.code, message, options)
  }
}

/** The group was closed (left, removed, or the client stopped); nothing more can be done with it. */
export class GroupClosedError extends LogosError {
  static readonly code = 'ERR_MLS_GROUP_CLOSED'
  constructor (message = 'the group is closed', options: LogosErrorOptions = {}) {
    super(GroupClosedError.code, message, options)
  }
}

/** A bounded queue or buffer is full; the caller may retry later. */
export class DemlsQueueFullError extends LogosError {
  static readonly code = 'ERR_MLS_QUEUE_FULL'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(DemlsQueueFullError.code, message, { retryable: true, ...options })
  }
}

/** The group store could not read or write persisted state. */
export class DemlsStoreError extends LogosError {
  static readonly code = 'ERR_MLS_STORE'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(DemlsStoreError.code, message, options)
  }
}

registerErrors(
  DemlsDecodeError, DemlsVersionError, InvalidVoteError, InvalidProposalError, InvalidCommitError,
  InvalidKeyPackageError, InvalidGroupConfigError, UnknownGroupError, GroupExistsError, NotMemberError,
  GroupClosedError, DemlsQueueFullError, DemlsStoreError
)
