/**
 * The far side of the TCP relay benchmark, on its own thread: a sender that builds packets for the path
 * relay -> sink -> (anyone) and pumps them at the relay over one stream, and the sink, the relay's next hop, which
 * counts the packets the relay forwards.
 */
import { randomBytes } from 'node:crypto'
import { parentPort, workerData } from 'node:worker_threads'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { buildPacket, encodeAddress, encodeForwardMessage, generateMixKeyPair } from '../src/crypto/sphinx/index.ts'
import { FrameDecoder, encodeFrame } from '../src/net/mix/index.ts'

const { relayAddr, relayPublicKey, packets: count } = workerData as { relayAddr: string, relayPublicKey: string, packets: number }

const node = async (): Promise<Awaited<ReturnType<typeof createLibp2p>>> => await createLibp2p({
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()]
})

const sink = await node()
const sender = await node()
let received = 0
let lastAt = 0
await sink.handle('/mix/1.0.0', async (stream) => {
  const decoder = new FrameDecoder(1 << 20)
  for await (const chunk of stream) {
    received += decoder.push(chunk).length
    lastAt = performance.now()
  }
}, { maxInboundStreams: 64 })

const relay = multiaddr(relayAddr)
const relayPeer = relay.getComponents().find(c => c.name === 'p2p')?.value
const relayHop = { publicKey: new Uint8Array(Buffer.from(relayPublicKey, 'hex')), address: encodeAddress(peerIdFromString(relayPeer as string), multiaddr(relayAddr.replace(/\/p2p\/.*$/, ''))) }
const sinkKeys = generateMixKeyPair()
const sinkHop = { publicKey: sinkKeys.publicKey, address: encodeAddress(sink.peerId, multiaddr(sink.getMultiaddrs()[0]?.toString().replace(/\/p2p\/.*$/, ''))) }
const farPeer = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
const farHop = { publicKey: generateMixKeyPair().publicKey, address: encodeAddress(farPeer, multiaddr('/ip4/127.0.0.1/tcp/9')) }
const data = randomBytes(1000)
const frames = Array.from({ length: count }, () => encodeFrame(buildPacket({
  hops: [relayHop, sinkHop, farHop],
  delays: [1, 1],
  exit: { destination: farHop.address },
  ephemeral: randomBytes(32),
  message: encodeForwardMessage({ codec: '/bench/1', surbs: [], fragment: { messageId: randomBytes(8), index: 0, count: 1 }, data })
}).packet))

const stream = await sender.dialProtocol(relay, '/mix/1.0.0')
parentPort?.postMessage({ started: true })
const t0 = performance.now()
for (const f of frames) {
  if (!stream.send(f)) await stream.onDrain()
}
const deadline = performance.now() + 120_000
while (received < count && performance.now() < deadline) await new Promise(resolve => setTimeout(resolve, 5))
parentPort?.postMessage({ sent: count, forwarded: received, seconds: (lastAt - t0) / 1000 })
await Promise.all([sink.stop(), sender.stop()])
