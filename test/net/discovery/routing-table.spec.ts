import { randomBytes } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { LruMap, RoutingTable, bucketIndex } from '../../../src/net/discovery/index.ts'
import type { PeerRef } from '../../../src/net/discovery/index.ts'

function peer (i: number, key: Uint8Array = new Uint8Array(randomBytes(32))): PeerRef {
  return { id: `peer-${i}`, idBytes: new Uint8Array([i]), key, addrs: [] }
}

describe('routing tables', () => {
  it('places each peer in bucket min(CLZ, m - 1), once, and refuses newcomers to a full bucket', () => {
    fc.assert(fc.property(fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { maxLength: 80 }), (keys) => {
      const center = new Uint8Array(32)
      const t = new RoutingTable(center, 16, 4)
      keys.forEach((k, i) => { t.add(peer(i, k)) })
      const perBucket = new Map<number, number>()
      for (const p of t.peers()) {
        const b = bucketIndex(center, p.key, 16)
        expect(t.bucket(b).some(q => q.id === p.id)).toBe(true)
        perBucket.set(b, (perBucket.get(b) ?? 0) + 1)
      }
      for (const n of perBucket.values()) expect(n).toBeLessThanOrEqual(4)
      expect(t.size).toBe(t.peers().length)
    }))
  })

  it('updates a known peer in place, removes, and never hands out an excluded peer', () => {
    const center = new Uint8Array(32)
    const t = new RoutingTable(center, 16, 20)
    const peers = Array.from({ length: 30 }, (_, i) => peer(i))
    for (const p of peers) t.add(p)
    expect(t.add({ ...(peers[0] as PeerRef), addrs: [new Uint8Array([1])] })).toBe(true)
    expect(t.get('peer-0')?.addrs.length).toBe(1)
    expect(t.remove('peer-0')).toBe(true)
    expect(t.has('peer-0')).toBe(false)
    const exclude = new Set(t.bucket(0).slice(1).map(p => p.id))
    for (let i = 0; i < 20; i++) {
      const p = t.randomIn(0, exclude)
      if (p !== undefined) expect(exclude.has(p.id)).toBe(false)
    }
    const spread = t.onePerBucket(new Set())
    const buckets = spread.map(p => t.bucketOf(p))
    expect(new Set(buckets).size).toBe(buckets.length)
  })

  it('LRU maps stay within their capacity and keep the recently used', () => {
    const m = new LruMap<string, number>(3)
    for (const [i, k] of ['a', 'b', 'c'].entries()) m.set(k, i)
    m.get('a')
    m.set('d', 4)
    expect(m.size).toBe(3)
    expect(m.get('b')).toBeUndefined()
    expect(m.get('a')).toBe(0)
  })
})
