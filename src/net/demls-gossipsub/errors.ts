import { LogosError, registerErrors } from '../../common/index.ts'
import type { LogosErrorOptions } from '../../common/index.ts'

/** The De-MLS binding found no pub/sub service (gossipsub) among the node's services. */
export class DemlsNoPubsubError extends LogosError {
  static readonly code = 'ERR_MLS_NO_PUBSUB'
  constructor (message = 'no pub/sub service: mount @libp2p/gossipsub as services.pubsub', options: LogosErrorOptions = {}) {
    super(DemlsNoPubsubError.code, message, options)
  }
}

/** The binding was used before start() or after stop(). */
export class DemlsNotStartedError extends LogosError {
  static readonly code = 'ERR_MLS_NOT_STARTED'
  constructor (message = 'the De-MLS service is not started', options: LogosErrorOptions = {}) {
    super(DemlsNotStartedError.code, message, options)
  }
}

registerErrors(DemlsNoPubsubError, DemlsNotStartedError)
