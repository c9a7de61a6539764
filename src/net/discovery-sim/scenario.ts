import { summarize } from '../../common/index.ts'
import { sealAdvertisement, serviceIdOf } from '../discovery/index.ts'
import type { DiscoveryParams } from '../discovery/index.ts'
import { SimNetwork } from './sim-network.ts'
import type { SimNode } from './sim-network.ts'

export interface ScenarioOptions {
  nodes: number
  /** Fraction of registrars that are Sybils (0 for the clean run). */
  sybilFraction?: number
  /** Fraction of honest nodes that provide the rare capability (the bench's 0.1 %); at least one. */
  rareFraction?: number
  /** Background capabilities, one per honest node, Zipf-popular: they load registrars as a real network would. */
  backgroundServices?: number
  lookups?: number
  /** Simulated time given to advertisers before lookups start. */
  settleMs?: number
  seed?: number
  params?: Partial<DiscoveryParams>
  latencyMs?: number
  /** Progress lines. */
  log?: (line: string) => void
}

export interface ScenarioResult {
  nodes: number
  sybils: number
  rareProviders: number
  lookups: number
  /** Lookups for the rare capability that found at least one honest provider. */
  rareLookupSuccess: number
  /**
   * Lookups of the most popular background capability (Zipf rank 1, about 30 % of honest nodes) whose every provider
   * was a Sybil: the eclipse of the DISC-NG paper's experiments, where honest registrars do hold honest ads.
   */
  eclipseRate: number
  /** The same for the rare capability, whose ads few honest registrars hold: the hard case. */
  rareEclipseRate: number
  /** GET_ADS per lookup of the rare capability. */
  lookupMessagesP50: number
  lookupMessagesP90: number
  /** GET_ADS per lookup of the most popular capability (the same discoverers, after their rare lookups). */
  popularLookupMessagesP50: number
  popularLookupMessagesP90: number
  registerUsP50: number
  registerUsP99: number
  getAdsUsP50: number
  getAdsUsP99: number
  registerRequests: number
  getAdsRequests: number
  /** Registrations admitted, per honest registrar: mean and busiest. */
  cacheMean: number
  cacheMax: number
  /**
   * Baseline, measured: a random walk over the same network's KadDHT(peerID) tables, one message per step to a
   * random entry of the current node's table, until it reaches a provider of the rare capability; p50 of the steps.
   */
  randomWalkMessagesP50: number
  /** Walks that hit their step cap (100 x N) without reaching a provider (counted at the cap in the p50). */
  randomWalkCapped: number
  /** Wall-clock seconds the run took. */
  wallS: number
}

export const RARE_SERVICE = '/logos/sim/rare/1.0.0'

function backgroundService (i: number): string {
  return `/logos/sim/service-${i}/1.0.0`
}

/** A Zipf(1) draw over n items, 0-based. */
function zipf (n: number, random: () => number): number {
  let h = 0
  for (let i = 1; i <= n; i++) h += 1 / i
  let u = random() * h
  for (let i = 1; i <= n; i++) {
    u -= 1 / i
    if (u <= 0) return i - 1
  }
  return n - 1
}

function pickDistinct<T> (items: T[], k: number, random: () => number): T[] {
  const copy = [...items]
  for (let i = 0; i < Math.min(k, copy.length); i++) {
    const j = i + Math.floor(random() * (copy.length - i))
    const t = copy[i] as T
    copy[i] = copy[j] as T
    copy[j] = t
  }
  return copy.slice(0, k)
}

/**
 * The discovery benchmark's world: N nodes with converged Kademlia tables, every honest node advertising one
 * background capability, 0.1 % of them a rare one, optional Sybil registrars; after the advertisers have had their
 * time, random honest nodes look the rare capability up.
 */
