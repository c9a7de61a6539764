import { LogosError, registerErrors } from '../../common/index.ts'
import type { LogosErrorOptions } from '../../common/index.ts'

/** mixReply named a message that is not waiting for an answer (unknown, answered, or its reply window is over). */
export class MixReplyIdError extends LogosError {
  static readonly code = 'ERR_MIX_UNKNOWN_REPLY_ID'
  constructor (id: string, options: LogosErrorOptions = {}) {
    super(MixReplyIdError.code, `no mix message ${id} is waiting for a reply`, { ...options, data: { id } })
  }
}

registerErrors(MixReplyIdError)
