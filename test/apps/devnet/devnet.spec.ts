import { access, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { DevnetStartError, startDevnet } from '../../../src/apps/devnet/index.ts'
import { delay } from '../../../src/common/index.ts'

/**
 * findProviders is a walk over live registrars: tries a second apart cover the registrations still landing, for as
 * long as this (they land on the protocol's own clock, slower on a loaded machine).
 */
const LOOKUP_DEADLINE_MS = 45_000
const LOOKUP_PAUSE_MS = 1000

describe('devnet', () => {
  it('starts N full nodes on loopback that find each other\'s capabilities, and cleans up', async () => {
    // startDevnet resolves once every node knows 3 discovery peers (or fails after its ready timeout).
    const devnet = await startDevnet({ nodes: 6 })
    try {
      const statuses = await Promise.all(devnet.nodes.map(async n => await n.kernel.call('network', 'status') as { discoveryPeers: number }))
      expect(statuses.every(s => s.discoveryPeers >= 3)).toBe(true)
      expect(new Set(devnet.peers.map(p => p.peerId)).size).toBe(6)
      expect(new Set(devnet.peers.map(p => p.multiaddrs[0])).size).toBe(6)
      expect(new Set(devnet.peers.map(p => p.dataDir)).size).toBe(6)
      // five mix-like nodes advertise a key; node 0 looks for three of them, as a mixnet sender does
      await Promise.all(devnet.nodes.slice(1).map(async (n, i) => await n.kernel.call('network', 'advertise', { protocol: '/test/mix/1.0.0', data: new Uint8Array(32).fill(i + 1) })))
      // Registrations take a few round trips to land; a sender that finds too few looks again after a pause.
      let found: Array<{ peerId: string, data: Uint8Array }> = []
      const deadline = Date.now() + LOOKUP_DEADLINE_MS
      for (let first = true; found.length < 3 && Date.now() < deadline; first = false) {
        if (!first) await delay(LOOKUP_PAUSE_MS)
        found = await devnet.nodes[0]?.kernel.call('network', 'findProviders', { protocol: '/test/mix/1.0.0', limit: 3 }) as typeof found
      }
      expect(found.length).toBe(3)
      const others = new Set(devnet.peers.slice(1).map(p => p.peerId))
      expect(found.every(f => others.has(f.peerId) && f.data.length === 32)).toBe(true)
    } finally {
      await devnet.stop()
    }
    await expect(access(devnet.baseDir)).rejects.toThrow()
  }, 90_000)

  it('keeps the data directories it was given, one per node, each with its identity', async () => {
    const base = await mkdtemp(join(tmpdir(), 'logos-devnet-test-'))
    const devnet = await startDevnet({ nodes: 2, baseDir: base })
    await devnet.stop()
    await access(join(base, 'node-0', 'modules', 'network', 'peer-key'))
    await access(join(base, 'node-1', 'modules', 'network', 'peer-key'))
    await rm(base, { recursive: true, force: true })
  }, 60_000)

  it('refuses a devnet of no nodes', async () => {
    await expect(startDevnet({ nodes: 0 })).rejects.toThrow(DevnetStartError)
  })
})
