import { LogosError, registerErrors } from '../../common/index.ts'
import type { LogosErrorOptions } from '../../common/index.ts'

/** The mix service is not started (or was stopped). */
export class MixNotStartedError extends LogosError {
  static readonly code = 'ERR_MIX_NOT_STARTED'
  constructor (options: LogosErrorOptions = {}) {
    super(MixNotStartedError.code, 'the mix service is not running', options)
  }
}

/** Too few mix nodes are known to build a path of the configured length. */
export class MixNotEnoughNodesError extends LogosError {
  static readonly code = 'ERR_MIX_NOT_ENOUGH_NODES'
  constructor (needed: number, available: number, options: LogosErrorOptions = {}) {
    super(MixNotEnoughNodesError.code, `need ${needed} mix nodes for a path, know ${available}`, { retryable: true, ...options, data: { needed, available } })
  }
}

/** The destination has no address a hop address can carry (IPv4 with TCP or QUIC), or is unknown. */
export class MixUnroutableDestinationError extends LogosError {
  static readonly code = 'ERR_MIX_UNROUTABLE_DESTINATION'
  constructor (reason: string, options: LogosErrorOptions = {}) {
    super(MixUnroutableDestinationError.code, `cannot route to the destination: ${reason}`, options)
  }
}

/** A message is larger than the service sends (maxMessageBytes) or a reply larger than its SURBs carry. */
export class MixMessageTooLargeError extends LogosError {
  static readonly code = 'ERR_MIX_MESSAGE_TOO_LARGE'
  constructor (size: number, limit: number, options: LogosErrorOptions = {}) {
    super(MixMessageTooLargeError.code, `message of ${size} bytes exceeds ${limit}`, { ...options, data: { size, limit } })
  }
}

/** A bounded queue or table is full; the packet, message or request was refused. */
export class MixQueueFullError extends LogosError {
  static readonly code = 'ERR_MIX_QUEUE_FULL'
  constructor (queue: string, limit: number, options: LogosErrorOptions = {}) {
    super(MixQueueFullError.code, `${queue} is full (${limit})`, { retryable: true, ...options, data: { queue, limit } })
  }
}

/** No slot of this epoch's budget is left for an incoming packet (mix-cover-traffic.md 6.4: it is dropped unprocessed). */
export class MixSlotsExhaustedError extends LogosError {
  static readonly code = 'ERR_MIX_SLOTS_EXHAUSTED'
  constructor (options: LogosErrorOptions = {}) {
    super(MixSlotsExhaustedError.code, 'no slot left in this epoch', { retryable: true, ...options })
  }
}

/** No reply came back within the request's timeout. */
export class MixReplyTimeoutError extends LogosError {
  static readonly code = 'ERR_MIX_REPLY_TIMEOUT'
  constructor (timeoutMs: number, options: LogosErrorOptions = {}) {
    super(MixReplyTimeoutError.code, `no reply within ${timeoutMs} ms`, { retryable: true, ...options, data: { timeoutMs } })
  }
}

/** The exit answered that it could not deliver the request, or the destination could not answer it. */
export class MixDeliveryFailedError extends LogosError {
  static readonly code = 'ERR_MIX_DELIVERY_FAILED'
  constructor (status: string, options: LogosErrorOptions = {}) {
    super(MixDeliveryFailedError.code, `the exit reports: ${status}`, { retryable: status === 'unreachable' || status === 'timeout', ...options, data: { status } })
  }
}

/** A reply arrived for a SURB this node does not hold (expired, already used, or never made here). */
export class MixUnknownSurbError extends LogosError {
  static readonly code = 'ERR_MIX_UNKNOWN_SURB'
  constructor (options: LogosErrorOptions = {}) {
    super(MixUnknownSurbError.code, 'reply for an unknown or expired SURB', options)
  }
}

/** A fragment contradicts the others of its message (count, size or limits). */
export class MixFragmentError extends LogosError {
  static readonly code = 'ERR_MIX_BAD_FRAGMENT'
  constructor (reason: string, options: LogosErrorOptions = {}) {
    super(MixFragmentError.code, `bad fragment: ${reason}`, options)
  }
}

/** The spam-protection proof attached to a packet was refused (its plugin's own error is the cause). */
export class MixSpamProofError extends LogosError {
  static readonly code = 'ERR_MIX_SPAM_PROOF'
  constructor (options: LogosErrorOptions = {}) {
    super(MixSpamProofError.code, 'spam-protection proof refused', options)
  }
}

/** A handler for this protocol is already registered. */
export class MixDuplicateHandlerError extends LogosError {
  static readonly code = 'ERR_MIX_DUPLICATE_HANDLER'
  constructor (protocol: string, options: LogosErrorOptions = {}) {
    super(MixDuplicateHandlerError.code, `a handler for ${protocol} is already registered`, { ...options, data: { protocol } })
  }
}

/** A frame on a /mix/1.0.0 stream is not a packet of the deployment's size. */
export class MixFrameError extends LogosError {
  static readonly code = 'ERR_MIX_BAD_FRAME'
  constructor (reason: string, options: LogosErrorOptions = {}) {
    super(MixFrameError.code, `bad frame: ${reason}`, options)
  }
}

/** The next hop or the destination could not be reached. */
export class MixDialError extends LogosError {
  static readonly code = 'ERR_MIX_DIAL_FAILED'
  constructor (peer: string, options: LogosErrorOptions = {}) {
    super(MixDialError.code, `could not reach ${peer}`, { retryable: true, ...options, data: { peer } })
  }
}

/** A replay table is at its capacity: the packet cannot be recorded, so it is refused (a tag is never evicted). */
export class MixReplayTableFullError extends LogosError {
  static readonly code = 'ERR_MIX_REPLAY_TABLE_FULL'
  constructor (capacity: number, options: LogosErrorOptions = {}) {
    super(MixReplayTableFullError.code, `the replay table of this mix key is full (${capacity} tags)`, { retryable: true, ...options, data: { capacity } })
  }
}

/** A peer sent more packets than its inbound bucket allows; they are dropped before any work. */
export class MixPeerRateLimitedError extends LogosError {
  static readonly code = 'ERR_MIX_PEER_RATE_LIMITED'
  constructor (peer: string, options: LogosErrorOptions = {}) {
    super(MixPeerRateLimitedError.code, `${peer} sends packets faster than its inbound rate allows`, { retryable: true, ...options, data: { peer } })
  }
}

/** A packet names a next hop, destination or SURB first hop on a loopback, private or reserved address. */
export class MixPrivateDestinationError extends LogosError {
  static readonly code = 'ERR_MIX_PRIVATE_DESTINATION'
  constructor (ip: string, options: LogosErrorOptions = {}) {
    super(MixPrivateDestinationError.code, `refusing to dial the non-public address ${ip} (allowPrivateDestinations is off)`, { ...options, data: { ip } })
  }
}

registerErrors(
  MixNotStartedError, MixNotEnoughNodesError, MixUnroutableDestinationError, MixMessageTooLargeError, MixQueueFullError,
  MixSlotsExhaustedError, MixReplyTimeoutError, MixDeliveryFailedError, MixUnknownSurbError, MixFragmentError,
  MixSpamProofError, MixDuplicateHandlerError, MixFrameError, MixDialError, MixReplayTableFullError, MixPeerRateLimitedError,
  MixPrivateDestinationError
)
