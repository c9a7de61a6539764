import { runScenario } from '../src/net/discovery-sim/index.ts'
import { resolveParams } from '../src/net/discovery/index.ts'
import type { DiscoveryParams } from '../src/net/discovery/index.ts'
import { round } from './measure.ts'

function option (args: string[], name: string, fallback: number): number {
  const at = args.indexOf(`--${name}`)
  if (at < 0) return fallback
  const v = Number(args[at + 1])
  if (!Number.isFinite(v)) throw new Error(`--${name} needs a number`)
  return v
}

/**
 * Capability discovery at scale, in the simulator (the real Registrar, Advertiser and Discoverer over an in-memory
 * transport and simulated time). Two runs of N nodes: a clean one for lookup success, lookup messages and the
 * registrar's processing time per request (reservoir-sampled over the whole run); one with 20 % Sybil registrars for
 * the eclipse rate, of the rare capability (the case, `sybil_eclipse_rate`) and of the most popular one
 * (`sybil_eclipse_rate_popular`). The baseline, measured in the same run, is a random walk over the same network's
 * KadDHT tables, one message per step, until it meets a provider.
 *
 * `--param name=value` (repeatable) sets a discovery parameter for both networks, e.g. `--param
 * lookupAdsPerRegistrar=10` for the spec's stopping rule (the run before the Sybil defence).
 *
 *   npm run bench -- discovery [--nodes 1000] [--lookups 200] [--sybils 0.2] [--settle-s 600] [--seed 7] [--param k=v]
 */
export async function run (args: string[]): Promise<Record<string, unknown>> {
  const nodes = option(args, 'nodes', 1000)
  const lookups = option(args, 'lookups', 200)
  const sybilFraction = option(args, 'sybils', 0.2)
  const settleMs = option(args, 'settle-s', 600) * 1000
  const seed = option(args, 'seed', 7)
  const params: Partial<DiscoveryParams> = {}
  args.forEach((a, i) => {
    if (a !== '--param') return
    const [name, value] = (args[i + 1] ?? '').split('=')
    if (name === undefined || name === '' || value === undefined || !Number.isFinite(Number(value))) throw new Error('--param needs name=number')
    ;(params as Record<string, number>)[name] = Number(value)
  })
  const log = (line: string): void => { console.log(line) }

  console.log(`clean network: ${nodes} nodes, ${lookups} lookups of a capability offered by 0.1 % of them`)
  const clean = await runScenario({ nodes, lookups, settleMs, seed, params, log })
  console.log(`rare lookup success ${clean.rareLookupSuccess}, messages p50 ${clean.lookupMessagesP50} (random walk ${clean.randomWalkMessagesP50}), ` +
    `REGISTER p50 ${round(clean.registerUsP50, 1)} us, GET_ADS p50 ${round(clean.getAdsUsP50, 1)} us, ${round(clean.wallS, 1)} s`)

  console.log(`attacked network: ${nodes} nodes, ${Math.round(sybilFraction * 100)} % Sybil registrars`)
  const attacked = await runScenario({ nodes, lookups, settleMs, seed: seed + 1, sybilFraction, params, log })
  console.log(`eclipse rate ${attacked.rareEclipseRate} (the 0.1 % capability), ${attacked.eclipseRate} (the most popular one); rare success ${attacked.rareLookupSuccess}`)
  const verdict = (ok: boolean): string => ok ? 'pass' : 'miss'

  return {
    nodes,
    lookups,
    lookup_ads_per_registrar: resolveParams(params).lookupAdsPerRegistrar,
    rare_providers: clean.rareProviders,
    rare_lookup_success: round(clean.rareLookupSuccess, 4),
    lookup_messages_p50: clean.lookupMessagesP50,
    lookup_messages_p90: clean.lookupMessagesP90,
    popular_lookup_messages_p50: clean.popularLookupMessagesP50,
    popular_lookup_messages_p90: clean.popularLookupMessagesP90,
    baseline_random_walk_messages_p50: clean.randomWalkMessagesP50,
    baseline_random_walk_capped: clean.randomWalkCapped,
    register_us_p50: round(clean.registerUsP50, 1),
    register_us_p99: round(clean.registerUsP99, 1),
    get_ads_us_p50: round(clean.getAdsUsP50, 1),
    get_ads_us_p99: round(clean.getAdsUsP99, 1),
    register_requests: clean.registerRequests,
    get_ads_requests: clean.getAdsRequests,
    registrar_cache_mean: round(clean.cacheMean, 1),
    registrar_cache_max: clean.cacheMax,
    sybil_fraction: sybilFraction,
    sybil_eclipse_rate: round(attacked.rareEclipseRate, 4),
    sybil_eclipse_rate_popular: round(attacked.eclipseRate, 4),
    sybil_rare_lookup_success: round(attacked.rareLookupSuccess, 4),
    sybil_lookup_messages_p50: attacked.lookupMessagesP50,
    sybil_popular_lookup_messages_p50: attacked.popularLookupMessagesP50,
    bar_rare_lookup_success: nodes >= 1000 ? verdict(clean.rareLookupSuccess >= 0.99) : 'n/a (the bar is at 1,000 nodes)',
    goal_rare_lookup_success: nodes >= 10_000 ? verdict(clean.rareLookupSuccess >= 0.999) : 'n/a (the goal is at 10,000 nodes)',
    goal_register_us: verdict(clean.registerUsP50 < 58),
    goal_get_ads_us: verdict(clean.getAdsUsP50 < 66),
    goal_sybil_eclipse_rate: verdict(attacked.rareEclipseRate < 0.01),
    goal_sybil_eclipse_rate_popular: verdict(attacked.eclipseRate < 0.01),
    wall_s: round(clean.wallS + attacked.wallS, 1)
  }
}
