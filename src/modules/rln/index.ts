import {
  InvalidArgumentError, defineModule
} from '../../sdk/index.ts'
import type { ModuleContext } from '../../sdk/index.ts'
import {
  DEFAULT_USER_MESSAGE_LIMIT, PROVER_KINDS, RESOURCES_ENV, Rln, VERIFIER_KINDS, createIdentity, evidenceFromJson,
  evidenceToJson, fieldFromHex, fieldToHex, parseProof, resolveResources, serializeProof, verifyEvidence
} from '../../crypto/rln/index.ts'
import type { Member, MemberChange, ProverKind, SlashedEvent, SlashingEvidenceJson, VerifierKind } from '../../crypto/rln/index.ts'

/**
 * The `rln` module: this node's RLN identity and membership, proofs and checks in worker threads, and slashing.
 *
 * Config (ctx.config): `resources` (folder with rln.wasm and rln_final.zkey; else $LOGOS_RLN_RESOURCES, else the
 * cache, else a download checked against the pinned sha256), `download` (default true), `cacheDir`, `workers`,
 * `lightWorkers`, `prover` ('zerokit' (default) | 'split' | 'snarkjs'), `verifier` ('zerokit' (default) |
 * 'snarkjs'), `precompute` (precomputed proofs kept ready by the split prover, default 1), `epochPeriodSeconds`,
 * `maxEpochGap`, `rootWindow`, `rlnIdentifier`, `userMessageLimit`. Without resources the module fails to start with
 * ERR_RLN_RESOURCES_UNAVAILABLE, whose message says what to do; the rest of the node keeps running. The start does
 * not wait for zerokit to parse its proving key (seconds, in the proving thread): the first proof does.
 *
 * Values cross the kernel as: field elements in 32-byte little-endian hex (the wire form), signals and proofs as
 * bytes (a proof is zerokit's 288-byte form), epochs as decimal strings.
 */

interface ProveParams { signal: Uint8Array, messageId?: number, epoch?: string }
interface VerifyParams { signal: Uint8Array, proof: Uint8Array, epoch?: string, record?: boolean }
interface RegisterParams { commitment: string, userMessageLimit?: number }

function memberJson (m: Member): Record<string, unknown> {
  return { index: m.index, commitment: fieldToHex(m.commitment), userMessageLimit: m.userMessageLimit, removed: m.removed }
}

function bytesParam (value: unknown, name: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new InvalidArgumentError(`"${name}" must be bytes`)
  return value
}

function optionalNumber (config: Readonly<Record<string, unknown>>, key: string): number | undefined {
  const v = config[key]
  if (v === undefined) return undefined
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new InvalidArgumentError(`rln config "${key}" must be a number`)
  return v
}

function optionalString (config: Readonly<Record<string, unknown>>, key: string): string | undefined {
  const v = config[key]
  if (v === undefined) return undefined
  if (typeof v !== 'string') throw new InvalidArgumentError(`rln config "${key}" must be a string`)
  return v
}

async function startRln (ctx: ModuleContext): Promise<Rln> {
  const c = ctx.config
  const resources = await resolveResources({
    path: optionalString(c, 'resources') ?? process.env[RESOURCES_ENV],
    cacheDir: optionalString(c, 'cacheDir'),
    download: c.download !== false,
    signal: ctx.signal
  })
  ctx.log.info('RLN resources', { source: resources.source, dir: resources.dir })
  const prover = optionalString(c, 'prover') as ProverKind | undefined
  const verifier = optionalString(c, 'verifier') as VerifierKind | undefined
  if (prover !== undefined && !PROVER_KINDS.includes(prover)) throw new InvalidArgumentError(`rln config "prover" must be one of ${PROVER_KINDS.join(', ')}`)
  if (verifier !== undefined && !VERIFIER_KINDS.includes(verifier)) throw new InvalidArgumentError(`rln config "verifier" must be one of ${VERIFIER_KINDS.join(', ')}`)
  return await Rln.create({
    resources,
    dataDir: ctx.dataDir,
    prover,
    verifier,
    workers: optionalNumber(c, 'workers'),
    lightWorkers: optionalNumber(c, 'lightWorkers'),
    precompute: optionalNumber(c, 'precompute'),
    rootWindow: optionalNumber(c, 'rootWindow'),
    rlnIdentifier: optionalString(c, 'rlnIdentifier'),
    epoch: { periodSeconds: optionalNumber(c, 'epochPeriodSeconds'), maxGap: optionalNumber(c, 'maxEpochGap') },
    signal: ctx.signal
  })
}

