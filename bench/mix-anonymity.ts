/**
 * Sender anonymity of the mixnet against a global passive observer, by discrete-event simulation.
 *
 * The network: N nodes, each a mix and a sender (the spec's tit-for-tat, mix.md 6.5). A real message goes
 * sender -> 3 distinct random mix nodes (never the sender) -> its destination. The sender holds it for an
 * exponential delay first (mix.md 8.5.2 step 3.f), each intermediate hop for an exponential delay with the mean
 * from the header, and the exit hands it to the destination at once (or after a delay of its own, an option). Cover
 * traffic is loops of length 3 (two other nodes, then back home), generated at a constant rate on a fixed grid
 * (mix-cover-traffic.md 7.1) or as a Poisson process (its 11.5); a cover packet is either sent the moment it is
 * generated, or, like every locally originated packet, after the sender's delay (our default).
 *
 * The observer sees every packet on every link (time, sender, receiver), never its content. It knows more than a
 * real one would: the path length (LOGOS-MIXNET fixes L = 3), the delay strategy, the cover schedule, and which
 * packets are inside each node at every moment. To find who sent a message it sees delivered, it walks back three
 * links:
 * - the exit's input that became the delivery (known exactly when the exit does not delay; otherwise any packet
 *   inside the exit);
 * - for a link u -> v at time t, the packet that left u is any packet inside u at t that came in over a link, with
 *   equal probability (exponential delays are memoryless). Packets u made itself are ruled out: with L = 3 a
 *   message's last and middle links are never its sender's own;
 * - an emission on the public cover grid is known to be cover leaving its origin, so it is ruled out too (the timing
 *   separability of mix-cover-traffic.md 10.4);
 * - the node at the far end of the third link back is the sender.
 * This gives a probability distribution over the N senders; its entropy H, divided by log2 N, is the degree of
 * anonymity (Diaz, Seys, Claessens, Preneel 2002). A real observer knows less, so the figure is a lower bound.
 */

export interface AnonymityParams {
  /** Number of nodes, all senders and mixes (N >= 100 for the figure). */
  nodes: number
  /** Real messages per second per node (a Poisson process). */
  realRate: number
  /** Cover loops per second per node. */
  coverRate: number
  coverStrategy: 'constant' | 'poisson' | 'none'
  /** A cover packet waits the sender's delay before it goes out (true), or leaves the moment it is due (false). */
  coverSenderDelay: boolean
  /** Mean delay at each intermediate hop and before sending (ms). */
  meanDelayMs: number
  /** Mean delay the exit holds a message before delivery (0: at once, as the spec's exit does). */
  exitDelayMs: number
  /** Hops of a path, the exit included (the observer walks back this many links). */
  pathLength: number
  /** One-way link latency: base + uniform jitter (ms). */
  linkLatencyMs: number
  linkJitterMs: number
  /** Simulated seconds, and the first seconds not measured (the network fills up). */
  durationS: number
  warmupS: number
  seed: number
}

export interface AnonymityResult {
  messages: number
  degreeMean: number
  degreeP5: number
  degreeMin: number
  entropyMeanBits: number
  /** Probability the observer gives the true sender, on average (1/N is ideal). */
  trueSenderProbability: number
  /** From the sender's call to delivery at the destination. */
  latencyMeanMs: number
  latencyP95Ms: number
  /** Mean number of packets inside a node when one leaves. */
  meanPoolSize: number
}

/** sfc32: a small seeded PRNG, so a run is reproducible. */
function prng (seed: number): () => number {
  let a = 0x9e3779b9; let b = 0x243f6a88; let c = 0xb7e15162; let d = seed >>> 0
  const next = (): number => {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0
    const t = (a + b | 0) + d | 0
    d = d + 1 | 0
    a = b ^ b >>> 9
    b = c + (c << 3) | 0
    c = (c << 21 | c >>> 11)
    c = c + t | 0
    return (t >>> 0) / 4294967296
  }
  for (let i = 0; i < 20; i++) next()
  return next
}

/** A packet's stay in a node. */
interface Visit {
  node: number
  arrive: number
  depart: number
  /** The node it came from, or -1 when this node made it. */
  prev: number
  /** When the incoming link was sent (its emission from `prev`). */
  linkTime: number
  /** The incoming link sat on the public cover grid (known cover). */
  grid: boolean
  /** Whether it waited inside the node (false: delivered or ended on arrival). */
  pooled: boolean
}

