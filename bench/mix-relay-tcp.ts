import { Worker } from 'node:worker_threads'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { generateMixKeyPair } from '../src/crypto/sphinx/index.ts'
import { mixnet, staticMixNodeSource } from '../src/net/mix/index.ts'
import type { Mixnet } from '../src/net/mix/index.ts'

export interface TcpRelayResult {
  sent: number
  forwarded: number
  seconds: number
  packetsPerS: number
  /** Per second of the relay thread's CPU time (process.threadCpuUsage: the worker's is not counted). */
  packetsPerCpuS: number
}

/**
 * One relay as a js-libp2p node (TCP, Noise, Yamux) on this thread, with mixing off; a worker thread (the other core)
 * runs a sender that pumps prebuilt packets at it and the next hop that counts what the relay forwards.
 */
export async function relayThroughputTcp (options: { packets: number }): Promise<TcpRelayResult> {
  const keys = generateMixKeyPair()
  const relay = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      mix: mixnet({ mixPrivateKey: keys.privateKey, mixing: false, cover: { strategy: 'none' }, keyRotationIntervalMs: 0, slotsPerEpoch: 1e9, nodeSource: staticMixNodeSource(), maxDelayedPackets: 1e6, maxQueuedPerPeer: 1e6, allowPrivateDestinations: true, inboundPeerRate: { perSecond: 1e9, burst: 1e9 } })
    }
  })
  const mix = relay.services.mix as Mixnet
  const worker = new Worker(new URL('./mix-relay-tcp-worker.ts', import.meta.url), {
    workerData: {
      relayAddr: relay.getMultiaddrs()[0]?.toString(),
      relayPublicKey: Buffer.from(keys.publicKey).toString('hex'),
      packets: options.packets
    }
  })
  try {
    let cpu0: NodeJS.CpuUsage | undefined
    const result = await new Promise<{ sent: number, forwarded: number, seconds: number }>((resolve, reject) => {
      worker.on('message', (m: { started?: boolean, sent: number, forwarded: number, seconds: number }) => {
        if (m.started === true) cpu0 = process.threadCpuUsage()
        else resolve(m)
      })
      worker.once('error', reject)
    })
    const cpu = process.threadCpuUsage(cpu0)
    const rejected = mix.getStats().rejected
    if (Object.keys(rejected).length > 0) console.log('relay rejections:', rejected)
    return { ...result, packetsPerS: result.forwarded / result.seconds, packetsPerCpuS: result.forwarded / ((cpu.user + cpu.system) / 1e6) }
  } finally {
    await worker.terminate()
    await relay.stop()
  }
}
