import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bytesEqual, candidateKey, commitProposals, coversEpoch, encodeEnvelope, sealCandidate, toHex, topicsFor } from '../../../src/crypto/demls/index.ts'
import type { Certificate } from '../../../src/crypto/demls/index.ts'
import { NET_TIMERS, Peer, connectAll, converged, meshReaches, waitFor } from './harness.ts'

const enc = new TextEncoder()
let dir: string
const peers: Peer[] = []
/** The member that, as a steward, leaves add proposals out of its commits (set by one test). */
const censor = { id: undefined as Uint8Array | undefined }

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'demls-net-'))
  for (let i = 0; i < 12; i++) {
    const p: Peer = new Peer(`p${i}`, join(dir, `p${i}.db`), {
      commitPolicy: (certs: Certificate[]) => censor.id !== undefined && bytesEqual(censor.id, p.client.memberId)
        ? certs.filter(c => c.header.payload.kind !== 'add')
        : certs
    })
    await p.start()
    peers.push(p)
  }
  await connectAll(peers)
}, 60_000)

afterAll(async () => {
  for (const p of peers) await p.stop().catch(() => {})
  await rm(dir, { recursive: true, force: true })
})

describe('De-MLS over gossipsub between real libp2p nodes on TCP loopback', () => {
  it('a group of 10 forms by vote, carries messages, adds and removes members by vote', async () => {
    const members = peers.slice(0, 10)
    await members[0]?.client.createGroup('g', NET_TIMERS)
    for (const p of members.slice(1)) void p.client.join('g')
    await waitFor(() => converged(members, 'g'), 90_000, 'ten members in one epoch')
    expect(members[0]?.group('g').members.length).toBe(10)

    const got: string[] = []
    for (const p of members) p.client.on('message', m => { if (p !== members[3]) got.push(`${p.name}:${new TextDecoder().decode(m.data)}`) })
    // Application messages are sent once: the members that just joined must be in the topic's mesh first.
    await waitFor(() => meshReaches(members[3] as Peer, members, 'g'), 30_000, 'the app topic mesh to reach every member')
    await members[3]?.group('g').send(enc.encode('hello over gossipsub'))
    await waitFor(() => got.length === 9, 20_000, 'the message at nine members')

    // Add by vote (a joiner's key package) and remove by vote, in the same round of governance.
    const joiner = peers[10] as Peer
    const leaving = members[9] as Peer
    const decisions: string[] = []
    members[1]?.group('g').on('decided', d => decisions.push(`${d.kind}:${String(d.accepted)}`))
    void joiner.client.join('g')
    await members[2]?.group('g').remove(leaving.client.memberId)
    const after = [...members.slice(0, 9), joiner]
    await waitFor(() => !leaving.has('g') && converged(after, 'g'), 90_000, 'the add and the removal committed everywhere')
    expect(decisions).toContain('add:true')
    expect(decisions).toContain('remove:true')
    const g = after[0]?.group('g')
    expect(g?.members.length).toBe(10)
    expect(g?.members.some(id => bytesEqual(id, leaving.client.memberId))).toBe(false)
    expect(g?.members.some(id => bytesEqual(id, joiner.client.memberId))).toBe(true)
  }, 200_000)

  it('two stewards committing at once converge on the same epoch everywhere', async () => {
    // A group of its own whose stewards wait long enough for the test to make two of them commit by hand.
    const members = peers.slice(0, 6)
    const slow = { ...NET_TIMERS, snMax: 3, timers: { ...NET_TIMERS.timers, batchWindowMs: 60_000, commitInactivityMs: 60_000 } }
    await members[0]?.client.createGroup('two', { ...NET_TIMERS, snMax: 3 })
    for (const p of members.slice(1)) void p.client.join('two')
    await waitFor(() => converged(members, 'two'), 90_000, 'the group formed')
    void slow
    const g = members[0]?.group('two')
    await waitFor(() => g !== undefined && coversEpoch(g.governance.stewards, g.epoch), 30_000, 'a steward list that covers the epoch')
    const steward = members.find(p => bytesEqual(p.client.memberId, g?.epochSteward as Uint8Array)) as Peer
    const backup = members.find(p => bytesEqual(p.client.memberId, g?.backupSteward as Uint8Array)) as Peer
    const victim = members.find(p => p !== steward && p !== backup) as Peer
    const proposer = members.find(p => p !== steward && p !== backup && p !== victim) as Peer
    const epoch = g?.epoch as number
    const committers = new Map<string, string>()
    for (const p of members) p.group('two').on('epoch', e => { if (e.epoch === epoch + 1) committers.set(p.name, toHex(e.committer)) })
    await proposer.group('two').remove(victim.client.memberId)
    await waitFor(() => [steward, backup].every(p => p.group('two').proposals().some(x => x.decision === true)), 20_000, 'approval at both stewards')
    const [a, b] = await Promise.all([steward.group('two').commitNow(), backup.group('two').commitNow()])
    const rest = members.filter(p => p !== victim)
    await waitFor(() => !victim.has('two') && converged(rest, 'two'), 60_000, 'one epoch everywhere')
    expect(rest.every(p => p.group('two').epoch === epoch + 1)).toBe(true)
    // When both committed, the epoch steward's candidate (same proposals) wins everywhere.
    if (a && b) expect(new Set(rest.map(p => committers.get(p.name)))).toEqual(new Set([toHex(steward.client.memberId)]))
    expect(a || b).toBe(true)
  }, 200_000)

  it('a steward that drops proposals is scored down, overridden by the next steward, and removed', async () => {
    const members = peers.slice(0, 6)
    // One censorship (-40) puts a member under this group's threshold of 70; commits earn nothing here.
    const config = { ...NET_TIMERS, snMax: 3, scoring: { threshold: 70, deltas: { successfulCommit: 0 } } }
    await members[0]?.client.createGroup('cen', config)
    for (const p of members.slice(1)) void p.client.join('cen')
    await waitFor(() => converged(members, 'cen'), 90_000, 'the group formed')
    const g = members[0]?.group('cen')
    // Grow until a steward list governs the epoch (elections happen when there is work).
    const extra = [peers[6], peers[7]] as Peer[]
    for (const x of extra) {
      if (g !== undefined && coversEpoch(g.governance.stewards, g.epoch) && g.epoch - g.governance.stewards.startEpoch < g.stewardList.length - 1) break
      void x.client.join('cen')
      members.push(x)
      await waitFor(() => converged(members, 'cen'), 60_000, 'a join')
    }
    const steward = members.find(p => bytesEqual(p.client.memberId, g?.epochSteward as Uint8Array)) as Peer
    expect(steward).toBeDefined()
    censor.id = steward.client.memberId
    try {
      const committers: string[] = []
      g?.on('epoch', e => committers.push(toHex(e.committer)))
      const joiner = peers.slice(8).find(p => !p.has('cen')) as Peer
      void joiner.client.join('cen')
      await waitFor(() => joiner.has('cen'), 60_000, 'the joiner added by another steward')
      expect(committers[0]).not.toBe(toHex(steward.client.memberId))
      const rest = [...members, joiner].filter(p => p !== steward)
      await waitFor(() => !steward.has('cen') && converged(rest, 'cen'), 90_000, 'the censoring steward removed')
      expect(rest[0]?.group('cen').members.some(id => bytesEqual(id, steward.client.memberId))).toBe(false)
    } finally {
      censor.id = undefined
    }
  }, 200_000)

  it('a member sending broken commits is scored down and removed', async () => {
    const members = peers.slice(0, 5)
    await members[0]?.client.createGroup('brk', NET_TIMERS)
    for (const p of members.slice(1)) void p.client.join('brk')
    await waitFor(() => converged(members, 'brk'), 90_000, 'the group formed')
    const bad = members[4] as Peer
    const observers = members.slice(0, 4)
    const bg = bad.group('brk')
    const topic = topicsFor(bg.groupId).app
    for (let i = 0; i < 6 && observers.some(p => p.group('brk').score(bad.client.memberId) > 0); i++) {
      const before = observers.map(p => p.group('brk').score(bad.client.memberId))
      // A real MLS commit, signed and sealed by the member, but committing nothing anyone voted for.
      const state = bg.mlsState
      const out = await commitProposals(state, [], bad.client.cipherSuite)
      const { env } = sealCandidate(await candidateKey(state, bad.client.cipherSuite), bg.groupId, bad.client.identity,
        { epoch: bg.epoch, committer: bad.client.memberId, certificates: [], commit: out.commit, welcome: undefined })
      await bad.node.services.pubsub.publish(topic, encodeEnvelope(env))
      // Every observer judges it a broken commit: -50.
      await waitFor(() => observers.every((p, j) => p.group('brk').score(bad.client.memberId) === (before[j] as number) - 50), 10_000, 'the penalty')
    }
    await waitFor(() => !bad.has('brk') && converged(observers, 'brk'), 90_000, 'the member removed')
    expect(observers[0]?.group('brk').members.length).toBe(4)
  }, 200_000)

  it('with 20 % of messages dropped at random, members join, leave and are removed without a fork', async () => {
    // The group as the first test left it (whatever became of it): its members, and a peer never in it to join.
    const members = peers.filter(p => p.has('g'))
    const joiner = peers.slice(10).find(p => !p.has('g')) as Peer
    for (const p of peers) p.lossRate = 0.2
    try {
      void joiner.client.join('g')
      const leaver = members[4] as Peer
      const removed = members[6] as Peer
      await leaver.group('g').leave()
      await members[1]?.group('g').remove(removed.client.memberId)
      const rest = [...members.filter(p => p !== leaver && p !== removed), joiner]
      await waitFor(() => !leaver.has('g') && !removed.has('g') && converged(rest, 'g'), 150_000, 'convergence under loss')
      expect(peers.reduce((n, p) => n + p.dropped, 0)).toBeGreaterThan(0)
      const views = rest.map(p => p.group('g').members.map(toHex).sort().join())
      expect(new Set(views).size).toBe(1)
      expect(rest[0]?.group('g').members.length).toBe(rest.length)
    } finally {
      for (const p of peers) p.lossRate = 0
    }
  }, 200_000)

  it('a member killed and restarted from its store catches up', async () => {
    const members = peers.filter(p => p.has('g'))
    const sleeper = members[2] as Peer
    const before = sleeper.group('g').epoch
    await sleeper.stop()
    const live = members.filter(p => p !== sleeper)
    // The group moves on without it: two removals.
    const r1 = live[live.length - 1] as Peer
    await live[0]?.group('g').remove(r1.client.memberId)
    const live2 = live.filter(p => p !== r1)
    await waitFor(() => !r1.has('g') && converged(live2, 'g'), 90_000, 'first change')
    const r2 = live2[live2.length - 1] as Peer
    await live2[0]?.group('g').remove(r2.client.memberId)
    const live3 = live2.filter(p => p !== r2)
    await waitFor(() => !r2.has('g') && converged(live3, 'g'), 90_000, 'second change')
    const target = live3[0]?.group('g').epoch as number
    expect(target).toBeGreaterThanOrEqual(before + 2)

    await sleeper.start()
    expect(sleeper.group('g').epoch).toBe(before)
    await connectAll(peers.filter(p => p.node.status === 'started'))
    await waitFor(() => converged([...live3, sleeper], 'g'), 60_000, 'the restarted member caught up')
    expect(sleeper.group('g').epoch).toBe(target)
    const seen: string[] = []
    live3[0]?.client.on('message', m => seen.push(new TextDecoder().decode(m.data)))
    await waitFor(() => meshReaches(sleeper, [live3[0] as Peer], 'g'), 30_000, 'the app topic mesh to reach the restarted member')
    await sleeper.group('g').send(enc.encode('back'))
    await waitFor(() => seen.includes('back'), 20_000, 'its message')
  }, 200_000)
})
