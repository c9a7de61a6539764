import { mkdtemp, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { delay, summarize } from '../src/common/index.ts'
import { autoshard, encodeRateLimitProof, encodeWakuMessage, fromZerokitProof, nsFromMs, rlnSignal } from '../src/net/delivery/index.ts'
import type { WakuMessage } from '../src/net/delivery/index.ts'
import { startTestNet } from '../test/modules/delivery/harness.ts'
import type { TestNode } from '../test/modules/delivery/harness.ts'
import { round } from './measure.ts'

const CONTENT = '/delivery-bench/1/chat/proto'
const TOPIC = autoshard(CONTENT, 1, 8)
const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
const dec = (b: unknown): string => new TextDecoder().decode(b as Uint8Array)

interface Health { stats: { accepted: number }, validateMs: { p50: number, p99: number, count: number } | null }

async function arrived (nodes: TestNode[], text: string, timeoutMs: number): Promise<number> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const times = nodes.map(n => n.events.find(e => e.event === 'delivery:message_received' && dec(e.payload.payload) === text)?.at)
    if (times.every(t => t !== undefined)) return Math.max(...(times as number[]))
    if (Date.now() > end) throw new Error(`"${text}" did not reach every node within ${timeoutMs} ms`)
    await delay(5)
  }
}

/** A message proven by A's rln module (what A's delivery module would publish), for a burst sent around it. */
async function proven (a: TestNode, text: string, rlnIdentifier: Uint8Array): Promise<Uint8Array> {
  const m: WakuMessage = { payload: enc(text), contentTopic: CONTENT, timestamp: nsFromMs(Date.now()), version: 0 }
  const made = await a.call<{ proof: Uint8Array, epoch: string }>('rln', 'prove', { signal: rlnSignal(m) }, 120_000)
  return encodeWakuMessage({ ...m, proof: encodeRateLimitProof(fromZerokitProof(made.proof, BigInt(made.epoch), rlnIdentifier)) })
}

async function measureNet (rln: boolean, messages: number, burst: number, paceMs: number): Promise<Record<string, number>> {
  const baseDir = await mkdtemp(join(tmpdir(), `delivery-bench-${rln ? 'rln' : 'plain'}-`))
  const t0 = performance.now()
  // The burst is proven before it is sent: the relays accept timestamps 10 minutes off (the default is 20 s) so
  // that proving 30 messages one after the other does not make the first ones stale. Validation costs the same.
  const nodes = await startTestNet(3, baseDir, { rln, delivery: { maxTimestampGapMs: 600_000 }, rlnConfig: { userMessageLimit: 1_000, workers: 2 } })
  const [a, b, c] = nodes as [TestNode, TestNode, TestNode]
  const startMs = performance.now() - t0
  try {
    for (const n of nodes) await n.call('delivery', 'subscribe', { contentTopic: CONTENT })
    // End to end: send() on A until both B and C emitted message_received. Paced, so a prover has its stock of
    // precomputed proofs ready, as it would between a person's messages.
    const e2e: number[] = []
    const network: number[] = []
    for (let i = 0; i < messages; i++) {
      const text = `e2e ${i}`
      const sentAt = Date.now()
      const { requestId } = await a.call<{ requestId: string }>('delivery', 'send', { contentTopic: CONTENT, payload: enc(text) })
      const at = await arrived([b, c], text, 120_000)
      e2e.push(at - sentAt)
      const propagated = a.events.find(e => e.event === 'delivery:message_propagated' && e.payload.requestId === requestId)?.at
      // From A's relay handing it over to the last of B and C accepting it: the part after the proof.
      if (propagated !== undefined) network.push(Math.max(0, at - propagated))
      await delay(paceMs)
    }
    // Validation time of messages that arrived alone (the burst below queues them behind each other).
    const paced = await Promise.all([b, c].map(async n => await n.call<Health>('delivery', 'health')))
    // Throughput through one relay: a burst of ready messages published by A; B validates and forwards each.
    const params = rln ? await a.call<{ rlnIdentifier: string }>('rln', 'params') : undefined
    const idBytes = params === undefined ? new Uint8Array(32) : Uint8Array.from(Buffer.from(params.rlnIdentifier, 'hex'))
    const p0 = performance.now()
    const ready: Uint8Array[] = []
    for (let i = 0; i < burst; i++) {
      const text = `burst ${i}`
      ready.push(rln ? await proven(a, text, idBytes) : encodeWakuMessage({ payload: enc(text), contentTopic: CONTENT, timestamp: nsFromMs(Date.now()), version: 0 }))
    }
    const proveMs = (performance.now() - p0) / burst
    const before = (await b.call<Health>('delivery', 'health')).stats.accepted
    const s0 = performance.now()
    for (const data of ready) await a.call('network', 'relayPublish', { topic: TOPIC, data })
    let acceptedAt = s0
    const end = Date.now() + 300_000
    for (;;) {
      const accepted = (await b.call<Health>('delivery', 'health')).stats.accepted - before
      if (accepted >= burst) { acceptedAt = performance.now(); break }
      if (Date.now() > end) throw new Error(`B accepted ${accepted} of ${burst}`)
      await delay(5)
    }
    await arrived([c], `burst ${burst - 1}`, 60_000)
    const burstHealth = await Promise.all([b, c].map(async n => await n.call<Health>('delivery', 'health')))
    const validate = paced.map(h => h.validateMs).filter(v => v !== null) as Array<{ p50: number, p99: number }>
    const validateBurst = burstHealth.map(h => h.validateMs).filter(v => v !== null) as Array<{ p50: number }>
    const s = summarize(e2e)
    return {
      start_ms: round(startMs, 0),
      e2e_p50: round(s.p50, 1),
      e2e_p90: round(s.p90, 1),
      e2e_after_proof_p50: round(summarize(network).p50, 1),
      messages_per_s: round(burst / ((acceptedAt - s0) / 1000), 1),
      validate_p50: validate.length === 0 ? 0 : round(validate.reduce((x, v) => x + v.p50, 0) / validate.length, 2),
      validate_p99: validate.length === 0 ? 0 : round(Math.max(...validate.map(v => v.p99)), 2),
      validate_in_burst_p50: validateBurst.length === 0 ? 0 : round(validateBurst.reduce((x, v) => x + v.p50, 0) / validateBurst.length, 2),
      prove_ms: rln ? round(proveMs, 0) : 0
    }
  } finally {
    await Promise.allSettled(nodes.map(async n => { await n.stop() }))
    await rm(baseDir, { recursive: true, force: true })
  }
}

