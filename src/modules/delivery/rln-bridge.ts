import { fieldFromHex } from '../../crypto/rln/index.ts'
import type { RlnRelayProver, RlnRelayVerifier } from '../../net/delivery/index.ts'
import type { ModuleContext } from '../../sdk/index.ts'
import { RLN_PROVE_TIMEOUT_MS, RLN_VERIFY_TIMEOUT_MS } from './constants.ts'

/** What the rln module says of its parameters (its `params` method). */
export interface RlnParams {
  rlnIdentifier: string
  epochPeriodSeconds: number
  maxEpochGap: number
  rootWindow: number
  userMessageLimit: number
}

export interface RlnMember {
  index: number
  commitment: string
  userMessageLimit: number
  removed: boolean
}

/**
 * RLN relay over the rln module: proofs and checks are kernel calls to `rln` (which runs them in its worker
 * threads), so this module never does zkSNARK work on its own event loop and shares the node's one group, nullifier
 * log and slashing with every other user of RLN.
 */
export function rlnOverModule (ctx: ModuleContext, params: RlnParams): RlnRelayVerifier & RlnRelayProver {
  return {
    epochPeriodSeconds: params.epochPeriodSeconds,
    rlnIdentifier: fieldFromHex(params.rlnIdentifier, 'rlnIdentifier'),
    verify: async (signal, proof, epoch, options = {}) => {
      await ctx.call('rln', 'verify', { signal, proof, epoch: epoch.toString(), record: true }, { signal: options.signal, timeout: RLN_VERIFY_TIMEOUT_MS })
    },
    prove: async (signal, options = {}) => {
      const made = await ctx.call<{ proof: Uint8Array, epoch: string }>('rln', 'prove', { signal, epoch: options.epoch?.toString() }, { signal: options.signal, timeout: RLN_PROVE_TIMEOUT_MS })
      return { proof: made.proof, epoch: BigInt(made.epoch) }
    }
  }
}
