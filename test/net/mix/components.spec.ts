import { randomBytes } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { PeerId } from '@libp2p/interface'
import fc from 'fast-check'
import { describe, expect, it, vi } from 'vitest'
import { forwardDataCapacity, generateMixKeyPair, SURB_LENGTH } from '../../../src/crypto/sphinx/index.ts'
import {
  DiscoveryMixNodeSource, FrameDecoder, MixFragmentError, MixFrameError, MixQueueFullError, MixReplayTableFullError, Reassembler, ReplayCache,
  SlotPool, coverRatePerSecond, encodeFrame, exponentialDelay, parseMixKey, planFragments, staticMixNodeSource
} from '../../../src/net/mix/index.ts'
import type { MixDiscovery } from '../../../src/net/mix/index.ts'
import { CoverScheduler } from '../../../src/net/mix/cover-traffic.ts'
import { KeyManager } from '../../../src/net/mix/key-manager.ts'

describe('slot pool (mix-cover-traffic.md 4, 5)', () => {
  it('shares R slots per epoch between cover and the rest, reclaiming queued cover last', () => {
    const pool = new SlotPool(3)
    const cancelled: number[] = []
    const cover = [0, 1, 2].map(i => ({ cancel: () => { cancelled.push(i) } }))
    expect(pool.reserveCover(cover[0] as never)).toBe(true)
    expect(pool.reserveCover(cover[1] as never)).toBe(true)
    expect(pool.claim()).toBe(true) // the one free slot
    expect(pool.reserveCover(cover[2] as never)).toBe(false) // none free
    expect(pool.claim()).toBe(true) // reclaims the oldest queued cover
    expect(cancelled).toEqual([0])
    expect(pool.consumeCover(cover[0] as never)).toBe(false) // it was reclaimed: never sent
    expect(pool.consumeCover(cover[1] as never)).toBe(true)
    expect(pool.slotsRemaining).toBe(0)
    expect(pool.claim()).toBe(false)
    pool.resetEpoch(1n)
    expect(pool.slotsRemaining).toBe(3)
  })

  it('keeps remaining >= queued cover whatever the sequence', () => {
    fc.assert(fc.property(fc.array(fc.constantFrom('claim', 'reserve', 'consume', 'release', 'reset')), (ops) => {
      const pool = new SlotPool(5)
      const queued: Array<{ cancel: () => void }> = []
      let onWire = 0
      for (const op of ops) {
        if (op === 'claim') { if (pool.claim()) onWire++ }
        if (op === 'reserve') { const e = { cancel: () => {} }; if (pool.reserveCover(e)) queued.push(e) }
        if (op === 'consume') { const e = queued.shift(); if (e !== undefined && pool.consumeCover(e)) onWire++ }
        if (op === 'release') { const e = queued.shift(); if (e !== undefined) pool.releaseCover(e) }
        if (op === 'reset') { pool.resetEpoch(1n); onWire = 0 }
        expect(pool.slotsRemaining).toBeGreaterThanOrEqual(pool.queuedCover)
        expect(onWire).toBeLessThanOrEqual(5)
      }
    }))
  })

  it('the cover rate is f x R / ((1 + L) x P)', () => {
    expect(coverRatePerSecond(0.7, 2400, 3, 10_000)).toBeCloseTo(42)
    expect(coverRatePerSecond(0.7, 100, 3, 10_000)).toBeCloseTo(1.75)
  })
})

describe('cover scheduler', () => {
  for (const strategy of ['constant', 'poisson'] as const) {
    it(`ticks at the configured mean rate (${strategy}), on a fake clock`, () => {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
      try {
        let ticks = 0
        const s = new CoverScheduler(strategy, 200, () => { ticks++ })
        s.start()
        vi.advanceTimersByTime(20_000)
        s.stop()
        const after = ticks
        vi.advanceTimersByTime(1000)
        expect(ticks).toBe(after)
        // 200/s for 20 s. Constant: 4000 on the grid (the random phase may add one). Poisson: a count of mean 4000
        // and standard deviation sqrt(4000) = 63; the bound is 5 standard deviations.
        if (strategy === 'constant') {
          expect(ticks).toBeGreaterThanOrEqual(4000)
          expect(ticks).toBeLessThanOrEqual(4001)
        } else {
          expect(Math.abs(ticks - 4000)).toBeLessThan(5 * Math.sqrt(4000))
        }
      } finally {
        vi.useRealTimers()
      }
    })
  }
})

