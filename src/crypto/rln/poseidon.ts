import { poseidon1, poseidon2, poseidon3 } from 'poseidon-lite'

/**
 * Poseidon over BN254 with the circomlib parameters (RF = 8; RP = 56, 57, 56 for 1, 2, 3 inputs), the hash zerokit
 * and the circuit use (zerokit rln/src/hashers.rs ROUND_PARAMS). poseidon-lite implements the same permutation; a
 * test checks it against zerokit's wasm poseidonHash.
 */
export function poseidon (inputs: readonly bigint[]): bigint {
  switch (inputs.length) {
    case 1: return poseidon1(inputs as bigint[])
    case 2: return poseidon2(inputs as bigint[])
    case 3: return poseidon3(inputs as bigint[])
    default: throw new RangeError(`poseidon over ${inputs.length} inputs is not used by RLN`)
  }
}
