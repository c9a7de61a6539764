/**
 * Computes every output of the Sphinx test vectors from their inputs (used by generate.ts to write the files and by
 * vectors.spec.ts to check them).
 */
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import {
  basePointMul, buildPacket, computePathSecrets, createSurb, encodeAddress, encodeForwardMessage, encodeReplyMessage,
  encodeSurb, importScalar, kdf, lionessEncrypt, processPacket, recoverReply, useSurb
} from '../../../../src/crypto/sphinx/index.ts'
import type { PathHop, ProcessResult, ProcessingKey } from '../../../../src/crypto/sphinx/index.ts'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'))

interface NodeInput { peerSeed: string, mixPrivateKey: string, multiaddr: string }

async function node (input: NodeInput): Promise<{ hop: PathHop, key: ProcessingKey, peerId: string, publicKey: string, address: string }> {
  const peer = peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', unhex(input.peerSeed)))
  const publicKey = basePointMul(unhex(input.mixPrivateKey))
  const address = encodeAddress(peer, multiaddr(input.multiaddr))
  const seen = new Set<string>()
  return {
    hop: { publicKey, address },
    key: { privateKey: importScalar(unhex(input.mixPrivateKey)), replay: { has: t => seen.has(hex(t)), add: t => { seen.add(hex(t)) } } },
    peerId: peer.toString(),
    publicKey: hex(publicKey),
    address: hex(address)
  }
}

function hopOutput (r: ProcessResult): Record<string, unknown> {
  switch (r.type) {
    case 'forward': return { type: r.type, replayTag: hex(r.tag), nextHop: hex(r.nextHop), delayMs: r.delayMs, packet: hex(r.packet) }
    case 'exit': return { type: r.type, replayTag: hex(r.tag), destination: hex(r.destination), message: hex(r.message) }
    case 'reply': return { type: r.type, replayTag: hex(r.tag), surbId: hex(r.surbId), payload: hex(r.payload) }
  }
}

/* eslint-disable @typescript-eslint/no-explicit-any -- the vector files are plain JSON read back without a schema */
export async function computeVectors (inputs: Record<string, any>): Promise<Record<string, unknown>> {
  const kdfCases = (inputs.kdf as Array<{ label: string, seed: string }>).map(c => ({ ...c, output: hex(kdf(c.label, unhex(c.seed))) }))

  const lionessCases = (inputs.lioness as Array<{ seed: string, plaintext: string }>).map(c => ({ ...c, ciphertext: hex(lionessEncrypt(unhex(c.seed), unhex(c.plaintext))) }))

  const packetCases = []
  for (const p of inputs.packets as any[]) {
    const hops = await Promise.all((p.hops as NodeInput[]).map(node))
    const destPeer = peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', unhex(p.destination.peerSeed)))
    const destination = encodeAddress(destPeer, multiaddr(p.destination.multiaddr))
    const m = encodeForwardMessage({ codec: p.message.codec, surbs: [], fragment: { messageId: unhex(p.message.messageId), index: 0, count: 1 }, data: unhex(p.message.data) })
    const secrets = computePathSecrets(hops.map(h => h.hop), unhex(p.ephemeral))
    const { packet } = buildPacket({ hops: hops.map(h => h.hop), delays: p.delays, exit: { destination }, ephemeral: unhex(p.ephemeral), message: m })
    const perHop = []
    let current = packet
    for (const h of hops) {
      const r = processPacket(current, [h.key])
      perHop.push(hopOutput(r))
      if (r.type === 'forward') current = r.packet
    }
    packetCases.push({
      input: p,
      derived: {
        hops: hops.map(h => ({ peerId: h.peerId, mixPublicKey: h.publicKey, address: h.address })),
        destinationPeerId: destPeer.toString(),
        destinationAddress: hex(destination),
        message: hex(m),
        alpha0: hex(secrets.alpha),
        sharedSecrets: secrets.secrets.map(hex)
      },
      packet: hex(packet),
      hops: perHop
    })
  }

  const s = inputs.surb
  const creator = await node(s.creator)
  const returnHops = await Promise.all((s.returnHops as NodeInput[]).map(node))
  const { surb, secrets } = createSurb({
    hops: [...returnHops.map(h => h.hop), creator.hop],
    delays: s.delays,
    id: unhex(s.id),
    replyKey: unhex(s.replyKey),
    ephemeral: unhex(s.ephemeral)
  })
  const replyM = encodeReplyMessage({ status: s.reply.status, index: 0, count: 1, data: unhex(s.reply.data) })
  const replyPacket = useSurb(surb, replyM)
  const surbHops = []
  let current = replyPacket
  let recovered = ''
  for (const h of [...returnHops, creator]) {
    const r = processPacket(current, [h.key])
    surbHops.push(hopOutput(r))
    if (r.type === 'forward') current = r.packet
    if (r.type === 'reply') recovered = hex(recoverReply(secrets, r.payload))
  }

  return {
    kdf: { description: 'KDF(label, seed) = SHA-256(label || seed) (mix.md 8.2)', cases: kdfCases },
    lioness: { description: 'LIONESS.Enc(seed, plaintext) (mix-lioness.md 5): S = AES-128-CTR, H_k(m) = SHA-256(k || m)', cases: lionessCases },
    packets: {
      description: 'Forward packets (mix.md 8.5, 8.6): the packet built from the inputs and what each hop computes from it. Messages use the payload layout of docs/mix.md.',
      cases: packetCases
    },
    surb: {
      description: 'A SURB (mix.md 8.7) made by `creator` over `returnHops`, used once for `reply`, processed hop by hop and recovered.',
      input: s,
      derived: { creatorAddress: creator.address, returnHops: returnHops.map(h => ({ peerId: h.peerId, mixPublicKey: h.publicKey, address: h.address })), replyMessage: hex(replyM) },
      surb: hex(encodeSurb(surb)),
      replyPacket: hex(replyPacket),
      hops: surbHops,
      recoveredMessage: recovered
    }
  }
}
/* eslint-enable @typescript-eslint/no-explicit-any */
