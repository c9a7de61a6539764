import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { defaultCryptoProvider } from 'ts-mls'
import {
  loadCipherSuite, bytesEqual, candidateKey, commitProposals, generateStewardList, sealCandidate, toHex, encodeEnvelope, coversEpoch,
  memberIdOf
} from '../../../src/crypto/demls/index.ts'
import type { Certificate, DemlsGroup, GroupConfigInit } from '../../../src/crypto/demls/index.ts'
import { FAST, Hub, converged } from './hub.ts'
import type { Node } from './hub.ts'

const enc = new TextEncoder()
const dirs: string[] = []
afterAll(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }) })

/** How a test makes a member's commits misbehave: given the member's id (once known), what it keeps of a batch. */
type PolicyFor = (self: () => Uint8Array) => (certs: Certificate[]) => Certificate[]

async function buildGroup (hub: Hub, n: number, config: GroupConfigInit = FAST, prefix = 'm', policy?: PolicyFor): Promise<Node[]> {
  const nodes: Node[] = []
  for (let i = 0; i < n; i++) {
    const node: Node = await hub.addNode(`${prefix}${i}`, policy === undefined ? {} : { commitPolicy: policy(() => node.client.memberId) })
    nodes.push(node)
    if (i === 0) await node.client.createGroup('g', config)
  }
  for (const o of nodes.slice(1)) void o.client.join('g')
  await hub.until(() => nodes.every(x => x.has('g')) && converged(nodes, 'g'))
  return nodes
}

/**
 * Steward lists are elected when there is work; grow the group until one governs the current epoch (and, with
 * `notLast`, until that epoch is not the list's last, where the next election is due anyway).
 */
async function untilCovered (hub: Hub, nodes: Node[], notLast = false): Promise<void> {
  const g = nodes[0]?.group('g') as DemlsGroup
  const ok = (): boolean => coversEpoch(g.governance.stewards, g.epoch) &&
    (!notLast || g.epoch - g.governance.stewards.startEpoch < g.stewardList.length - 1)
  for (let i = 0; !ok(); i++) {
    const x = await hub.addNode(`cover${i}`)
    void x.client.join('g')
    await hub.until(() => x.has('g') && converged([...nodes, x], 'g'))
    nodes.push(x)
  }
}

function node (nodes: Node[], memberId: Uint8Array | undefined): Node {
  const n = nodes.find(x => memberId !== undefined && bytesEqual(x.client.memberId, memberId))
  if (n === undefined) throw new Error('no such node')
  return n
}