/**
 * Delivery across three real nodes on loopback TCP (network + rln + delivery each, in this process), the same
 * measurements without RLN and with it, in one run: end-to-end latency of a message from send() on A to
 * message_received on B and C, the relays' RLN validation time, and messages per second one relay validates and
 * forwards from a burst. `npm run bench -- delivery [messages=10] [burst=30] [paceMs=3000]`.
 */
export async function run (args: string[]): Promise<Record<string, unknown>> {
  const messages = Number(args[0] ?? 10)
  const burst = Number(args[1] ?? 30)
  const paceMs = Number(args[2] ?? 3_000)
  const load = loadavg()[0] as number
  console.log(`load ${load.toFixed(2)}; ${messages} messages end to end (paced ${paceMs} ms), a burst of ${burst} (x10 without RLN)`)
  const plain = await measureNet(false, messages, burst * 10, paceMs)
  console.log('without RLN', plain)
  const rln = await measureNet(true, messages, burst, paceMs)
  console.log('with RLN', rln)
  return {
    end_to_end_ms_p50: rln.e2e_p50,
    end_to_end_ms_p90: rln.e2e_p90,
    end_to_end_ms_p50_no_rln: plain.e2e_p50,
    end_to_end_rln_ratio: round((rln.e2e_p50 as number) / (plain.e2e_p50 as number), 1),
    end_to_end_after_proof_ms_p50: rln.e2e_after_proof_p50,
    end_to_end_after_proof_ms_p50_no_rln: plain.e2e_after_proof_p50,
    validate_ms_p50: rln.validate_p50,
    validate_ms_p99: rln.validate_p99,
    validate_ms_p50_in_burst: rln.validate_in_burst_p50,
    messages_per_s: rln.messages_per_s,
    messages_per_s_no_rln: plain.messages_per_s,
    prove_ms_per_message: rln.prove_ms,
    node_start_ms: rln.start_ms,
    messages,
    burst,
    load_before: round(load, 2)
  }
}
