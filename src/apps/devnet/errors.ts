import { LogosError, registerErrors } from '../../common/index.ts'
import type { LogosErrorOptions } from '../../common/index.ts'

/** A devnet node failed to start, or the devnet did not connect up in time. */
export class DevnetStartError extends LogosError {
  static readonly code = 'ERR_DEVNET_START'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(DevnetStartError.code, message, options)
  }
}

registerErrors(DevnetStartError)
