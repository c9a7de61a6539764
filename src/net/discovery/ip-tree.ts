import { isIPv4, isIPv6 } from 'node:net'

interface IpNode {
  count: number
  zero: IpNode | undefined
  one: IpNode | undefined
}

function newNode (): IpNode {
  return { count: 0, zero: undefined, one: undefined }
}

/** The bytes of an IPv4 (4) or IPv6 (16) address; IPv4-mapped IPv6 counts as IPv4. Undefined when not an IP. */
export function ipBytes (ip: string): Uint8Array | undefined {
  if (isIPv4(ip)) return Uint8Array.from(ip.split('.').map(Number))
  if (!isIPv6(ip)) return undefined
  const zone = ip.indexOf('%')
  let text = zone >= 0 ? ip.slice(0, zone) : ip
  let tail: number[] = []
  const lastColon = text.lastIndexOf(':')
  if (text.slice(lastColon + 1).includes('.')) {
    tail = text.slice(lastColon + 1).split('.').map(Number)
    text = text.slice(0, lastColon + 1) + '0:0'
  }
  const [head = '', rest] = text.split('::') as [string, string | undefined]
  const parse = (s: string): number[] => s === '' ? [] : s.split(':').map(h => parseInt(h, 16))
  const left = parse(head)
  const right = rest === undefined ? [] : parse(rest)
  const groups = rest === undefined ? left : [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right]
  const out = new Uint8Array(16)
  groups.forEach((g, i) => { out[i * 2] = g >> 8; out[i * 2 + 1] = g & 0xff })
  if (tail.length === 4) out.set(tail, 12)
  const mapped = out.subarray(0, 10).every(b => b === 0) && out[10] === 0xff && out[11] === 0xff
  return mapped ? out.slice(12) : out
}

/**
 * The IP tree of LOGOS-SERVICE-DISCOVERY ("IP Similarity Score"): a binary tree over the bits of the addresses of ad
 * cache entries, each vertex counting the entries whose address passes through it. A 32-level tree for IPv4 and a
 * 128-level one for IPv6 (the spec's suggested extension). Insert, remove and score are O(address bits).
 */
export class IpTree {
  private readonly root4 = newNode()
  private readonly root6 = newNode()

  /** Entries counted (the roots' counters). */
  get size (): number {
    return this.root4.count + this.root6.count
  }

  /** ADD_IP_TO_TREE: counts one more entry for `ip`. Returns false when `ip` is not an IP address. */
  add (ip: string): boolean {
    const bytes = ipBytes(ip)
    if (bytes === undefined) return false
    let v = bytes.length === 4 ? this.root4 : this.root6
    v.count++
    for (const byte of bytes) {
      for (let bit = 7; bit >= 0; bit--) {
        const one = ((byte >> bit) & 1) === 1
        let next = one ? v.one : v.zero
        if (next === undefined) {
          next = newNode()
          if (one) v.one = next
          else v.zero = next
        }
        next.count++
        v = next
      }
    }
    return true
  }

  /** REMOVE_FROM_IP_TREE: counts one entry less for `ip`, pruning vertices that reach zero. */
  remove (ip: string): boolean {
    const bytes = ipBytes(ip)
    if (bytes === undefined) return false
    const root = bytes.length === 4 ? this.root4 : this.root6
    const path: IpNode[] = [root]
    let v: IpNode | undefined = root
    for (const byte of bytes) {
      for (let bit = 7; bit >= 0; bit--) {
        v = ((byte >> bit) & 1) === 1 ? v.one : v.zero
        if (v === undefined || v.count === 0) return false
        path.push(v)
      }
    }
    if (root.count === 0) return false
    for (const node of path) node.count--
    for (let i = path.length - 1; i > 0; i--) {
      const node = path[i] as IpNode
      if (node.count > 0) break
      const parent = path[i - 1] as IpNode
      if (parent.one === node) parent.one = undefined
      else parent.zero = undefined
    }
    return true
  }

  /**
   * CALCULATE_IP_SCORE: the fraction of prefix vertices on `ip`'s path that hold more entries than a perfectly
   * balanced tree would (root / 2^depth). The spec's prose says "larger than expected in a perfectly balanced tree";
   * its pseudocode compares the depth-1 vertex with root / 2^0, which can never be exceeded, so we follow the prose
   * (as nim-libp2p does): the vertex at depth d is compared with root / 2^d. 0 for an empty tree; 1 for an address
   * that is not an IP (unknown origin gets the least benefit of the doubt, as in nim-libp2p).
   */
  score (ip: string | undefined): number {
    const bytes = ip === undefined ? undefined : ipBytes(ip)
    if (bytes === undefined) return 1
    const root = bytes.length === 4 ? this.root4 : this.root6
    const bits = bytes.length * 8
    if (root.count === 0) return 0
    let v: IpNode | undefined = root
    let threshold = root.count / 2
    let score = 0
    for (const byte of bytes) {
      for (let bit = 7; bit >= 0; bit--) {
        v = ((byte >> bit) & 1) === 1 ? v.one : v.zero
        if (v === undefined) return score / bits
        if (v.count > threshold) score++
        threshold /= 2
      }
    }
    return score / bits
  }
}
