import { createCommit, defaultCryptoProvider } from 'ts-mls'
import {
  DemlsClient, DemlsGroup, ManualClock, MemoryStore, commitProposals, createKeyPackage, createMlsGroup, createVote,
  decodeAppMessage, decodeEnvelope, decryptApplication, defaultGroupConfig, encodeAppMessage, encodeEnvelope,
  encryptApplication, generateIdentity, joinMlsGroup, decodeWelcome, loadCipherSuite, openCandidate, candidateKey,
  membersOf, processCommit, bytesEqual, governanceDigest, governanceExtension, proposalDigest, nativeCryptoProvider
} from '../src/crypto/demls/index.ts'
import type { CiphersuiteImpl, ClientState, CryptoProvider, Envelope, Governance, Identity, OwnKeyPackage } from '../src/crypto/demls/index.ts'
import { summarize } from '../src/common/index.ts'
import { round } from './measure.ts'

/**
 * De-MLS CPU cost at group size N, with real MLS (ts-mls) and real signatures. The group is N real MLS leaves; three
 * members run the real code: the steward S (a DemlsGroup), a member R (a DemlsGroup) that judges and applies each
 * commit, and V, a bare MLS state that follows the epochs. The other N - 3 members are simulated: each vote is what
 * that member would send, an MLS application message from its own leaf signed with its own key (built from V's copy
 * of the epoch's secret tree, which every member can derive), carrying a vote signed with its key; they do no other
 * work (their CPU runs on their own machines). No timer is waited for: the steward commits as soon as the vote is
 * decided.
 *
 *   npm run bench -- demls [--members 128] [--goal 1000] [--iterations 6] [--provider native|default]
 *
 * Figures (ms, p50 over the iterations):
 *   vote_ms          the steward decrypting and verifying every vote message and reaching the decision
 *   commit_build_ms  the steward building the commit candidate (batch plan, MLS commit, signature, envelope)
 *   commit_ms        vote_ms + commit_build_ms: an add or remove commit including the vote, excluding waiting
 *   process_ms       a member judging the candidate (every vote signature in its certificates) and applying it
 *   encrypt_ms, decrypt_ms   one application message
 *   join_ms          a joiner processing its Welcome
 *   tsmls_empty_commit_ms    a bare ts-mls empty commit (update path) of the same group, same run
 *   commit_vs_tsmls  p50 of commit_ms / tsmls_empty_commit_ms, each pair measured back to back
 */
interface Sim { identity: Identity }

function arg (args: string[], name: string, def: string): string {
  const i = args.indexOf(`--${name}`)
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] as string : def
}

function provider (name: string): CryptoProvider {
  if (name === 'default') return defaultCryptoProvider
  if (name === 'native') return nativeCryptoProvider
  throw new Error(`unknown provider ${name} (default, native)`)
}

const p50 = (xs: number[]): number => summarize(xs).p50

async function time<T> (fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now()
  const r = await fn()
  return [r, performance.now() - t0]
}

