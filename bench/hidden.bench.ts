import { randomBytes } from 'node:crypto'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import type { Libp2p } from 'libp2p'
import { summarize } from '../src/common/index.ts'
import { mixnet, staticMixNodeSource } from '../src/net/mix/index.ts'
import type { Mixnet, MixnetInit } from '../src/net/mix/index.ts'
import { mixHiddenServices } from '../src/net/mix-hidden/index.ts'
import type { HiddenServices } from '../src/net/mix-hidden/index.ts'
import { round } from './measure.ts'

type Node = Libp2p<{ mix: Mixnet, hidden: HiddenServices, identify: unknown }>

/**
 * `npm run bench -- hidden [--quick] [--fast] [--rounds N]`
 *
 * Ten js-libp2p nodes on TCP loopback, each a mix node with the hidden-service layer; the mix delays are the deployed
 * ones (100 ms mean per hop, sender and exit) with a devnet's cover rate, unless `--fast` (5 ms, no cover). S hosts a
 * service, C uses it. In the same run, as the baseline, C sends plain mixRequests to a handler on S.
 *
 * - descriptor_publish_ms: one descriptor to its 4 directories, until all acknowledged (each a one-packet message
 *   through 3 hops, the answer through a SURB) -- p50 over the runs;
 * - lookup_ms: a fresh descriptor lookup by address (directories asked 2 at a time) -- p50;
 * - first_response_ms: connection setup with the descriptor at hand: Introduce1 to an introduction point, Introduce2
 *   through an intro-SURB, the service's answer through a rendezvous node and a client-SURB -- p50 over new sessions;
 * - rtt_ms_p50 (and p90): a 64-byte request and its answer over an established session (forward path to a
 *   rendezvous node, then the other side's SURB path, each way);
 * - mix_rtt_ms_p50: a plain mixRequest of 64 bytes from C to S and back (3 hops out, 3 back) -- the baseline;
 *   rtt_ratio = rtt_ms_p50 / mix_rtt_ms_p50, setup_ratio = first_response_ms / mix_rtt_ms_p50.
 */
export async function run (args: string[]): Promise<Record<string, unknown>> {
  const quick = args.includes('--quick')
  const fast = args.includes('--fast')
  const roundsArg = args.indexOf('--rounds')
  const rounds = roundsArg >= 0 ? Number(args[roundsArg + 1]) : quick ? 8 : 30
  const mixInit: MixnetInit = fast
    ? { meanDelayMs: 5, senderDelayMs: 5, exitDelayMs: 5, cover: { strategy: 'none' }, keyRotationIntervalMs: 0 }
    : { slotsPerEpoch: 240, keyRotationIntervalMs: 0 }

  const source = staticMixNodeSource()
  const nodes: Node[] = []
  for (let i = 0; i < 10; i++) {
    const node = await createLibp2p({
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { identify: identify(), mix: mixnet({ nodeSource: source, ...mixInit }), hidden: mixHiddenServices() }
    })
    nodes.push(node as unknown as Node)
  }
  for (const n of nodes) source.add({ peerId: n.peerId, multiaddrs: n.getMultiaddrs(), mixPublicKey: n.services.mix.publicKey })
  const C = nodes[0] as Node
  const S = nodes[9] as Node
  try {
    const hostStart = performance.now()
    const service = await S.services.hidden.host({ protocol: '/bench/echo/1', handler: ({ data }) => data })
    console.log(`hosted ${service.address} in ${round(performance.now() - hostStart)} ms (intro points and first publication)`)
    await S.services.mix.handle('/bench/mix-echo/1', ({ data }) => data)
    const payload = randomBytes(64)

    const publish: number[] = []
    for (let i = 0; i < rounds; i++) {
      const results = await service.publish()
      const current = results[0]
      if (current === undefined || current.stored < current.tried) console.log(`publish ${i}: ${current?.stored ?? 0} of ${current?.tried ?? 0} stored`)
      publish.push(current?.ms ?? Number.NaN)
    }
    const lookup: number[] = []
    for (let i = 0; i < rounds; i++) {
      const t = performance.now()
      await C.services.hidden.lookup(service.address, { fresh: true })
      lookup.push(performance.now() - t)
    }
    const first: number[] = []
    for (let i = 0; i < rounds; i++) {
      C.services.hidden.disconnect(service.address)
      const t = performance.now()
      await C.services.hidden.request(service.address, '/bench/echo/1', payload)
      first.push(performance.now() - t)
    }
    // Session round trips and plain mix round trips, interleaved so both see the same load.
    const rtt: number[] = []
    const mixRtt: number[] = []
    for (let i = 0; i < rounds * 2; i++) {
      let t = performance.now()
      await C.services.hidden.request(service.address, '/bench/echo/1', payload)
      rtt.push(performance.now() - t)
      t = performance.now()
      await C.services.mix.request(S.peerId, '/bench/mix-echo/1', payload)
      mixRtt.push(performance.now() - t)
    }
    const p50 = (xs: number[]): number => summarize(xs).p50
    const figures = {
      mode: fast ? 'fast (5 ms delays, no cover)' : 'deployed delays (100 ms mean), devnet cover',
      nodes: nodes.length,
      rounds,
      descriptor_publish_ms: round(p50(publish)),
      lookup_ms: round(p50(lookup)),
      first_response_ms: round(p50(first)),
      rtt_ms_p50: round(p50(rtt)),
      rtt_ms_p90: round(summarize(rtt).p90),
      mix_rtt_ms_p50: round(p50(mixRtt)),
      rtt_ratio: round(p50(rtt) / p50(mixRtt), 2),
      setup_ratio: round(p50(first) / p50(mixRtt), 2),
      rejected: Object.fromEntries(nodes.flatMap(n => Object.entries(n.services.hidden.getStats().rejected)).reduce((m, [k, v]) => m.set(k, (m.get(k) ?? 0) + v), new Map<string, number>()))
    }
    console.log(`publish p50 ${figures.descriptor_publish_ms} ms, lookup p50 ${figures.lookup_ms} ms, first response p50 ${figures.first_response_ms} ms`)
    console.log(`session rtt p50 ${figures.rtt_ms_p50} ms (p90 ${figures.rtt_ms_p90}), plain mix request rtt p50 ${figures.mix_rtt_ms_p50} ms: ${figures.rtt_ratio} x`)
    return figures
  } finally {
    await Promise.all(nodes.map(async n => { await n.stop() }))
  }
}
