import { LogosError, registerErrors } from '../../common/index.ts'
import type { LogosErrorOptions } from '../../common/index.ts'

/** A RateLimitProof or MessagingMetadata message is malformed (protobuf framing, field sizes, bounds). */
export class MixRlnWireError extends LogosError {
  static readonly code = 'ERR_RLN_MIX_WIRE'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(MixRlnWireError.code, message, options)
  }
}

registerErrors(MixRlnWireError)