async function measure (n: number, iterations: number, cs: CiphersuiteImpl): Promise<Record<string, number>> {
  const clock = new ManualClock()
  const gid = new TextEncoder().encode(`bench-${n}`)
  const sIdentity = generateIdentity()
  const rIdentity = generateIdentity()
  const vIdentity = generateIdentity()
  const sims: Sim[] = Array.from({ length: n - 3 }, () => ({ identity: generateIdentity() }))
  const t0 = performance.now()
  const kpR = await createKeyPackage(rIdentity, cs)
  const kpV = await createKeyPackage(vIdentity, cs)
  const simKps: OwnKeyPackage[] = []
  for (const s of sims) simKps.push(await createKeyPackage(s.identity, cs))
  // The group as a creator who invited everyone at once would have it, with every member on the steward list (it
  // is the creator's to choose) so the steward list covers the whole run.
  const config = defaultGroupConfig({ snMin: 1, snMax: 255, commitBatchMax: 1000, timers: { consensusTimeoutMs: 3_600_000, proposalExpirationMs: 7_200_000 } })
  const ids = [sIdentity, rIdentity, vIdentity, ...sims.map(s => s.identity)].map(i => i.memberId).slice(0, 255)
  const gov: Governance = { config, stewards: { stewards: ids, startEpoch: 0, electionEpoch: 0, retryRound: 0 } }
  const ownS = await createKeyPackage(sIdentity, cs)
  const state0 = await createMlsGroup(gid, ownS, gov, cs)
  const adds = [kpR, kpV, ...simKps].map(k => ({ proposalType: 'add' as const, add: { keyPackage: k.publicPackage } }))
  const [first, batchMs] = await time(async () => await commitProposals(state0, adds, cs, governanceDigest(gov), [governanceExtension(gov)]))
  const welcome = decodeWelcome(first.welcome as Uint8Array)
  const r = await joinMlsGroup(welcome, kpR, cs)
  const [v, firstJoinMs] = await time(async () => await joinMlsGroup(welcome, kpV, cs))
  console.log(`n=${n}: setup ${round(performance.now() - t0)} ms (batch add of ${n - 1}: ${round(batchMs)} ms, a join: ${round(firstJoinMs)} ms)`)

  const outS: Envelope[] = []
  const outR: Envelope[] = []
  const collect = (out: Envelope[]) => (_topic: 'app' | 'welcome', data: Uint8Array): void => { out.push(decodeEnvelope(data)) }
  const S = DemlsGroup.fromState(first.state, { identity: sIdentity, cipherSuite: cs, clock, publish: collect(outS) }, gov)
  const R = DemlsGroup.fromState(r.state, { identity: rIdentity, cipherSuite: cs, clock, publish: collect(outR) }, gov)
  let vState: ClientState = v.state
  const wire = (e: Envelope): Uint8Array => encodeEnvelope(e)
  const take = (out: Envelope[], type: Envelope['type']): Envelope[] => {
    const got = out.filter(e => e.type === type)
    out.length = 0
    return got
  }

  const fig: Record<string, number[]> = { vote: [], build: [], commit: [], process: [], encrypt: [], decrypt: [], tsmlsEmpty: [], tsmlsAdd: [], tsmlsRemove: [], ratio: [] }
  const removable = [...sims]
  for (let it = 0; it < iterations; it++) {
    const add = it % 2 === 0
    // The proposal: S proposes (adding a new member, or removing a simulated one).
    let newKp: OwnKeyPackage | undefined
    if (add) {
      newKp = await createKeyPackage(generateIdentity(), cs)
      await S.invite(newKp.encoded)
    } else {
      const victim = removable.shift() as Sim
      await S.remove(victim.identity.memberId)
    }
    await S.idle()
    const proposalEnv = take(outS, 'mls').at(-1) as Extract<Envelope, { type: 'mls' }>
    // R receives it and votes; V reads it to build the other members' votes.
    await R.handle(proposalEnv, wire(proposalEnv))
    const rVote = take(outR, 'mls')
    const dec = await decryptApplication(vState, proposalEnv.message, cs)
    vState = dec.state
    const app = decodeAppMessage(dec.data)
    if (app.type !== 'proposal') throw new Error('expected the proposal')
    const { header } = app
    const owner = app.votes[0]
    const digest = proposalDigest(header)
    const voteEnvs: Envelope[] = [...rVote]
    const voters = [vIdentity, ...sims.map(s => s.identity)]
    let forge: ClientState = vState
    const leaves = new Map(membersOf(vState).map(m => [Buffer.from(m.memberId).toString('hex'), m.leafIndex]))
    for (const id of voters) {
      const leaf = leaves.get(Buffer.from(id.memberId).toString('hex'))
      if (leaf === undefined) continue
      const vote = createVote(id.secretKey, id.publicKey, header, digest, { vote: true, timestamp: clock.now(), receivedHash: owner?.voteHash })
      // The member's own message: its leaf, its signature key, the epoch's shared secret tree.
      const as: ClientState = { ...forge, privatePath: { ...forge.privatePath, leafIndex: leaf }, signaturePrivateKey: id.secretKey }
      const e = await encryptApplication(as, encodeAppMessage({ type: 'vote', proposalDigest: digest, vote }), cs)
      forge = { ...forge, secretTree: e.state.secretTree }
      voteEnvs.push({ type: 'mls', groupId: gid, epoch: S.epoch, message: e.message })
    }
    // The steward processes every vote; then commits.
    const [, voteMs] = await time(async () => { for (const e of voteEnvs) await S.handle(e, wire(e)) })
    if (!S.proposals().some(p => p.decision === true)) throw new Error('the vote did not pass')
    const [ok, buildMs] = await time(async () => await S.commitNow())
    if (!ok) throw new Error('the steward could not commit')
    const candidate = take(outS, 'candidate')[0] as Extract<Envelope, { type: 'candidate' }>
    fig.vote?.push(voteMs)
    fig.build?.push(buildMs)
    fig.commit?.push(voteMs + buildMs)
    // R judges and applies it; V follows with bare MLS.
    const [, processMs] = await time(async () => {
      await R.handle(candidate, wire(candidate))
      await R.finishFreeze()
    })
    fig.process?.push(processMs)
    await S.finishFreeze()
    const members = membersOf(vState)
    const body = openCandidate(await candidateKey(vState, cs), candidate, id => members.find(m => bytesEqual(m.memberId, id))?.publicKey)
    vState = (await processCommit(vState, body.commit, cs)).state
    if (S.epoch !== R.epoch || !bytesEqual(S.epochAuthenticator, R.epochAuthenticator)) throw new Error('steward and member diverged')
    take(outS, 'mls')
    take(outR, 'mls')
    // Application messages.
    for (let k = 0; k < 5; k++) {
      const [, encMs] = await time(async () => { await S.send(new Uint8Array(200)) })
      const env = take(outS, 'mls')[0] as Envelope
      const [, decMs] = await time(async () => { await R.handle(env, wire(env)) })
      fig.encrypt?.push(encMs)
      fig.decrypt?.push(decMs)
    }
    // The bare ts-mls baselines on the same state (results discarded), right after the commit they are compared with:
    // the machine's load drifts, so the ratio is taken per iteration.
    fig.tsmlsEmpty?.push((await time(async () => await createCommit({ state: S.mlsState, cipherSuite: cs }, { wireAsPublicMessage: true })))[1])
    fig.ratio?.push((voteMs + buildMs) / (fig.tsmlsEmpty?.at(-1) as number))
    const extra = await createKeyPackage(generateIdentity(), cs)
    fig.tsmlsAdd?.push((await time(async () => await createCommit({ state: S.mlsState, cipherSuite: cs }, { wireAsPublicMessage: true, ratchetTreeExtension: true, extraProposals: [{ proposalType: 'add', add: { keyPackage: extra.publicPackage } }] })))[1])
    const leaf = membersOf(S.mlsState).at(-1)?.leafIndex as number
    fig.tsmlsRemove?.push((await time(async () => await createCommit({ state: S.mlsState, cipherSuite: cs }, { wireAsPublicMessage: true, extraProposals: [{ proposalType: 'remove', remove: { removed: leaf } }] })))[1])
    console.log(`n=${n} #${it} ${add ? 'add   ' : 'remove'}: votes ${round(voteMs)} ms, build ${round(buildMs)} ms, process ${round(processMs)} ms, bare empty commit ${round(fig.tsmlsEmpty?.at(-1) as number)} ms`)
  }

  // A real joiner: invited, committed, then it processes its Welcome.
  const joiner = await DemlsClient.open({ clock, cipherSuite: cs, store: new MemoryStore() })
  const joinerOut: Envelope[] = []
  joiner.on('outbound', ({ data }) => { joinerOut.push(decodeEnvelope(data)) })
  const joined = joiner.join(gid)
  for (let i = 0; i < 1000 && !joinerOut.some(e => e.type === 'key-package'); i++) await new Promise(resolve => setTimeout(resolve, 1))
  const kpEnv = joinerOut.find(e => e.type === 'key-package') as Extract<Envelope, { type: 'key-package' }>
  await S.invite(kpEnv.keyPackage)
  await S.idle()
  const prop = take(outS, 'mls').at(-1) as Extract<Envelope, { type: 'mls' }>
  const pd = await decryptApplication(vState, prop.message, cs)
  vState = pd.state
  const pa = decodeAppMessage(pd.data)
  if (pa.type !== 'proposal') throw new Error('expected the proposal')
  const pdig = proposalDigest(pa.header)
  for (const id of [vIdentity, ...removable.map(s => s.identity)]) {
    const vote = createVote(id.secretKey, id.publicKey, pa.header, pdig, { vote: true, timestamp: clock.now(), receivedHash: pa.votes[0]?.voteHash })
    const e = await encryptApplication(vState, encodeAppMessage({ type: 'vote', proposalDigest: pdig, vote }), cs)
    vState = e.state
    const env: Envelope = { type: 'mls', groupId: gid, epoch: S.epoch, message: e.message }
    await S.handle(env, wire(env))
  }
  if (!await S.commitNow()) throw new Error('join commit failed')
  await S.finishFreeze()
  const welcomeEnv = take(outS, 'welcome')[0] as Envelope
  const [, joinMs] = await time(async () => { await joiner.handle(`/demls/1/${Buffer.from(gid).toString('hex')}/welcome`, wire(welcomeEnv)) })
  await joined
  if (joiner.group(gid)?.epoch !== S.epoch) throw new Error('the joiner is not in the steward\'s epoch')
  S.stop()
  R.stop()
  joiner.stop()
  return {
    members: n,
    vote_ms_p50: round(p50(fig.vote as number[]), 1),
    commit_build_ms_p50: round(p50(fig.build as number[]), 1),
    commit_ms_p50: round(p50(fig.commit as number[]), 1),
    process_ms_p50: round(p50(fig.process as number[]), 1),
    encrypt_ms_p50: round(p50(fig.encrypt as number[]), 2),
    decrypt_ms_p50: round(p50(fig.decrypt as number[]), 2),
    join_ms: round(joinMs, 1),
    tsmls_empty_commit_ms: round(p50(fig.tsmlsEmpty as number[]), 1),
    tsmls_add_commit_ms: round(p50(fig.tsmlsAdd as number[]), 1),
    tsmls_remove_commit_ms: round(p50(fig.tsmlsRemove as number[]), 1),
    /** p50 over iterations of (commit_ms / bare empty commit measured right after it). */
    commit_vs_tsmls: round(p50(fig.ratio as number[]), 2)
  }
}

export async function run (args: string[]): Promise<Record<string, unknown>> {
  const members = Number(arg(args, 'members', '128'))
  const goal = Number(arg(args, 'goal', '0'))
  const iterations = Number(arg(args, 'iterations', '6'))
  const providerName = arg(args, 'provider', 'native')
  const cs = await loadCipherSuite(undefined, provider(providerName))
  const main = await measure(members, iterations, cs)
  const out: Record<string, unknown> = { provider: providerName, ...main }
  if (goal > 0) {
    const g = await measure(goal, Math.max(2, Math.floor(iterations / 2)), cs)
    for (const [k, v] of Object.entries(g)) out[`goal_${k}`] = v
  }
  return out
}