describe('delays', () => {
  it('are exponential with the given mean, inside [min, mean x 13.8] and the cap', () => {
    const n = 20_000
    let sum = 0
    let max = 0
    for (let i = 0; i < n; i++) {
      const d = exponentialDelay(100, { tailProbability: 1e-6, capMs: 60_000 })
      sum += d
      max = Math.max(max, d)
      expect(d).toBeGreaterThanOrEqual(0)
    }
    expect(sum / n).toBeGreaterThan(95)
    expect(sum / n).toBeLessThan(105)
    expect(max).toBeLessThanOrEqual(100 * -Math.log(1e-6))
    for (let i = 0; i < 1000; i++) {
      const d = exponentialDelay(100, { minMs: 50, tailProbability: 1e-6, capMs: 120 })
      expect(d).toBeGreaterThanOrEqual(50)
      expect(d).toBeLessThanOrEqual(120)
    }
    expect(exponentialDelay(0, { tailProbability: 1e-6, capMs: 1000 })).toBe(0)
  })
})

describe('fragmentation and reassembly', () => {
  it('plans fragments that carry every byte and every SURB', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 100_000 }), fc.integer({ min: 0, max: 16 }), (length, surbs) => {
      const plan = planFragments(length, '/proto/1', surbs, 5)
      expect(plan.reduce((n, f) => n + f.bytes, 0)).toBe(length)
      expect(plan.reduce((n, f) => n + f.surbs, 0)).toBe(surbs)
      for (const f of plan) expect(f.bytes).toBeLessThanOrEqual(forwardDataCapacity('/proto/1', f.surbs))
    }))
    expect(planFragments(0, '/p', 0, 5)).toEqual([{ surbs: 0, bytes: 0 }])
    expect(forwardDataCapacity('/p', 5)).toBeGreaterThan(0)
    expect(forwardDataCapacity('/p', 6)).toBeLessThan(0)
    expect(SURB_LENGTH).toBe(734)
  })

  it('reassembles in any order, ignores duplicates, and enforces its bounds', () => {
    const r = new Reassembler<number>({ maxMessages: 2, maxBytes: 100, timeoutMs: 1000, maxFragments: 10 })
    expect(r.add('a', 2, 3, Uint8Array.of(3), 2)).toBeUndefined()
    expect(r.add('a', 0, 3, Uint8Array.of(1), 0)).toBeUndefined()
    expect(r.add('a', 0, 3, Uint8Array.of(9), 0)).toBeUndefined() // duplicate
    const whole = r.add('a', 1, 3, Uint8Array.of(2), 1)
    expect(Array.from(whole?.data ?? [])).toEqual([1, 2, 3])
    expect(whole?.metas).toEqual([0, 1, 2])
    r.add('b', 0, 2, new Uint8Array(10), 0)
    r.add('c', 0, 2, new Uint8Array(10), 0)
    expect(() => r.add('d', 0, 2, new Uint8Array(10), 0)).toThrow(MixQueueFullError)
    expect(() => r.add('b', 1, 3, new Uint8Array(1), 0)).toThrow(MixFragmentError)
    expect(() => r.add('b', 1, 2, new Uint8Array(200), 0)).toThrow(MixQueueFullError)
    expect(() => r.add('e', 0, 11, new Uint8Array(1), 0)).toThrow(MixFragmentError)
    expect(r.sweep(Date.now() + 2000).sort()).toEqual(['b', 'c'])
    expect(r.heldBytes).toBe(0)
  })
})

describe('replay table and keys', () => {
  it('never forgets a tag, signals its rotation threshold once, and refuses a tag past its capacity', () => {
    let signalled = 0
    const c = new ReplayCache(3, { rotateAt: 2, onRotate: () => { signalled++ } })
    const tags = [0, 1, 2].map(() => randomBytes(32))
    for (const t of tags) c.add(t)
    for (const t of tags) expect(c.has(t)).toBe(true)
    expect(c.has(randomBytes(32))).toBe(false)
    expect(signalled).toBe(1)
    expect(c.full).toBe(true)
    expect(() => { c.add(randomBytes(32)) }).toThrow(MixReplayTableFullError)
    expect(c.size).toBe(3)
  })

  it('rotates, keeps the old key through its grace period, and signals a filling table once', () => {
    let exhausted = 0
    const km = new KeyManager({ replayCacheSize: 2, graceMs: 1000, onExhausted: () => { exhausted++ } })
    const first = km.publicKey
    const now = Date.now()
    const second = km.rotate(undefined, now)
    expect(Buffer.from(second).equals(Buffer.from(first))).toBe(false)
    expect(km.processingKeys(now + 10)).toHaveLength(2)
    expect(km.processingKeys(now + 2000)).toHaveLength(1)
    const [current] = km.processingKeys()
    current?.replay.add(randomBytes(32))
    expect(exhausted).toBe(1) // 80 % of 2, rounded down, is 1
    current?.replay.add(randomBytes(32))
    expect(() => current?.replay.add(randomBytes(32))).toThrow(MixReplayTableFullError)
    expect(exhausted).toBe(1)
  })
})

