// Type declarations for the two untyped packages the RLN engine uses, limited to the calls it makes.

declare module 'circom_runtime' {
  export interface WitnessCalculator {
    calculateWitness: (input: Record<string, unknown>, sanityCheck: boolean) => Promise<bigint[]>
    calculateWTNSBin: (input: Record<string, unknown>, sanityCheck: boolean) => Promise<Uint8Array>
  }
  export function WitnessCalculatorBuilder (code: Uint8Array, options?: Record<string, unknown>): Promise<WitnessCalculator>
}

declare module 'snarkjs' {
  export interface MemFile { type: 'mem', data: Uint8Array }
  export interface Groth16Proof {
    pi_a: string[]
    pi_b: string[][]
    pi_c: string[]
    protocol: string
    curve: string
  }
  export interface VerificationKey { protocol: string, curve: string, nPublic: number, [key: string]: unknown }
  export const groth16: {
    prove: (zkey: MemFile, witness: MemFile, logger?: unknown, options?: { singleThread?: boolean }) => Promise<{ proof: Groth16Proof, publicSignals: string[] }>
    verify: (vk: VerificationKey, publicSignals: string[], proof: Groth16Proof, logger?: unknown) => Promise<boolean>
  }
  export const zKey: {
    exportVerificationKey: (zkey: MemFile, logger?: unknown) => Promise<VerificationKey>
  }
}

declare module 'ffjavascript' {
  export function buildBn128 (singleThread?: boolean): Promise<unknown>
}