describe('De-MLS group (in-process network, real MLS)', () => {
  it('grows to ten members by vote, carries application messages, and removes a member by vote', async () => {
    const hub = new Hub(11)
    const nodes = await buildGroup(hub, 10)
    const g0 = nodes[0]?.group('g') as DemlsGroup
    expect(g0.members.length).toBe(10)
    // The steward list is the deterministic one of its election, and lives in the GroupContext of every member.
    const s = g0.governance.stewards
    expect(s.stewards.length).toBeGreaterThan(0)
    expect(s.stewards.length).toBeLessThanOrEqual(5)
    for (const n of nodes) expect(n.group('g').stewardList.map(toHex)).toEqual(s.stewards.map(toHex))

    const got = new Map<string, string[]>()
    for (const n of nodes) n.client.on('message', m => { got.set(n.name, [...(got.get(n.name) ?? []), new TextDecoder().decode(m.data)]) })
    await nodes[3]?.group('g').send(enc.encode('hello'))
    await hub.settle()
    for (const n of nodes) if (n !== nodes[3]) expect(got.get(n.name)).toEqual(['hello'])

    const target = nodes[7] as Node
    const decided: boolean[] = []
    nodes[2]?.group('g').on('decided', d => { if (d.kind === 'remove') decided.push(d.accepted) })
    await nodes[2]?.group('g').remove(target.client.memberId)
    await hub.until(() => !target.has('g') && converged(nodes.filter(n => n !== target), 'g'))
    expect(decided).toEqual([true])
    expect(g0.members.length).toBe(9)
    expect(g0.members.some(id => bytesEqual(id, target.client.memberId))).toBe(false)
  }, 120_000)

  it('a vote that says NO keeps the member', async () => {
    const hub = new Hub(12)
    const nodes = await buildGroup(hub, 4, FAST)
    // Everyone but the proposer votes NO on removals.
    const target = nodes[3] as Node
    for (const n of nodes.slice(1)) {
      // a policy set after creation: restart the clients with a NO policy on removals
      n.client.stop()
      n.online = false
    }
    for (const n of nodes.slice(1)) await hub.restart(n, { votePolicy: p => p.kind === 'remove' ? false : p.valid })
    await hub.settle()
    const results: boolean[] = []
    nodes[0]?.group('g').on('decided', d => { if (d.kind === 'remove') results.push(d.accepted) })
    const epoch = nodes[0]?.group('g').epoch
    await nodes[0]?.group('g').remove(target.client.memberId)
    await hub.until(() => results.length > 0)
    await hub.advance(10_000)
    expect(results).toEqual([false])
    expect(nodes[0]?.group('g').epoch).toBe(epoch)
    expect(target.has('g')).toBe(true)
  }, 60_000)

  it('two stewards committing at once converge on the same epoch everywhere', async () => {
    const hub = new Hub(13)
    const config: GroupConfigInit = { timers: { ...FAST.timers, batchWindowMs: 30_000, commitInactivityMs: 60_000 } }
    const nodes = await buildGroup(hub, 6, { ...FAST, snMax: 3 })
    // Slow the automatic commit down so both stewards commit by hand; the list covers the coming epoch.
    void config
    const g = nodes[0]?.group('g') as DemlsGroup
    await untilCovered(hub, nodes)
    const steward = node(nodes, g.epochSteward)
    const backup = node(nodes, g.backupSteward)
    const victim = nodes.find(n => n !== steward && n !== backup) as Node
    const epoch = g.epoch
    // Approve a removal, then have both stewards commit before the timers would.
    await nodes.find(n => n !== victim && n !== steward && n !== backup)?.group('g').remove(victim.client.memberId)
    await hub.until(() => steward.group('g').proposals().some(p => p.decision === true) && backup.group('g').proposals().some(p => p.decision === true), 10_000, 50)
    const committed: Array<[string, string]> = []
    for (const n of nodes) n.group('g').on('epoch', e => { committed.push([n.name, toHex(e.committer)]) })
    const [a, b] = await Promise.all([steward.group('g').commitNow(), backup.group('g').commitNow()])
    expect(a && b).toBe(true)
    await hub.until(() => !victim.has('g') && converged(nodes.filter(n => n !== victim), 'g'))
    const after = nodes.filter(n => n !== victim).map(n => n.group('g'))
    expect(new Set(after.map(x => x.epoch))).toEqual(new Set([epoch + 1]))
    // Same proposals in both: the epoch steward's candidate wins everywhere.
    expect(new Set(committed.filter(([n]) => n !== victim.name).map(([, c]) => c))).toEqual(new Set([toHex(steward.client.memberId)]))
  }, 60_000)

  it('between competing candidates the one with more proposals wins everywhere, whoever committed it', async () => {
    const hub = new Hub(24)
    const partial = { id: undefined as Uint8Array | undefined }
    const policy: PolicyFor = self => certs =>
      partial.id !== undefined && bytesEqual(partial.id, self()) ? certs.slice(0, 1) : certs
    const nodes = await buildGroup(hub, 7, { ...FAST, snMax: 3 }, 'r', policy)
    await untilCovered(hub, nodes, true)
    const g = nodes[0]?.group('g') as DemlsGroup
    const steward = node(nodes, g.epochSteward)
    const backup = node(nodes, g.backupSteward)
    partial.id = steward.client.memberId
    const victims = nodes.filter(n => n !== steward && n !== backup).slice(0, 2)
    const proposer = nodes.find(n => n !== steward && n !== backup && !victims.includes(n)) as Node
    const epoch = g.epoch
    const winners = new Map<string, string>()
    for (const n of nodes) n.group('g').on('epoch', e => { if (e.epoch === epoch + 1) winners.set(n.name, toHex(e.committer)) })
    for (const v of victims) await proposer.group('g').remove(v.client.memberId)
    // Both proposals approved at both stewards; the epoch steward commits only one of them, the backup both (by hand
    // here, and on its own too: it counters a candidate that leaves out what it approved).
    await hub.until(() => [steward, backup].every(n => n.group('g').epoch > epoch || n.group('g').proposals().filter(p => p.decision === true).length === 2), 10_000, 50)
    if (steward.group('g').epoch === epoch) await Promise.all([steward.group('g').commitNow(), backup.group('g').commitNow()])
    const rest = nodes.filter(n => !victims.includes(n))
    await hub.until(() => victims.every(v => !v.has('g')) && converged(rest, 'g'))
    expect(new Set(rest.map(n => winners.get(n.name)))).toEqual(new Set([toHex(backup.client.memberId)]))
    expect(rest[0]?.group('g').epoch).toBe(epoch + 1)
  }, 60_000)

  it('a request carried by a commit that lost to a better one is proposed again by its owner', async () => {
    const hub = new Hub(25)
    // The epoch steward commits only p's request; the backup all but p's: its candidate carries more and wins.
    const roles = { steward: undefined as Uint8Array | undefined, backup: undefined as Uint8Array | undefined, p: undefined as Uint8Array | undefined }
    const ownedByP = (c: Certificate): boolean => roles.p !== undefined && bytesEqual(memberIdOf(c.header.owner), roles.p)
    const policy: PolicyFor = self => certs => {
      if (roles.steward !== undefined && bytesEqual(self(), roles.steward)) return certs.filter(ownedByP)
      if (roles.backup !== undefined && bytesEqual(self(), roles.backup)) return certs.filter(c => !ownedByP(c))
      return certs
    }
    const nodes = await buildGroup(hub, 8, { ...FAST, snMax: 3 }, 'k', policy)
    await untilCovered(hub, nodes, true)
    const g = nodes[0]?.group('g') as DemlsGroup
    const steward = node(nodes, g.epochSteward)
    const backup = node(nodes, g.backupSteward)
    const [p, q, v1, v2, v3] = nodes.filter(n => n !== steward && n !== backup) as [Node, Node, Node, Node, Node]
    Object.assign(roles, { steward: steward.client.memberId, backup: backup.client.memberId, p: p.client.memberId })
    const epoch = g.epoch
    const applied: string[] = []
    p.group('g').on('epoch', e => { applied.push(`${e.epoch}${e.rollback ? ' rollback' : ''} by ${toHex(e.committer)}`) })
    await Promise.all([p.group('g').remove(v1.client.memberId), q.group('g').remove(v2.client.memberId), q.group('g').remove(v3.client.memberId)])
    await hub.until(() => [steward, backup].every(n => n.group('g').proposals().filter(x => x.decision === true).length === 3), 10_000, 50)
    // p sees the steward's candidate (its own request) but not the backup's until it applied the first.
    hub.filter = (from, to, topic) => !(from === backup && to === p && topic !== 'app')
    try {
      await Promise.all([steward.group('g').commitNow(), backup.group('g').commitNow()])
      await hub.until(() => p.group('g').epoch > epoch, 10_000, 50)
    } finally {
      hub.filter = undefined
    }
    // p rolls back to the better commit, which left its request out: it proposes it again, and v1 goes too.
    const rest = nodes.filter(n => n !== v1 && n !== v2 && n !== v3)
    await hub.until(() => [v1, v2, v3].every(v => !v.has('g')) && converged(rest, 'g'))
    expect(applied.slice(0, 2)).toEqual([`${epoch + 1} by ${toHex(steward.client.memberId)}`, `${epoch + 1} rollback by ${toHex(backup.client.memberId)}`])
    // v1's removal came in a later epoch (an election may come in between).
    expect(applied.length).toBeGreaterThanOrEqual(3)
  }, 120_000)

  it('a steward that drops proposals is scored down, overridden by the backup, and removed', async () => {
    const hub = new Hub(14)
    const censor = { id: undefined as Uint8Array | undefined }
    // One censorship (-40) takes a member from 100 to 60, under this group's removal threshold of 70; commits earn
    // nothing here so the steward's earlier commits cannot keep it above the threshold.
    const config: GroupConfigInit = { ...FAST, snMax: 3, scoring: { threshold: 70, deltas: { successfulCommit: 0 } } }
    const policy: PolicyFor = self => certs =>
      censor.id !== undefined && bytesEqual(censor.id, self()) ? certs.filter(c => c.header.payload.kind !== 'add') : certs
    const nodes = await buildGroup(hub, 6, config, 'c', policy)
    await untilCovered(hub, nodes, true)
    const g = nodes[0]?.group('g') as DemlsGroup
    const steward = node(nodes, g.epochSteward)
    censor.id = steward.client.memberId
    const committers: string[] = []
    g.on('epoch', e => committers.push(toHex(e.committer)))
    const joiner = await hub.addNode('j')
    void joiner.client.join('g')
    await hub.until(() => joiner.has('g'))
    // The add was committed, but not by the censoring epoch steward, and every member scored the steward down.
    expect(committers.length).toBeGreaterThan(0)
    expect(committers[0]).not.toBe(toHex(steward.client.memberId))
    for (const n of nodes) if (n !== steward) expect(n.group('g').score(steward.client.memberId)).toBeLessThanOrEqual(70)
    // The score below the threshold leads to an ECP and the steward's removal: it loses its place.
    const rest = [...nodes, joiner].filter(n => n !== steward)
    await hub.until(() => !steward.has('g') && converged(rest, 'g'))
    expect((rest[0] as Node).group('g').members.some(id => bytesEqual(id, steward.client.memberId))).toBe(false)
  }, 120_000)

  it('a member sending broken commits is scored down and removed', async () => {
    const hub = new Hub(15)
    const nodes = await buildGroup(hub, 5)
    const bad = nodes[4] as Node
    const bg = bad.group('g')
    const observers = nodes.slice(0, 4)
    const reasons: string[] = []
    nodes[0]?.group('g').on('candidate', c => { if (!c.valid && c.reason !== undefined) reasons.push(c.reason) })
    // Broken candidates: an empty commit with no certificate, then a commit removing a member nobody voted on, and
    // so on until the observers' scores reach the removal threshold.
    const kinds = [[], [{ proposalType: 'remove' as const, remove: { removed: 0 } }]]
    for (let i = 0; i < 6 && observers.some(n => n.group('g').score(bad.client.memberId) > 0); i++) {
      const before = observers.map(n => n.group('g').score(bad.client.memberId))
      const state = bg.mlsState
      const out = await commitProposals(state, kinds[i % 2] as [], bad.client.cipherSuite)
      const { env } = sealCandidate(await candidateKey(state, bad.client.cipherSuite), bg.groupId, bad.client.identity,
        { epoch: bg.epoch, committer: bad.client.memberId, certificates: [], commit: out.commit, welcome: undefined })
      hub.publish(bad, `/demls/1/${bg.groupIdHex}/app`, encodeEnvelope(env))
      await hub.settle()
      observers.forEach((n, j) => { expect(n.group('g').score(bad.client.memberId)).toBe((before[j] as number) - 50) })
    }
    expect(reasons.length).toBeGreaterThanOrEqual(2)
    await hub.until(() => !bad.has('g') && converged(observers, 'g'))
    expect(nodes[0]?.group('g').members.length).toBe(4)
  }, 60_000)

  it('a commit that carries one of two removals of the same member censors nothing', async () => {
    const hub = new Hub(25)
    const nodes = await buildGroup(hub, 6, { ...FAST, snMax: 3 })
    await untilCovered(hub, nodes, true)
    const g = nodes[0]?.group('g') as DemlsGroup
    const steward = node(nodes, g.epochSteward)
    const victim = nodes.find(n => n !== steward && !bytesEqual(n.client.memberId, g.backupSteward as Uint8Array)) as Node
    const proposers = nodes.filter(n => n !== victim && n !== steward).slice(0, 2)
    const rest = nodes.filter(n => n !== victim)
    const censures: string[] = []
    const approvals: string[] = []
    for (const n of rest) {
      n.group('g').on('score', c => { if (c.event === 'censorship') censures.push(`${n.name}: ${toHex(c.memberId)}`) })
      n.group('g').on('decided', d => { if (n === rest[0] && d.kind === 'remove' && d.accepted) approvals.push(d.digest) })
    }
    // Two members ask at once; both removals are approved, a batch holds one removal per member.
    await Promise.all(proposers.map(async p => { await p.group('g').remove(victim.client.memberId) }))
    await hub.until(() => !victim.has('g') && converged(rest, 'g'))
    expect(approvals.length).toBe(2)
    expect(censures).toEqual([])
  }, 60_000)

  it('a steward that never received a proposal is not scored for leaving it out; the fuller candidate wins', async () => {
    const hub = new Hub(26)
    const nodes = await buildGroup(hub, 7, { ...FAST, snMax: 3 })
    await untilCovered(hub, nodes, true)
    const g = nodes[0]?.group('g') as DemlsGroup
    const steward = node(nodes, g.epochSteward)
    const backup = node(nodes, g.backupSteward)
    const others = nodes.filter(n => n !== steward && n !== backup)
    const [p, q, v1, v2] = others as [Node, Node, Node, Node]
    const epoch = g.epoch
    const censures: string[] = []
    const winners = new Set<string>()
    for (const n of nodes) {
      n.group('g').on('score', c => { if (c.event === 'censorship') censures.push(`${n.name}: ${toHex(c.memberId)}`) })
      n.group('g').on('epoch', e => { if (e.epoch === epoch + 1) winners.add(toHex(e.committer)) })
    }
    // Nothing from p reaches the epoch steward: it never sees p's proposal.
    hub.filter = (from, to) => !(from === p && to === steward)
    try {
      await Promise.all([q.group('g').remove(v1.client.memberId), p.group('g').remove(v2.client.memberId)])
      const rest = nodes.filter(n => n !== v1 && n !== v2)
      await hub.until(() => !v1.has('g') && !v2.has('g') && converged(rest, 'g'))
      expect(rest[0]?.group('g').epoch).toBe(epoch + 1)
    } finally {
      hub.filter = undefined
    }
    // The backup made up for the missing proposal in the same epoch; the steward did not censor anything.
    expect(winners).toEqual(new Set([toHex(backup.client.memberId)]))
    expect(censures).toEqual([])
  }, 60_000)

  it('a steward that lacks votes others hold is not scored for censorship before the consensus timeout', async () => {
    const hub = new Hub(29)
    // Nobody commits on its own for a while: the epoch steward commits by hand.
    const nodes = await buildGroup(hub, 7, { ...FAST, snMax: 3, timers: { ...FAST.timers, batchWindowMs: 8_000, commitInactivityMs: 8_000 } })
    await untilCovered(hub, nodes, true)
    const g = nodes[0]?.group('g') as DemlsGroup
    const steward = node(nodes, g.epochSteward)
    const backup = node(nodes, g.backupSteward)
    const [q, v1, v2] = nodes.filter(n => n !== steward && n !== backup) as [Node, Node, Node]
    const epoch = g.epoch
    const censures: string[] = []
    const winners = new Set<string>()
    const approvedAtQ: Uint8Array[] = []
    for (const n of nodes) {
      n.group('g').on('score', c => { if (c.event === 'censorship') censures.push(`${n.name}: ${toHex(c.memberId)}`) })
      n.group('g').on('epoch', e => { if (e.epoch === epoch + 1) winners.add(toHex(e.committer)) })
    }
    q.group('g').on('decided', d => { if (d.accepted && d.payload.kind === 'remove') approvedAtQ.push(d.payload.memberId) })
    await q.group('g').remove(v1.client.memberId)
    const removals = (n: Node): number => n.group('g').proposals().filter(x => x.decision === true && x.kind === 'remove').length
    await hub.until(() => removals(steward) === 1, 10_000, 50)
    // The steward proposes a second removal, but the votes on it do not reach it: the others approve it, it does not.
    hub.filter = (_from, to) => to !== steward
    await steward.group('g').remove(v2.client.memberId)
    await hub.until(() => approvedAtQ.some(id => bytesEqual(id, v2.client.memberId)), 10_000, 50)
    await hub.advance(400)
    expect(removals(steward)).toBe(1)
    expect(await steward.group('g').commitNow()).toBe(true)
    hub.filter = undefined
    const rest = nodes.filter(n => n !== v1 && n !== v2)
    await hub.until(() => !v1.has('g') && !v2.has('g') && converged(rest, 'g'))
    // The backup commits both in the same epoch; the steward, which committed what it held, is not penalized.
    expect(winners).toEqual(new Set([toHex(backup.client.memberId)]))
    expect(censures).toEqual([])
  }, 60_000)

  it('a steward that leaves out a proposal it held approved is scored for censorship; the backup\'s fuller candidate wins', async () => {
    const hub = new Hub(28)
    const drop = { steward: undefined as Uint8Array | undefined, target: undefined as Uint8Array | undefined }
    const policy: PolicyFor = self => certs => drop.steward !== undefined && bytesEqual(drop.steward, self())
      ? certs.filter(c => !(c.header.payload.kind === 'remove' && bytesEqual(c.header.payload.memberId, drop.target as Uint8Array)))
      : certs
    // The epoch steward commits after the proposals' consensus timeout: by then it must have held them approved.
    const config: GroupConfigInit = { ...FAST, snMax: 3, timers: { ...FAST.timers, batchWindowMs: 5_000 } }
    const nodes = await buildGroup(hub, 7, config, 's', policy)
    await untilCovered(hub, nodes, true)
    const g = nodes[0]?.group('g') as DemlsGroup
    const steward = node(nodes, g.epochSteward)
    const backup = node(nodes, g.backupSteward)
    const [p, q, v1, v2] = nodes.filter(n => n !== steward && n !== backup) as [Node, Node, Node, Node]
    drop.steward = steward.client.memberId
    drop.target = v2.client.memberId
    const epoch = g.epoch
    const censured = new Set<string>()
    const winners = new Set<string>()
    for (const n of nodes) {
      n.group('g').on('score', c => { if (c.event === 'censorship' && bytesEqual(c.memberId, steward.client.memberId)) censured.add(n.name) })
      n.group('g').on('epoch', e => { if (e.epoch === epoch + 1) winners.add(toHex(e.committer)) })
    }
    await Promise.all([q.group('g').remove(v1.client.memberId), p.group('g').remove(v2.client.memberId)])
    const rest = nodes.filter(n => n !== v1 && n !== v2)
    await hub.until(() => !v1.has('g') && !v2.has('g') && converged(rest, 'g'))
    expect(winners).toEqual(new Set([toHex(backup.client.memberId)]))
    for (const n of nodes) if (n !== steward) expect(censured.has(n.name)).toBe(true)
  }, 60_000)

  it('a removal the group voted down is not proposed again without new evidence', async () => {
    const hub = new Hub(27)
    const nodes = await buildGroup(hub, 5)
    const bad = nodes[4] as Node
    const accuser = nodes[1] as Node
    const bg = bad.group('g')
    const proposals: string[] = []
    const rejected: string[] = []
    for (const n of nodes) {
      n.group('g').on('proposal', v => {
        if (n === nodes[0] && v.payload.kind === 'emergency' && bytesEqual(v.payload.target, bad.client.memberId)) proposals.push(toHex(v.owner))
      })
      n.group('g').on('decided', d => { if (n === nodes[0] && d.kind === 'emergency' && !d.accepted) rejected.push(d.digest) })
    }
    // Broken candidates that only the accuser sees: its score of the member falls, nobody else's does.
    const brokenToAccuser = async (): Promise<void> => {
      const state = bg.mlsState
      const out = await commitProposals(state, [], bad.client.cipherSuite)
      const { env } = sealCandidate(await candidateKey(state, bad.client.cipherSuite), bg.groupId, bad.client.identity,
        { epoch: bg.epoch, committer: bad.client.memberId, certificates: [], commit: out.commit, welcome: undefined })
      hub.filter = (from, to) => to === accuser
      hub.publish(bad, `/demls/1/${bg.groupIdHex}/app`, encodeEnvelope(env))
      hub.filter = undefined
      await hub.settle()
    }
    await brokenToAccuser()
    await brokenToAccuser()
    expect(accuser.group('g').score(bad.client.memberId)).toBe(0)
    expect(nodes[0]?.group('g').score(bad.client.memberId)).toBe(100)
    // The accuser puts the member up for removal; the others, who saw nothing, vote it down.
    await hub.until(() => rejected.length === 1, 30_000)
    expect(proposals).toEqual([toHex(accuser.client.memberId)])
    await hub.advance(20_000)
    expect(proposals.length).toBe(1)
    // New evidence (one more broken candidate) is worth another vote.
    await brokenToAccuser()
    await hub.until(() => proposals.length >= 2, 10_000)
    expect(bad.has('g')).toBe(true)
  }, 60_000)

  for (const seed of [16, 160, 1600, 16000]) {
  it(`with 20 % of messages dropped at random, every member ends at the same epoch and state (no fork), seed ${seed}`, async () => {
    const hub = new Hub(seed)
    const nodes = await buildGroup(hub, 10, { ...FAST, snMax: 3 })
    hub.lossRate = 0.2
    const joiners = [await hub.addNode('x1'), await hub.addNode('x2')]
    for (const j of joiners) void j.client.join('g')
    const leaver = nodes[5] as Node
    const removed = nodes[8] as Node
    await leaver.group('g').leave()
    await nodes[1]?.group('g').remove(removed.client.memberId)
    const rest = [...nodes, ...joiners].filter(n => n !== leaver && n !== removed)
    await hub.until(() => joiners.every(j => j.has('g')) && !leaver.has('g') && !removed.has('g') && converged(rest, 'g'), 600_000)
    expect(hub.dropped).toBeGreaterThan(0)
    const epochs = new Set(rest.map(n => n.group('g').epoch))
    expect(epochs.size).toBe(1)
    const members = rest.map(n => n.group('g').members.map(toHex).sort().join())
    expect(new Set(members).size).toBe(1)
    expect(rest[0]?.group('g').members.length).toBe(10)
  }, 240_000)
  }

  it('a member killed and restarted from its SQLite store catches up', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'demls-restart-'))
    dirs.push(dir)
    const hub = new Hub(17)
    const creator = await hub.addNode('r0', { storePath: join(dir, 'r0.db') })
    await creator.client.createGroup('g', FAST)
    const nodes = [creator]
    for (let i = 1; i < 5; i++) {
      const n = await hub.addNode(`r${i}`, { storePath: join(dir, `r${i}.db`) })
      nodes.push(n)
      void n.client.join('g')
    }
    await hub.until(() => nodes.every(x => x.has('g')) && converged(nodes, 'g'))
    const sleeper = nodes[3] as Node
    const before = sleeper.group('g').epoch
    hub.kill(sleeper)
    const x = await hub.addNode('x', { storePath: join(dir, 'x.db') })
    void x.client.join('g')
    await hub.until(() => x.has('g') && converged(nodes.filter(n => n !== sleeper).concat(x), 'g'))
    await nodes[0]?.group('g').remove(nodes[4]?.client.memberId as Uint8Array)
    await hub.until(() => !(nodes[4] as Node).has('g') && converged([nodes[0], nodes[1], nodes[2], x] as Node[], 'g'))
    const target = creator.group('g').epoch
    expect(target).toBeGreaterThanOrEqual(before + 2)
    await hub.restart(sleeper)
    expect(sleeper.group('g').epoch).toBe(before)
    await hub.until(() => converged([nodes[0], nodes[1], nodes[2], sleeper, x] as Node[], 'g'))
    expect(sleeper.group('g').epoch).toBe(target)
    // And it still takes part: a message from it reaches the others.
    const seen: string[] = []
    x.client.on('message', m => seen.push(new TextDecoder().decode(m.data)))
    await sleeper.group('g').send(enc.encode('back'))
    await hub.settle()
    expect(seen).toEqual(['back'])
  }, 120_000)

  it('Layer 2: when every steward in line is silent, members re-elect and the new list commits', async () => {
    const hub = new Hub(18)
    const nodes = await buildGroup(hub, 7, { ...FAST, snMin: 3, snMax: 3 })
    const g = nodes[0]?.group('g') as DemlsGroup
    await untilCovered(hub, nodes, true)
    const silent = nodes.filter(n => g.stewardList.some(id => bytesEqual(id, n.client.memberId)))
    for (const s of silent) hub.kill(s)
    const live = nodes.filter(n => !silent.includes(n))
    const epoch = live[0]?.group('g').epoch as number
    const joiner = await hub.addNode('j')
    void joiner.client.join('g')
    await hub.until(() => joiner.has('g') && converged([...live, joiner], 'g'), 300_000)
    const lg = live[0]?.group('g') as DemlsGroup
    expect(lg.epoch).toBeGreaterThan(epoch)
    // The commit came from a freshly elected steward.
    expect(lg.governance.stewards.electionEpoch).toBe(epoch)
    expect(lg.governance.stewards.retryRound).toBeGreaterThan(0)
  }, 120_000)

  it('Layer 3: when re-elections are exhausted, a deadlock ECP lets any member commit', async () => {
    const hub = new Hub(19)
    const nodes = await buildGroup(hub, 5, { ...FAST, snMin: 2, snMax: 2, maxReelectionAttempts: 0 })
    const g = nodes[0]?.group('g') as DemlsGroup
    await untilCovered(hub, nodes, true)
    const silent = nodes.filter(n => g.stewardList.some(id => bytesEqual(id, n.client.memberId)))
    for (const s of silent) hub.kill(s)
    const live = nodes.filter(n => !silent.includes(n))
    const deadlocks: boolean[] = []
    live[0]?.group('g').on('decided', d => { if (d.kind === 'emergency' && d.payload.kind === 'emergency' && d.payload.violation === 5) deadlocks.push(d.accepted) })
    const epoch = live[0]?.group('g').epoch as number
    await live[0]?.group('g').remove(silent[0]?.client.memberId as Uint8Array)
    await hub.until(() => (live[0]?.group('g').epoch as number) > epoch && converged(live, 'g'), 300_000)
    expect(deadlocks).toContain(true)
    expect(live[0]?.group('g').members.some(id => bytesEqual(id, silent[0]?.client.memberId as Uint8Array))).toBe(false)
  }, 120_000)

  it('in "stewards" mode only stewards vote on membership changes', async () => {
    const hub = new Hub(20)
    const nodes = await buildGroup(hub, 6, { ...FAST, mode: 'stewards', snMin: 2, snMax: 2 })
    const g = nodes[0]?.group('g') as DemlsGroup
    await untilCovered(hub, nodes, true)
    const stewards = new Set(g.stewardList.map(toHex))
    const plain = nodes.filter(n => !stewards.has(toHex(n.client.memberId)))
    // Plain members vote NO on everything; their votes must not count.
    for (const n of plain) {
      hub.kill(n)
      await hub.restart(n, { votePolicy: () => false })
    }
    await hub.settle()
    const target = plain[0] as Node
    await (plain[1] as Node).group('g').remove(target.client.memberId)
    await hub.until(() => !target.has('g') && converged(nodes.filter(n => n !== target), 'g'))
    const view = (nodes.find(n => n !== target) as Node).group('g')
    expect(view.members.length).toBe(nodes.length - 1)
  }, 120_000)

  it('an invitation: the holder of a handed-out key package joins once a member invites it', async () => {
    const hub = new Hub(30)
    const nodes = await buildGroup(hub, 3)
    const guest = await hub.addNode('guest')
    const kp = await guest.client.keyPackage('g')
    expect(await guest.client.keyPackage('g')).toEqual(kp)
    // Handed out, not announced: nobody proposes adding the guest on its own.
    await hub.advance(10_000)
    expect(nodes[0]?.group('g').proposals()).toEqual([])
    const joined = guest.client.join('g')
    await nodes[1]?.group('g').invite(kp)
    await hub.until(() => guest.has('g') && converged([...nodes, guest], 'g'))
    expect((await joined).members.length).toBe(4)
    await expect(guest.client.keyPackage('g')).rejects.toMatchObject({ code: 'ERR_MLS_GROUP_EXISTS' })
  }, 60_000)

  it('a member that leaves is removed without a vote and its group closes', async () => {
    const hub = new Hub(21)
    const nodes = await buildGroup(hub, 4)
    const leaver = nodes[2] as Node
    const lg = leaver.group('g')
    let removed = false
    lg.on('removed', () => { removed = true })
    await lg.leave()
    await hub.until(() => removed && converged(nodes.filter(n => n !== leaver), 'g'))
    expect(lg.closed).toBe(true)
    expect(leaver.has('g')).toBe(false)
    await expect(lg.send(enc.encode('x'))).rejects.toMatchObject({ code: 'ERR_MLS_GROUP_CLOSED' })
  }, 60_000)

  it('members on Node\'s native crypto and on ts-mls\'s default provider share one group', async () => {
    const hub = new Hub(23)
    const reference = await loadCipherSuite(undefined, defaultCryptoProvider)
    const nodes: Node[] = []
    for (let i = 0; i < 5; i++) {
      const n = await hub.addNode(`mix${i}`, i % 2 === 0 ? {} : { cipherSuite: reference })
      nodes.push(n)
      if (i === 0) await n.client.createGroup('g', FAST)
      else void n.client.join('g')
    }
    await hub.until(() => nodes.every(x => x.has('g')) && converged(nodes, 'g'))
    const seen: string[] = []
    nodes[0]?.client.on('message', m => seen.push(new TextDecoder().decode(m.data)))
    await nodes[3]?.group('g').send(enc.encode('from the default provider'))
    await nodes[1]?.group('g').remove(nodes[4]?.client.memberId as Uint8Array)
    await hub.until(() => !(nodes[4] as Node).has('g') && converged(nodes.slice(0, 4), 'g'))
    expect(seen).toEqual(['from the default provider'])
  }, 60_000)

  it('steward lists are the deterministic ones, re-elected when a list runs out', async () => {
    const hub = new Hub(22)
    const nodes = await buildGroup(hub, 5, { ...FAST, snMin: 2, snMax: 2 })
    const g = nodes[0]?.group('g') as DemlsGroup
    const membersAt = new Map<number, Uint8Array[]>([[g.epoch, g.members]])
    const lists: Array<{ electionEpoch: number, retryRound: number, stewards: string[] }> = []
    const start = g.epoch
    g.on('epoch', () => {
      membersAt.set(g.epoch, g.members)
      const s = g.governance.stewards
      if (lists.at(-1)?.electionEpoch !== s.electionEpoch) lists.push({ electionEpoch: s.electionEpoch, retryRound: s.retryRound, stewards: s.stewards.map(toHex) })
    })
    for (let i = 0; i < 4; i++) {
      const x = await hub.addNode(`y${i}`)
      void x.client.join('g')
      await hub.until(() => x.has('g') && converged([...nodes, x], 'g'))
      nodes.push(x)
    }
    expect(lists.length).toBeGreaterThan(1)
    for (const l of lists.filter(x => x.electionEpoch >= start)) {
      const members = membersAt.get(l.electionEpoch) as Uint8Array[]
      expect(l.stewards).toEqual(generateStewardList(l.electionEpoch, l.retryRound, members, g.groupId, 2, 2).map(toHex))
    }
  }, 120_000)
})

