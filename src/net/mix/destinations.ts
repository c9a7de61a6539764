import { CODE_IP4 } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * Which IPv4 addresses a relay may dial on a packet's say. A hop address is whatever the packet's sender wrote, so
 * an exit that dials any address is an open proxy into its own network and, through the reply status, a port
 * scanner. Unless `allowPrivateDestinations` is on (a devnet, a private deployment), next hops, destinations and
 * SURB first hops must be public: not in a special-purpose block of RFC 6890 (this host, private, shared CGNAT,
 * loopback, link-local, protocol assignments, documentation, benchmarking, 6to4 relay) nor multicast or reserved.
 */
const NON_PUBLIC: ReadonlyArray<readonly [number, number]> = [
  [0x00000000, 8], // 0.0.0.0/8 this network
  [0x0a000000, 8], // 10/8 private
  [0x64400000, 10], // 100.64/10 shared address space (CGNAT)
  [0x7f000000, 8], // 127/8 loopback
  [0xa9fe0000, 16], // 169.254/16 link-local
  [0xac100000, 12], // 172.16/12 private
  [0xc0000000, 24], // 192.0.0/24 IETF protocol assignments
  [0xc0000200, 24], // 192.0.2/24 TEST-NET-1
  [0xc0586300, 24], // 192.88.99/24 6to4 relay anycast
  [0xc0a80000, 16], // 192.168/16 private
  [0xc6120000, 15], // 198.18/15 benchmarking
  [0xc6336400, 24], // 198.51.100/24 TEST-NET-2
  [0xcb007100, 24], // 203.0.113/24 TEST-NET-3
  [0xe0000000, 4], // 224/4 multicast
  [0xf0000000, 4] // 240/4 reserved, and the broadcast address
]

function parseIPv4 (ip: string): number | undefined {
  const parts = ip.split('.')
  if (parts.length !== 4) return undefined
  let v = 0
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return undefined
    const n = Number(p)
    if (n > 255) return undefined
    v = v * 256 + n
  }
  return v
}

/** True when `ip` (dotted IPv4) is a public unicast address. */
export function isPublicIPv4 (ip: string): boolean {
  const v = parseIPv4(ip)
  if (v === undefined) return false
  for (const [base, bits] of NON_PUBLIC) {
    const size = 2 ** (32 - bits)
    if (v >= base && v < base + size) return false
  }
  return true
}

/** The IPv4 address a hop multiaddr dials (the first /ip4 component: a circuit relay's own address). */
export function dialedIPv4 (ma: Multiaddr): string | undefined {
  return ma.getComponents().find(c => c.code === CODE_IP4)?.value
}
