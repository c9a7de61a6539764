import { LogosError, registerErrors } from '../../common/index.ts'
import type { LogosErrorOptions } from '../../common/index.ts'

/** A method of the chat module got parameters it cannot use. */
export class ChatParamsError extends LogosError {
  static readonly code = 'ERR_CHAT_PARAMS'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(ChatParamsError.code, message, options)
  }
}

/** No conversation with that id. */
export class ChatUnknownConversationError extends LogosError {
  static readonly code = 'ERR_CHAT_UNKNOWN_CONVERSATION'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(ChatUnknownConversationError.code, message, options)
  }
}

/** No key package (intro) of that address could be found: the peer has not run init, or no store node has it. */
export class ChatPeerUnknownError extends LogosError {
  static readonly code = 'ERR_CHAT_PEER_UNKNOWN'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(ChatPeerUnknownError.code, message, { retryable: true, ...options })
  }
}

/** The operation does not fit the conversation (a member added to a 1:1, a message to a group not joined yet, ...). */
export class ChatConversationStateError extends LogosError {
  static readonly code = 'ERR_CHAT_CONVERSATION_STATE'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(ChatConversationStateError.code, message, options)
  }
}

/** The chat database failed. */
export class ChatStoreError extends LogosError {
  static readonly code = 'ERR_CHAT_STORE'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(ChatStoreError.code, message, options)
  }
}

registerErrors(ChatParamsError, ChatUnknownConversationError, ChatPeerUnknownError, ChatConversationStateError, ChatStoreError)