export async function runScenario (options: ScenarioOptions): Promise<ScenarioResult> {
  const started = performance.now()
  const log = options.log ?? (() => {})
  const net = new SimNetwork({ seed: options.seed ?? 7, params: options.params, latencyMs: options.latencyMs })
  const sybilCount = Math.round(options.nodes * (options.sybilFraction ?? 0))
  const honest = await net.addNodes(options.nodes - sybilCount)
  if (sybilCount > 0) await net.addNodes(sybilCount, { role: 'sybil' })
  net.fillTables()
  log(`${options.nodes} nodes (${sybilCount} Sybil), tables filled, ${((performance.now() - started) / 1000).toFixed(1)} s`)

  const rareCount = Math.max(1, Math.round(honest.length * (options.rareFraction ?? 0.001)))
  const rare = pickDistinct(honest, rareCount, net.random)
  const rareIds = new Set(rare.map(n => n.id))
  if (sybilCount > 0) await net.armSybils([RARE_SERVICE, backgroundService(0)], Math.min(sybilCount, 50))

  const background = options.backgroundServices ?? 16
  const settleMs = options.settleMs ?? 600_000
  const seal = async (n: SimNode, protocol: string): Promise<Uint8Array> =>
    await sealAdvertisement(n.privateKey, { seq: 1n, addrs: n.ref.addrs, services: [{ id: protocol }] })
  // Advertisers start over the first minute, as nodes of a live network would.
  for (const n of honest) {
    const protocol = backgroundService(zipf(background, net.random))
    const jobs: Array<[string, Uint8Array]> = [[protocol, await seal(n, protocol)]]
    if (rareIds.has(n.id)) jobs.push([RARE_SERVICE, await seal(n, RARE_SERVICE)])
    const delay = Math.floor(net.random() * 60_000)
    void net.clock.sleep(delay).then(() => {
      for (const [p, bytes] of jobs) n.engine?.advertise(p, serviceIdOf(p), bytes)
    })
  }
  log(`${honest.length} advertisers sealed their records; running ${settleMs / 1000} s of protocol time`)
  for (let t = 0; t < settleMs; t += 60_000) {
    await net.clock.advance(Math.min(60_000, settleMs - t))
    log(`  t=${Math.round((t + 60_000) / 1000)} s: ${net.counters.register} REGISTER so far, ${((performance.now() - started) / 1000).toFixed(1)} s wall`)
  }

  const lookups = options.lookups ?? 200
  const candidates = honest.filter(n => !rareIds.has(n.id))
  const discoverers = Array.from({ length: lookups }, () => candidates[Math.floor(net.random() * candidates.length)] as SimNode)
  const messages: number[] = []
  let success = 0
  let rareEclipsed = 0
  const rareId = serviceIdOf(RARE_SERVICE)
  for (const d of discoverers) {
    const engine = d.engine
    if (engine === undefined) continue
    const result = await net.clock.runWhile(engine.lookup(rareId))
    messages.push(result.messages)
    const honestFound = result.providers.filter(p => rareIds.has(p.ad.peerIdString)).length
    if (honestFound > 0) success++
    else if (result.providers.length > 0) rareEclipsed++
  }
  log(`${lookups} lookups of the rare capability done, ${((performance.now() - started) / 1000).toFixed(1)} s wall`)
  let eclipsed = 0
  const popularMessages: number[] = []
  const popularId = serviceIdOf(backgroundService(0))
  for (const d of discoverers) {
    const result = await net.clock.runWhile((d.engine as NonNullable<SimNode['engine']>).lookup(popularId))
    popularMessages.push(result.messages)
    if (sybilCount > 0 && result.providers.length > 0 && result.providers.every(p => net.isSybil(p.ad.peerIdString))) eclipsed++
  }
  log(`${lookups} lookups of the most popular capability done, ${((performance.now() - started) / 1000).toFixed(1)} s wall`)

  // Baseline: a random walk over the overlay, from the same discoverers, each step one message to a random peer of
  // the current node's KadDHT(peerID) table asking whether it provides the capability.
  const walks: number[] = []
  let capped = 0
  const cap = 100 * options.nodes
  const neighbours = new Map<string, SimNode[]>()
  const tableOf = (n: SimNode): SimNode[] => {
    let t = neighbours.get(n.id)
    if (t === undefined) {
      t = (n.engine?.mainTable.peers() ?? []).map(p => net.node(p.id)).filter((x): x is SimNode => x !== undefined && x.role === 'honest')
      neighbours.set(n.id, t)
    }
    return t
  }
  for (const start of discoverers) {
    let at = start
    let steps = 0
    while (steps < cap) {
      const table = tableOf(at)
      if (table.length === 0) break
      at = table[Math.floor(net.random() * table.length)] as SimNode
      steps++
      if (rareIds.has(at.id)) break
    }
    if (!rareIds.has(at.id)) {
      capped++
      steps = cap
    }
    walks.push(steps)
  }

  const cache = honest.map(n => n.engine?.registrar?.cache.size ?? 0)
  for (const n of net.nodes) n.engine?.stop()
  const reg = summarize(net.counters.registerNs)
  const get = summarize(net.counters.getAdsNs)
  return {
    nodes: options.nodes,
    sybils: sybilCount,
    rareProviders: rareCount,
    lookups,
    rareLookupSuccess: success / lookups,
    eclipseRate: eclipsed / lookups,
    rareEclipseRate: rareEclipsed / lookups,
    lookupMessagesP50: summarize(messages).p50,
    lookupMessagesP90: summarize(messages).p90,
    popularLookupMessagesP50: summarize(popularMessages).p50,
    popularLookupMessagesP90: summarize(popularMessages).p90,
    registerUsP50: reg.p50 / 1000,
    registerUsP99: reg.p99 / 1000,
    getAdsUsP50: get.p50 / 1000,
    getAdsUsP99: get.p99 / 1000,
    registerRequests: net.counters.register,
    getAdsRequests: net.counters.getAds,
    cacheMean: cache.reduce((a, b) => a + b, 0) / Math.max(1, cache.length),
    cacheMax: Math.max(0, ...cache),
    randomWalkMessagesP50: summarize(walks).p50,
    randomWalkCapped: capped,
    wallS: (performance.now() - started) / 1000
  }
}
