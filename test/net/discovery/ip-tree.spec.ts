import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { IpTree, ipBytes } from '../../../src/net/discovery/index.ts'

describe('IP tree', () => {
  it('parses IPv4, IPv6 and IPv4-mapped IPv6', () => {
    expect([...ipBytes('10.1.2.3') ?? []]).toEqual([10, 1, 2, 3])
    expect([...ipBytes('::ffff:10.1.2.3') ?? []]).toEqual([10, 1, 2, 3])
    expect(ipBytes('2001:db8::1')?.length).toBe(16)
    expect(ipBytes('2001:db8::1')?.[15]).toBe(1)
    expect(ipBytes('not an ip')).toBeUndefined()
  })

  it('scores 0 on an empty tree, 1 for an unknown origin, and high for a crowded prefix', () => {
    const t = new IpTree()
    expect(t.score('10.0.0.1')).toBe(0)
    expect(t.score(undefined)).toBe(1)
    for (let i = 0; i < 50; i++) t.add(`10.0.0.${i}`)
    t.add('200.1.1.1')
    const crowded = t.score('10.0.0.77')
    const lonely = t.score('150.0.0.1')
    expect(crowded).toBeGreaterThan(0.7)
    expect(lonely).toBeLessThan(0.1)
    // the same address again: every vertex on its path is above its balanced share
    expect(t.score('10.0.0.3')).toBeGreaterThan(crowded)
  })

  it('add and remove are inverse, counts never go negative (property)', () => {
    const ip = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map(p => p.join('.'))
    fc.assert(fc.property(fc.array(ip, { maxLength: 60 }), (ips) => {
      const t = new IpTree()
      for (const a of ips) t.add(a)
      expect(t.size).toBe(ips.length)
      for (const a of ips) {
        const s = t.score(a)
        expect(s).toBeGreaterThanOrEqual(0)
        expect(s).toBeLessThanOrEqual(1)
      }
      for (const a of ips) expect(t.remove(a)).toBe(true)
      expect(t.size).toBe(0)
      expect(t.remove(ips[0] ?? '1.2.3.4')).toBe(false)
      expect(t.score('1.2.3.4')).toBe(0)
    }))
  })

  it('keeps IPv6 in a tree of its own', () => {
    const t = new IpTree()
    t.add('2001:db8::1')
    t.add('2001:db8::2')
    expect(t.size).toBe(2)
    expect(t.score('10.0.0.1')).toBe(0)
    expect(t.score('2001:db8::3')).toBeGreaterThan(0.5)
  })
})
