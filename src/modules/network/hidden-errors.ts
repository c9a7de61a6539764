import { LogosError, registerErrors } from '../../common/index.ts'
import type { LogosErrorOptions } from '../../common/index.ts'

/** hiddenReply named a request that is not waiting for an answer (unknown, answered, or its window is over). */
export class HiddenReplyIdError extends LogosError {
  static readonly code = 'ERR_HS_UNKNOWN_REPLY_ID'
  constructor (id: string, options: LogosErrorOptions = {}) {
    super(HiddenReplyIdError.code, `no hidden-service request ${id} is waiting for a reply`, { ...options, data: { id } })
  }
}

/** A request to a hosted hidden service got no hiddenReply in time (the client is told "handler failed"). */
export class HiddenNoReplyError extends LogosError {
  static readonly code = 'ERR_HS_NO_REPLY'
  constructor (reason: string, options: LogosErrorOptions = {}) {
    super(HiddenNoReplyError.code, `hidden-service request not answered: ${reason}`, options)
  }
}

/** A stored hidden-service key file is not 32 bytes. */
export class HiddenKeyFileError extends LogosError {
  static readonly code = 'ERR_HS_KEY_FILE'
  constructor (path: string, options: LogosErrorOptions = {}) {
    super(HiddenKeyFileError.code, `${path} is not a 32-byte key`, { ...options, data: { path } })
  }
}

registerErrors(HiddenReplyIdError, HiddenNoReplyError, HiddenKeyFileError)
