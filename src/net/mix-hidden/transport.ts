import type { AbortOptions } from '../../common/index.ts'
import type { MixExitSendOptions, MixInternalHandler, MixNodeInfo, MixSurbOptions } from '../mix/index.ts'

/**
 * What the hidden-service layer needs of the mix service (src/net/mix implements it): the known mix nodes, the
 * reserved codec at the exit, one-packet sends to a chosen exit, SURBs with listeners, and replies through SURBs.
 * Tests hand in a wrapped mix service to watch what a node receives.
 */
export interface HiddenMixTransport {
  knownNodes: () => MixNodeInfo[]
  handleInternal: (codec: string, handler: MixInternalHandler) => void
  unhandleInternal: (codec: string) => void
  sendToExit: (exit: MixNodeInfo, codec: string, data: Uint8Array | ((exitSecret: Uint8Array) => Uint8Array), options?: MixExitSendOptions) => Promise<void>
  createSurbs: (count: number, options: MixSurbOptions) => Uint8Array[]
  dropSurbs: (group: string) => void
  sendViaSurb: (surb: Uint8Array, message: Uint8Array, options?: AbortOptions) => Promise<void>
}
