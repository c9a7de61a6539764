import { readFile } from 'node:fs/promises'
import { writeFileAtomic } from '../../common/index.ts'
import { RlnEncodingError } from './errors.ts'
import { fieldFromHex, fieldToHex, mod, randomField } from './field.ts'
import { poseidon } from './poseidon.ts'

/**
 * An RLN identity (rln-v1.md "User identity", zerokit keygen): the secret a0 = identity_secret_hash, a uniformly
 * random field element, and its public commitment id_commitment = Poseidon(a0). Zerokit's "extended" identity
 * (trapdoor, nullifier) only derives a0 differently; a0 is all the circuit sees.
 */
export interface RlnIdentity {
  /** a0: the secret. Whoever knows it can prove as this member, and slashing reveals it. */
  readonly secret: bigint
  /** Poseidon(a0): what the group knows. */
  readonly commitment: bigint
}

export function createIdentity (): RlnIdentity {
  let secret = 0n
  while (secret === 0n) secret = randomField()
  return identityFromSecret(secret)
}

export function identityFromSecret (secret: bigint): RlnIdentity {
  const s = mod(secret)
  if (s !== secret) throw new RlnEncodingError('the identity secret is not a canonical field element')
  return Object.freeze({ secret: s, commitment: poseidon([s]) })
}

/** The tree leaf of RLN v2 (rln-v2.md "RLN-Diff flow"): rate_commitment = Poseidon(id_commitment, user_message_limit). */
export function rateCommitment (commitment: bigint, userMessageLimit: number): bigint {
  return poseidon([commitment, BigInt(userMessageLimit)])
}

interface IdentityFile {
  version: 1
  /** a0, 32 bytes little-endian, hex */
  secret: string
  /** Poseidon(a0), hex; checked on load */
  commitment: string
}

/**
 * Writes the identity to `path` readable by its owner only (mode 0600), atomically. The secret is stored in clear:
 * protect the data directory (mix-spam-protection-rln.md "Setup": the secret MUST be persisted securely).
 */
export async function saveIdentity (path: string, identity: RlnIdentity): Promise<void> {
  const file: IdentityFile = { version: 1, secret: fieldToHex(identity.secret), commitment: fieldToHex(identity.commitment) }
  await writeFileAtomic(path, JSON.stringify(file, null, 2) + '\n', { mode: 0o600 })
}

/** Reads an identity written by saveIdentity; undefined when there is no file. */
export async function loadIdentity (path: string): Promise<RlnIdentity | undefined> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  let raw: Partial<IdentityFile>
  try {
    raw = JSON.parse(text) as Partial<IdentityFile>
  } catch (err) {
    throw new RlnEncodingError(`${path} is not valid JSON`, { cause: err })
  }
  if (raw.version !== 1 || typeof raw.secret !== 'string' || typeof raw.commitment !== 'string') {
    throw new RlnEncodingError(`${path} is not an RLN identity file`)
  }
  const identity = identityFromSecret(fieldFromHex(raw.secret, 'identity secret'))
  if (fieldToHex(identity.commitment) !== raw.commitment.toLowerCase()) {
    throw new RlnEncodingError(`${path}: the commitment does not match the secret`)
  }
  return identity
}
