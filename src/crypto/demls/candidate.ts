import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { bytesEqual } from './bytes.ts'
import { DemlsDecodeError } from './errors.ts'
import { signBytes, verifyBytes } from './identity.ts'
import type { Identity } from './identity.ts'
import { candidateAad, candidateSigningBytes, decodeCandidateBody, encodeCandidateBody } from './messages.ts'
import type { CandidateBody, Envelope } from './messages.ts'
import { exportKey } from './mls.ts'
import type { CiphersuiteImpl, ClientState } from './mls.ts'

/**
 * Commit candidates travel encrypted under a key exported from their epoch (RFC 9420 §8.5 exporter, label
 * "demls/candidate", context the group id, AES-128-GCM, random nonce, the envelope header as associated data) and
 * signed by their committer. Unlike an MLS application message, such an envelope does not depend on the sender's
 * ratchet, so any member can re-send it byte for byte to one that missed it, at any later time.
 */
export const CANDIDATE_EXPORT_LABEL = 'demls/candidate'

export async function candidateKey (state: ClientState, cs: CiphersuiteImpl): Promise<Uint8Array> {
  return await exportKey(state, CANDIDATE_EXPORT_LABEL, state.groupContext.groupId, 16, cs)
}

/** Signs and seals a candidate body into its envelope. */
export function sealCandidate (key: Uint8Array, groupId: Uint8Array, identity: Identity, unsigned: Omit<CandidateBody, 'signature'>): { env: Extract<Envelope, { type: 'candidate' }>, body: CandidateBody } {
  const signature = signBytes(identity.secretKey, candidateSigningBytes(groupId, unsigned))
  const body: CandidateBody = { ...unsigned, signature }
  const nonce = new Uint8Array(randomBytes(12))
  const c = createCipheriv('aes-128-gcm', key, nonce)
  c.setAAD(candidateAad(groupId, body.epoch, body.committer))
  const ct = Buffer.concat([c.update(encodeCandidateBody(body)), c.final(), c.getAuthTag()])
  return {
    env: { type: 'candidate', groupId, epoch: body.epoch, committer: body.committer, nonce, ciphertext: new Uint8Array(ct.buffer, ct.byteOffset, ct.byteLength) },
    body
  }
}

/** Opens a candidate envelope; `publicKeyOf` gives the signature key of a member id. Throws when anything is off. */
export function openCandidate (key: Uint8Array, env: Extract<Envelope, { type: 'candidate' }>, publicKeyOf: (memberId: Uint8Array) => Uint8Array | undefined): CandidateBody {
  const ct = env.ciphertext
  if (ct.length < 16) throw new DemlsDecodeError('candidate ciphertext too short')
  let plain: Uint8Array
  try {
    const d = createDecipheriv('aes-128-gcm', key, env.nonce)
    d.setAAD(candidateAad(env.groupId, env.epoch, env.committer))
    d.setAuthTag(ct.subarray(ct.length - 16))
    const pt = Buffer.concat([d.update(ct.subarray(0, ct.length - 16)), d.final()])
    plain = new Uint8Array(pt.buffer, pt.byteOffset, pt.byteLength)
  } catch (err) {
    throw new DemlsDecodeError('candidate does not decrypt under this epoch\'s key', { cause: err })
  }
  const body = decodeCandidateBody(plain)
  if (body.epoch !== env.epoch || !bytesEqual(body.committer, env.committer)) throw new DemlsDecodeError('candidate body does not match its envelope')
  const pk = publicKeyOf(body.committer)
  if (pk === undefined) throw new DemlsDecodeError('candidate committer is not a member')
  const { signature, ...unsigned } = body
  if (!verifyBytes(pk, candidateSigningBytes(env.groupId, unsigned), signature)) throw new DemlsDecodeError('bad candidate signature')
  return body
}
