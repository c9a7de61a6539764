/**
 * `npm run bench -- storage [--mib N] [--runs R] [--depth D]`: Logos Storage between two local nodes (js-libp2p over TCP on 127.0.0.1, Noise,
 * Yamux), each on its own thread. The provider stores N MiB (upload_mib_per_s: chunking, SHA-256, Merkle tree and
 * proofs, SQLite writes); the other node downloads it (download_mib_per_s: presence, WantBlocks batches, per-block
 * verification, SQLite writes). verify_mib_per_s is the per-block check alone (SHA-256 of the block and its Merkle
 * proof). Baselines measured in the same run between the same two threads: a plain TCP copy of N MiB
 * (tcp_mib_per_s) and a raw copy over a libp2p stream (libp2p_stream_mib_per_s), with the ratios. Each figure is the
 * median of R runs (default 3).
 */
import { connect } from 'node:net'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { peerIdFromString } from '@libp2p/peer-id'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { BLOCK_CODEC, MerkleTree, cidOf, sha256, storage, verifyProof } from '../src/net/storage/index.ts'
import type { StorageService } from '../src/net/storage/index.ts'
import { round } from './measure.ts'


interface Ready { cid: string, addrs: string[], peerId: string, uploadSeconds: number[], tcpPort: number }

function arg (args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? Number(args[i + 1]) : fallback
}

async function tcpCopy (port: number, bytes: number): Promise<number> {
  return await new Promise((resolve, reject) => {
    const t0 = performance.now()
    let got = 0
    const socket = connect(port, '127.0.0.1')
    socket.on('data', (d) => { got += d.length })
    socket.on('end', () => {
      if (got !== bytes) reject(new Error(`tcp copy got ${got} of ${bytes}`))
      resolve((bytes / (1024 * 1024)) / ((performance.now() - t0) / 1000))
    })
    socket.on('error', reject)
  })
}

function verifyRate (blocks: number): number {
  const blockSize = 64 * 1024
  const data = Array.from({ length: blocks }, (_, i) => new Uint8Array(blockSize).fill(i & 0xff))
  const leaves = data.map(sha256)
  const tree = new MerkleTree(leaves)
  const proofs = leaves.map((_, i) => tree.proof(i))
  const t0 = performance.now()
  for (let i = 0; i < blocks; i++) {
    const hash = sha256(data[i] as Uint8Array)
    if (!cidOf(BLOCK_CODEC, hash).multihash.digest.every((b, j) => b === leaves[i]?.[j])) throw new Error('hash')
    verifyProof(proofs[i] as ReturnType<MerkleTree['proof']>, hash, tree.root, i, blocks)
  }
  return (blocks * blockSize / (1024 * 1024)) / ((performance.now() - t0) / 1000)
}

export async function run (args: string[]): Promise<Record<string, unknown>> {
  const mib = arg(args, 'mib', 64)
  const depth = arg(args, 'depth', 0)
  const runs = arg(args, 'runs', 3)
  const bytes = mib * 1024 * 1024
  const worker = new Worker(new URL('./storage-provider-worker.ts', import.meta.url), { workerData: { mib, runs } })
  const ready = await new Promise<Ready>((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
  const dir = mkdtempSync(join(tmpdir(), 'logos-bench-downloader-'))
  const node = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { storage: storage({ dataDir: dir, pipelineDepth: depth > 0 ? depth : undefined, routing: { provide: async () => {}, unprovide: () => {}, findProviders: async () => [] } }) }
  })
  try {
    const service = node.services.storage as StorageService
    const provider = { peerId: peerIdFromString(ready.peerId), multiaddrs: ready.addrs.map(a => multiaddr(a)) }
    const downloads: number[] = []
    const tcps: number[] = []
    const streams: number[] = []
    const verifies: number[] = []
    // The figures are taken in turns, run after run, so each sees the same load on the shared machine.
    for (let r = 0; r < runs; r++) {
      service.remove(ready.cid)
      const t0 = performance.now()
      const info = await service.fetch(ready.cid, { providers: [provider] })
      downloads.push(mib / ((performance.now() - t0) / 1000))
      if (!service.exists(ready.cid) || info.datasetSize !== bytes) throw new Error('download incomplete')

      const t1 = performance.now()
      const stream = await node.dialProtocol(provider.multiaddrs, '/bench/raw/1.0.0')
      let got = 0
      for await (const chunk of stream) got += chunk.byteLength
      if (got !== bytes) throw new Error(`libp2p copy got ${got} of ${bytes}`)
      streams.push(mib / ((performance.now() - t1) / 1000))
      tcps.push(await tcpCopy(ready.tcpPort, bytes))
      verifies.push(verifyRate(1024))
    }
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
    const download = median(downloads)
    const tcpRate = median(tcps)
    const libp2pRate = median(streams)
    const verify = median(verifies)
    const upload = median(ready.uploadSeconds.map(s => mib / s))
    console.log(`${mib} MiB, ${runs} runs: upload ${ready.uploadSeconds.map(s => round(mib / s, 1)).join(' ')} MiB/s, download ${downloads.map(d => round(d, 1)).join(' ')}, tcp ${tcps.map(d => round(d, 1)).join(' ')}, libp2p stream ${streams.map(d => round(d, 1)).join(' ')}, verify ${verifies.map(d => round(d, 1)).join(' ')}`)
    return {
      dataset_mib: mib,
      block_kib: 64,
      runs,
      upload_mib_per_s: round(upload, 1),
      download_mib_per_s: round(download, 1),
      verify_mib_per_s: round(verify, 1),
      tcp_mib_per_s: round(tcpRate, 1),
      libp2p_stream_mib_per_s: round(libp2pRate, 1),
      download_vs_tcp: round(download / tcpRate, 3),
      download_vs_libp2p_stream: round(download / libp2pRate, 3)
    }
  } finally {
    await node.stop()
    rmSync(dir, { recursive: true, force: true })
    worker.postMessage('stop')
    await new Promise(resolve => { worker.once('message', resolve); setTimeout(resolve, 5000) })
    await worker.terminate()
  }
}
