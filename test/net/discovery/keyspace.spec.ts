import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { bucketIndex, commonPrefixLength, compareDistance, serviceIdOf, toHex } from '../../../src/net/discovery/index.ts'

describe('keyspace', () => {
  it('service id = SHA-256(protocol id): the spec vectors', () => {
    // LOGOS-SERVICE-DISCOVERY, "Service ID" table.
    expect(toHex(serviceIdOf('/waku/store/1.0.0'))).toBe('313a14f48b3617b0ac87daabd61c1f1f1bf6a59126da455909b7b11155e0eb8e')
    expect(toHex(serviceIdOf('/libp2p/mix/1.2.0'))).toBe('9c55878d86e575916b267195b34125336c83056dffc9a184069bcb126a78115d')
  })

  it('bucket i = min(CLZ(x XOR y), m - 1), m - 1 for the centre itself', () => {
    const center = new Uint8Array(32)
    const far = new Uint8Array(32); far[0] = 0x80
    const near = new Uint8Array(32); near[1] = 0x01 // 15 leading zero bits
    const nearer = new Uint8Array(32); nearer[2] = 0x01 // 23 leading zero bits
    expect(bucketIndex(center, far, 16)).toBe(0)
    expect(bucketIndex(center, near, 16)).toBe(15)
    expect(bucketIndex(center, nearer, 16)).toBe(15)
    expect(bucketIndex(center, nearer, 256)).toBe(23)
    expect(bucketIndex(center, center, 16)).toBe(15)
    expect(commonPrefixLength(center, center)).toBe(256)
  })

  it('common prefix length is symmetric and agrees with the XOR ordering', () => {
    const key = fc.uint8Array({ minLength: 32, maxLength: 32 })
    fc.assert(fc.property(key, key, key, (t, a, b) => {
      expect(commonPrefixLength(a, b)).toBe(commonPrefixLength(b, a))
      // a longer shared prefix with the target means a smaller XOR distance
      const ca = commonPrefixLength(t, a)
      const cb = commonPrefixLength(t, b)
      if (ca > cb) expect(compareDistance(t, a, b)).toBeLessThan(0)
      if (ca < cb) expect(compareDistance(t, a, b)).toBeGreaterThan(0)
    }))
  })
})
