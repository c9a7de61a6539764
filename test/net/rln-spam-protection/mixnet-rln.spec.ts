import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { LogosError } from '../../../src/common/index.ts'
import { createIdentity, resolveResources } from '../../../src/crypto/rln/index.ts'
import type { Rln, RlnIdentity } from '../../../src/crypto/rln/index.ts'
import { encodeFrame } from '../../../src/net/mix/wire.ts'
import { createRlnSpamProtection } from '../../../src/net/rln-spam-protection/index.ts'
import type { RlnSpamProtection } from '../../../src/net/rln-spam-protection/index.ts'
import { testResourcesDir } from '../../crypto/rln/helpers.ts'
import { FAST, nextEvent, startMixNet } from '../mix/helpers.ts'
import type { MixNet, MixNode } from '../mix/helpers.ts'

/**
 * The RLN hook in the real mixnet: five js-libp2p nodes over TCP on 127.0.0.1, each a member of one RLN group with
 * its own RLN instance (worker threads) made with the mixnet's defaults (the split prover with a precomputed proof,
 * zerokit's verifier). A message crosses three hops, each of which checks the incoming proof and proves the outgoing
 * packet.
 */
describe('RLN spam protection in the mixnet over TCP', () => {
  const ids: RlnIdentity[] = Array.from({ length: 5 }, () => createIdentity())
  const rlns: Rln[] = []
  let hooks: RlnSpamProtection[]
  let net: MixNet

  beforeAll(async () => {
    const resources = await resolveResources({ path: testResourcesDir(), download: false })
    hooks = await Promise.all(ids.map(async (identity) => {
      // Minute-long epochs: on a loaded test machine a hop's proof must not outlive the allowed epoch gap.
      const hook = await createRlnSpamProtection({ resources, identity, workers: 1, epoch: { periodSeconds: 60 } })
      for (const id of ids) hook.rln.group.register(id.commitment, 100)
      return hook
    }))
    rlns.push(...hooks.map(h => h.rln))
    for (const rln of rlns) {
      expect(rln.prover).toBe('split')
      rln.join()
    }
    net = await startMixNet(5, i => ({ ...FAST, spamProtection: hooks[i] }))
  }, 180_000)

  afterAll(async () => {
    await net?.stop()
    await Promise.all((hooks ?? []).map(async h => { await h.stop() }))
  })

  it('carries a message with a fresh RLN proof per hop, and drops packets without a valid one', async () => {
    const [a, b] = [net.nodes[0] as MixNode, net.nodes[4] as MixNode]
    const got: string[] = []
    await b.services.mix.handle('/test/rln/1', ({ data }) => { got.push(new TextDecoder().decode(data)) })
    const rejected: string[] = []
    for (const n of net.nodes) n.services.mix.addEventListener('packet:rejected', (e) => { rejected.push(String((e.detail.error as LogosError).data.code ?? e.detail.code)) })
    await a.services.mix.send(b.peerId, '/test/rln/1', new TextEncoder().encode('rate limited and anonymous'))
    const deadline = Date.now() + 150_000
    while (got.length === 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 50))
    expect(rejected).toEqual([])
    expect(got).toEqual(['rate limited and anonymous'])
    // Three receptions (two intermediaries and the exit) each recorded one verified share.
    expect(rlns.reduce((n, r) => n + r.nullifiers.size, 0)).toBe(3)
    expect(hooks.every(h => h.proofLength === 301)).toBe(true)

    // A packet with a malformed or forged proof is dropped before any Sphinx work.
    const relay = net.nodes[1] as MixNode
    const stream = await a.dialProtocol(relay.getMultiaddrs(), '/mix/1.0.0')
    const malformed = nextEvent(relay.services.mix, 'packet:rejected')
    stream.send(encodeFrame(new Uint8Array(4608 + 301)))
    const m = await malformed
    expect(m.code).toBe('ERR_MIX_SPAM_PROOF')
    expect((m.error as LogosError).data.code).toBe('ERR_RLN_MIX_WIRE')
  }, 180_000)
})
