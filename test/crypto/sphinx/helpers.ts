import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { PeerId } from '@libp2p/interface'
import { encodeAddress, generateMixKeyPair, importScalar } from '../../../src/crypto/sphinx/index.ts'
import type { PathHop, ProcessingKey, ReplayGuard } from '../../../src/crypto/sphinx/index.ts'

export interface TestNode {
  peerId: PeerId
  privateKey: Uint8Array
  publicKey: Uint8Array
  address: Uint8Array
  hop: PathHop
  key: ProcessingKey
  seen: Set<string>
}

export function memoryReplayGuard (seen = new Set<string>()): ReplayGuard {
  return {
    has: (t) => seen.has(Buffer.from(t).toString('hex')),
    add: (t) => { seen.add(Buffer.from(t).toString('hex')) }
  }
}

export async function testNodes (n: number, basePort = 4000): Promise<TestNode[]> {
  const out: TestNode[] = []
  for (let i = 0; i < n; i++) {
    const peerId = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const { privateKey, publicKey } = generateMixKeyPair()
    const address = encodeAddress(peerId, multiaddr(`/ip4/127.0.0.1/tcp/${basePort + i}`))
    const seen = new Set<string>()
    out.push({ peerId, privateKey, publicKey, address, hop: { publicKey, address }, key: { privateKey: importScalar(privateKey), replay: memoryReplayGuard(seen) }, seen })
  }
  return out
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