interface Packet {
  route: number[]
  hop: number
  real: boolean
  sender: number
  createdAt: number
  /** The visit it is currently in. */
  visit: Visit
  /** Its incoming link was a grid emission. */
  gridLink: boolean
}

interface Event { t: number, kind: number, node: number, packet?: Packet }
const ORIGINATE_REAL = 0
const COVER_TICK = 1
const DEPART = 2
const ARRIVE = 3

/** A binary min-heap of events by time. */
class EventQueue {
  private readonly heap: Event[] = []
  push (e: Event): void {
    const h = this.heap
    h.push(e)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if ((h[p] as Event).t <= e.t) break
      h[i] = h[p] as Event
      i = p
    }
    h[i] = e
  }

  pop (): Event | undefined {
    const h = this.heap
    const top = h[0]
    const last = h.pop()
    if (h.length > 0 && last !== undefined) {
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        let mt = last.t
        if (l < h.length && (h[l] as Event).t < mt) { m = l; mt = (h[l] as Event).t }
        if (r < h.length && (h[r] as Event).t < mt) m = r
        if (m === i) break
        h[i] = h[m] as Event
        i = m
      }
      h[i] = last
    }
    return top
  }
}

export function simulateAnonymity (p: AnonymityParams): AnonymityResult {
  const N = p.nodes
  const rand = prng(p.seed)
  const exp = (mean: number): number => -mean * Math.log(1 - rand())
  const pick = (exclude: number[]): number => {
    for (;;) {
      const n = Math.floor(rand() * N)
      if (!exclude.includes(n)) return n
    }
  }
  const latency = (): number => p.linkLatencyMs + rand() * p.linkJitterMs
  const visits: Visit[][] = Array.from({ length: N }, () => [])
  const delivered: Array<{ packet: Packet, exitVisit: Visit, at: number }> = []
  const poolSize = new Int32Array(N)
  let poolSamples = 0
  let poolTotal = 0

  const q = new EventQueue()
  const end = p.durationS * 1000
  for (let n = 0; n < N; n++) {
    if (p.realRate > 0) q.push({ t: exp(1000 / p.realRate), kind: ORIGINATE_REAL, node: n })
    if (p.coverStrategy === 'constant' && p.coverRate > 0) q.push({ t: rand() * 1000 / p.coverRate, kind: COVER_TICK, node: n })
    if (p.coverStrategy === 'poisson' && p.coverRate > 0) q.push({ t: exp(1000 / p.coverRate), kind: COVER_TICK, node: n })
  }

  const enter = (node: number, pk: Packet, t: number, prev: number, linkTime: number, pooled: boolean): void => {
    const v: Visit = { node, arrive: t, depart: pooled ? Number.POSITIVE_INFINITY : t, prev, linkTime, grid: pk.gridLink, pooled }
    visits[node]?.push(v)
    pk.visit = v
    if (pooled) {
      poolSize[node] = (poolSize[node] as number) + 1
      q.push({ t: t + exp(pk.hop >= pk.route.length ? p.exitDelayMs : p.meanDelayMs), kind: DEPART, node, packet: pk })
    }
  }
  /** Sends the packet on its next link; the link's time is the current visit's departure. */
  const emit = (pk: Packet, t: number, grid: boolean): void => {
    pk.gridLink = grid
    q.push({ t: t + latency(), kind: ARRIVE, node: pk.route[pk.hop] as number, packet: pk })
  }

  for (let e = q.pop(); e !== undefined && e.t < end; e = q.pop()) {
    const { t, node } = e
    if (e.kind === ORIGINATE_REAL) {
      q.push({ t: t + exp(1000 / p.realRate), kind: ORIGINATE_REAL, node })
      const route: number[] = []
      for (let i = 0; i < p.pathLength; i++) route.push(pick([node, ...route]))
      const pk = { route, hop: 0, real: true, sender: node, createdAt: t, gridLink: false } as unknown as Packet
      enter(node, pk, t, -1, t, true)
    } else if (e.kind === COVER_TICK) {
      const interval = p.coverStrategy === 'constant' ? 1000 / p.coverRate : exp(1000 / p.coverRate)
      q.push({ t: t + interval, kind: COVER_TICK, node })
      const route: number[] = []
      for (let i = 0; i < p.pathLength - 1; i++) route.push(pick([node, ...route]))
      route.push(node)
      const pk = { route, hop: 0, real: false, sender: node, createdAt: t, gridLink: false } as unknown as Packet
      if (p.coverSenderDelay) {
        enter(node, pk, t, -1, t, true)
      } else {
        const v: Visit = { node, arrive: t, depart: t, prev: -1, linkTime: t, grid: false, pooled: false }
        pk.visit = v
        emit(pk, t, p.coverStrategy === 'constant')
      }
    } else if (e.kind === DEPART) {
      const pk = e.packet as Packet
      poolSamples++
      poolTotal += poolSize[node] as number
      poolSize[node] = (poolSize[node] as number) - 1
      pk.visit.depart = t
      if (pk.hop >= pk.route.length) delivered.push({ packet: pk, exitVisit: pk.visit, at: t })
      else emit(pk, t, false)
    } else if (e.kind === ARRIVE) {
      const pk = e.packet as Packet
      const prev = pk.visit.node
      const linkTime = pk.visit.depart
      const last = pk.hop === pk.route.length - 1
      pk.hop++
      if (last && !pk.real) {
        enter(node, pk, t, prev, linkTime, false) // a cover loop back home: it ends here
      } else if (last && p.exitDelayMs <= 0) {
        enter(node, pk, t, prev, linkTime, false)
        delivered.push({ packet: pk, exitVisit: pk.visit, at: t })
      } else {
        enter(node, pk, t, prev, linkTime, true)
      }
    }
  }

  /** Packets inside `node` at time `t` that came in over a link the observer cannot rule out. */
  const candidates = (node: number, t: number): Visit[] => {
    const list = visits[node] as Visit[]
    let lo = 0
    let hi = list.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if ((list[mid] as Visit).arrive <= t) lo = mid + 1
      else hi = mid
    }
    const out: Visit[] = []
    const horizon = t - 40 * Math.max(p.meanDelayMs, p.exitDelayMs)
    for (let i = lo - 1; i >= 0; i--) {
      const v = list[i] as Visit
      if (v.arrive < horizon) break
      if (v.pooled && v.depart >= t && v.prev >= 0 && !v.grid) out.push(v)
    }
    return out
  }

  const log2N = Math.log2(N)
  const degrees: number[] = []
  const entropies: number[] = []
  const truth: number[] = []
  const latencies: number[] = []
  const warm = p.warmupS * 1000
  const dist = new Float64Array(N)
  for (const d of delivered) {
    if (!d.packet.real || d.packet.createdAt < warm) continue
    dist.fill(0)
    // Link 1 back: the exit's input.
    let frontier: Array<{ v: Visit, w: number }>
    if (p.exitDelayMs > 0) {
      const c = candidates(d.exitVisit.node, d.at)
      frontier = c.map(v => ({ v, w: 1 / c.length }))
    } else {
      frontier = [{ v: d.exitVisit, w: 1 }]
    }
    // Links 2 .. L back: what was inside the node at the other end of the link.
    for (let step = 1; step < p.pathLength; step++) {
      const next: Array<{ v: Visit, w: number }> = []
      for (const { v, w } of frontier) {
        const c = candidates(v.prev, v.linkTime)
        for (const u of c) next.push({ v: u, w: w / c.length })
      }
      frontier = next
    }
    for (const { v, w } of frontier) dist[v.prev] = (dist[v.prev] as number) + w
    let total = 0
    for (let i = 0; i < N; i++) total += dist[i] as number
    let h = 0
    for (let i = 0; i < N; i++) {
      const x = (dist[i] as number) / total
      if (x > 0) h -= x * Math.log2(x)
    }
    entropies.push(h)
    degrees.push(h / log2N)
    truth.push((dist[d.packet.sender] as number) / total)
    latencies.push(d.at + latency() - d.packet.createdAt)
  }

  const sorted = [...degrees].sort((a, b) => a - b)
  const lat = [...latencies].sort((a, b) => a - b)
  const mean = (xs: number[]): number => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length)
  return {
    messages: degrees.length,
    degreeMean: mean(degrees),
    degreeP5: sorted[Math.floor(sorted.length * 0.05)] ?? Number.NaN,
    degreeMin: sorted[0] ?? Number.NaN,
    entropyMeanBits: mean(entropies),
    trueSenderProbability: mean(truth),
    latencyMeanMs: mean(latencies),
    latencyP95Ms: lat[Math.floor(lat.length * 0.95)] ?? Number.NaN,
    meanPoolSize: poolTotal / Math.max(1, poolSamples)
  }
}
