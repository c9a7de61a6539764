import { LogosError, registerErrors } from '../../common/index.ts'
import type { LogosErrorOptions } from '../../common/index.ts'

/** The stream was reset by the remote or aborted here before its remote end closed it. */
export class StreamResetError extends LogosError {
  static readonly code = 'ERR_STREAM_RESET'
  constructor (status: string, options: LogosErrorOptions = {}) {
    super(StreamResetError.code, `the stream was ${status} before it ended`, { retryable: true, ...options, data: { status } })
  }
}

registerErrors(StreamResetError)