export const rln = defineModule({
  name: 'rln',
  version: '0.1.0',
  events: {
    slashed: { description: '{ index?, commitment, secret, messageId, evidence }: a member signalled twice and was removed' },
    'member:added': { description: '{ index, commitment, userMessageLimit, root }' },
    'member:removed': { description: '{ index, commitment, reason, root }' }
  },
  async start (ctx) {
    const instance = await startRln(ctx)
    const defaultLimit = optionalNumber(ctx.config, 'userMessageLimit')
    const onSlashed = (e: Event): void => {
      const { member, evidence } = (e as CustomEvent<SlashedEvent>).detail
      ctx.log.warn('double signalling: member slashed', { index: member?.index, commitment: fieldToHex(evidence.commitment) })
      ctx.emit('slashed', { index: member?.index, commitment: fieldToHex(evidence.commitment), secret: fieldToHex(evidence.secret), messageId: evidence.messageId, evidence: evidenceToJson(evidence) })
    }
    const onAdded = (e: Event): void => {
      const { member, root } = (e as CustomEvent<MemberChange>).detail
      ctx.emit('member:added', { ...memberJson(member), root: fieldToHex(root) })
    }
    const onRemoved = (e: Event): void => {
      const { member, root, reason } = (e as CustomEvent<MemberChange>).detail
      ctx.emit('member:removed', { ...memberJson(member), reason, root: fieldToHex(root) })
    }
    instance.addEventListener('slashed', onSlashed)
    instance.group.addEventListener('member:added', onAdded)
    instance.group.addEventListener('member:removed', onRemoved)

    return {
      methods: {
        identity: {
          description: 'This node\'s identity commitment and membership',
          handler: () => ({ commitment: fieldToHex(instance.identity.commitment), member: instance.membership === undefined ? null : memberJson(instance.membership) })
        },
        createIdentity: {
          description: 'A fresh identity (secret and commitment) for another holder; this node keeps its own',
          handler: () => {
            const id = createIdentity()
            return { secret: fieldToHex(id.secret), commitment: fieldToHex(id.commitment) }
          }
        },
        join: {
          description: 'Registers this node\'s identity in the group (once)',
          handler: (p: { userMessageLimit?: number } = {}) => memberJson(instance.join(p?.userMessageLimit ?? defaultLimit))
        },
        register: {
          description: 'Adds another member by its commitment (membership learned elsewhere)',
          handler: (p: RegisterParams) => memberJson(instance.group.register(fieldFromHex(p.commitment, 'commitment'), p.userMessageLimit ?? defaultLimit))
        },
        remove: {
          description: 'Removes the member { commitment, reason? } (membership learned elsewhere); the member, or null when unknown',
          handler: (p: { commitment: string, reason?: string }) => {
            const m = instance.group.memberByCommitment(fieldFromHex(p?.commitment, 'commitment'))
            if (m === undefined) return null
            if (!m.removed) instance.group.remove(m.index, typeof p.reason === 'string' ? p.reason : 'removed')
            return memberJson(instance.group.memberByIndex(m.index) ?? m)
          }
        },
        slash: {
          description: 'Applies slashing evidence { evidence } learned from a peer: checks it (no zkSNARK needed), removes the member, emits slashed; { slashed, index? }',
          handler: (p: { evidence: SlashingEvidenceJson }) => {
            let limit = defaultLimit ?? DEFAULT_USER_MESSAGE_LIMIT
            for (const m of instance.group.members()) limit = Math.max(limit, m.userMessageLimit)
            let evidence
            try {
              evidence = evidenceFromJson(p?.evidence)
            } catch (err) {
              throw new InvalidArgumentError('"evidence" is not slashing evidence', { cause: err })
            }
            verifyEvidence(evidence, evidence.commitment, limit)
            const before = instance.group.memberByCommitment(evidence.commitment)
            const member = instance.slash(evidence)
            return { slashed: before !== undefined && !before.removed, index: member?.index }
          }
        },
        params: {
          description: 'What peers must share to check each other\'s proofs: { rlnIdentifier (hex field), epochPeriodSeconds, maxEpochGap, rootWindow, userMessageLimit }',
          handler: () => ({
            rlnIdentifier: fieldToHex(instance.rlnIdentifier),
            epochPeriodSeconds: instance.clock.periodSeconds,
            maxEpochGap: instance.clock.maxGap,
            rootWindow: instance.group.rootWindow,
            userMessageLimit: defaultLimit ?? DEFAULT_USER_MESSAGE_LIMIT
          })
        },
        members: { description: 'Every member, removed ones included', handler: () => instance.group.members().map(memberJson) },
        roots: { description: 'The roots a proof may use, the current one last', handler: () => instance.group.roots.map(fieldToHex) },
        prove: {
          description: 'Proves a signal for this node (uses one message_id of the epoch); { proof (288 bytes), epoch }',
          handler: async (p: ProveParams, call) => {
            const signal = bytesParam(p?.signal, 'signal')
            const made = await instance.prove(signal, { messageId: p.messageId, epoch: p.epoch === undefined ? undefined : BigInt(p.epoch), signal: call.signal })
            return { proof: serializeProof(made.proof), epoch: made.epoch.toString() }
          }
        },
        verify: {
          description: 'Checks a proof of a signal; with record (default true) also the nullifier log, slashing double signals',
          handler: async (p: VerifyParams, call) => {
            const signal = bytesParam(p?.signal, 'signal')
            const proof = parseProof(bytesParam(p.proof, 'proof'))
            const options = { epoch: p.epoch === undefined ? undefined : BigInt(p.epoch), signal: call.signal }
            const verified = p.record === false ? await instance.check(signal, proof, options) : await instance.verify(signal, proof, options)
            return { valid: true, epoch: verified.epoch.toString(), nullifier: fieldToHex(proof.nullifier) }
          }
        }
      },
      stop: async () => {
        instance.removeEventListener('slashed', onSlashed)
        instance.group.removeEventListener('member:added', onAdded)
        instance.group.removeEventListener('member:removed', onRemoved)
        await instance.stop()
      }
    }
  }
})