describe('framing on /mix/1.0.0 streams', () => {
  it('splits any chunking of length-prefixed frames back into the frames', () => {
    fc.assert(fc.property(fc.array(fc.uint8Array({ maxLength: 5000 }), { maxLength: 6 }), fc.integer({ min: 1, max: 700 }), (frames, chunk) => {
      const wire = Buffer.concat(frames.map(encodeFrame))
      const d = new FrameDecoder(5000)
      const out: Uint8Array[] = []
      for (let i = 0; i < wire.length; i += chunk) out.push(...d.push(wire.subarray(i, i + chunk)))
      expect(out.map(f => Buffer.from(f).toString('hex'))).toEqual(frames.map(f => Buffer.from(f).toString('hex')))
    }), { numRuns: 50 })
  })

  it('refuses frames over the limit and runaway length prefixes', () => {
    expect(() => new FrameDecoder(10).push(encodeFrame(new Uint8Array(11)))).toThrow(MixFrameError)
    expect(() => new FrameDecoder(10).push(Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x01))).toThrow(MixFrameError)
  })
})

describe('mix node sources', () => {
  async function peer (): Promise<PeerId> { return peerIdFromPrivateKey(await generateKeyPair('Ed25519')) }

  it('accepts only 32-byte canonical large-order keys as record data', () => {
    expect(parseMixKey(generateMixKeyPair().publicKey)).toBeDefined()
    expect(parseMixKey(new Uint8Array(32))).toBeUndefined()
    expect(parseMixKey(new Uint8Array(33))).toBeUndefined()
    expect(parseMixKey(Uint8Array.from({ length: 32 }, () => 0xff))).toBeUndefined()
  })

  it('a static source lists what it is given', async () => {
    const p = await peer()
    const s = staticMixNodeSource([{ peerId: p, multiaddrs: [], mixPublicKey: generateMixKeyPair().publicKey }])
    expect(s.getNodes()).toHaveLength(1)
    s.remove(p)
    expect(s.getNodes()).toHaveLength(0)
  })

  it('a discovery source keeps the newest valid record per provider and advertises our key as record data', async () => {
    // An in-memory stand-in for the capability discovery service (the real one is exercised end to end on the devnet).
    const records = new Map<string, { peerId: PeerId, multiaddrs: ReturnType<typeof multiaddr>[], data: Uint8Array, seq: bigint }>()
    const listeners: Array<(e: CustomEvent<{ peerId: PeerId, multiaddrs: ReturnType<typeof multiaddr>[], serviceId: string, data: Uint8Array, seq: bigint }>) => void> = []
    const advertised: Uint8Array[] = []
    const discovery: MixDiscovery = {
      advertise: async (_protocol, options) => { advertised.push(options?.data ?? new Uint8Array(0)) },
      stopAdvertising: () => {},
      findProviders: async () => [...records.values()],
      addEventListener: (_t, l) => { listeners.push(l) },
      removeEventListener: () => {}
    }
    const self = await peer()
    const [p1, p2] = [await peer(), await peer()]
    const k1 = generateMixKeyPair().publicKey
    records.set('1', { peerId: p1, multiaddrs: [multiaddr('/ip4/127.0.0.1/tcp/1')], data: k1, seq: 1n })
    records.set('2', { peerId: p2, multiaddrs: [], data: new Uint8Array(31), seq: 1n }) // not a key: ignored
    records.set('3', { peerId: self, multiaddrs: [], data: generateMixKeyPair().publicKey, seq: 1n }) // ourselves: ignored
    const source = new DiscoveryMixNodeSource(discovery, { self, refreshIntervalMs: 60_000 })
    await source.refresh()
    expect(source.getNodes().map(n => n.peerId.toString())).toEqual([p1.toString()])
    // A rotated key arrives as a newer record through the 'provider' event; an older seq never replaces it.
    const k2 = generateMixKeyPair().publicKey
    source.start()
    for (const l of listeners) l(new CustomEvent('provider', { detail: { peerId: p1, multiaddrs: [], serviceId: '/mix/1.0.0', data: k2, seq: 2n } }))
    for (const l of listeners) l(new CustomEvent('provider', { detail: { peerId: p1, multiaddrs: [], serviceId: '/mix/1.0.0', data: k1, seq: 1n } }))
    expect(Buffer.from(source.getNodes()[0]?.mixPublicKey ?? []).equals(Buffer.from(k2))).toBe(true)
    source.stop()
    const mine = generateMixKeyPair().publicKey
    await source.advertise(mine)
    expect(advertised).toEqual([mine])
  })
})
