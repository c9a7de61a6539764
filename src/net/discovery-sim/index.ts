/**
 * The discovery simulator: the real protocol classes of src/net/discovery over an in-memory transport and simulated
 * time, for networks far larger than one machine can run over TCP.
 */
export { VirtualClock } from './virtual-clock.ts'
export { SimNetwork, seededRandom } from './sim-network.ts'
export type { SimNode, SimNetworkInit, SimCounters, SimRole } from './sim-network.ts'
export { runScenario, RARE_SERVICE } from './scenario.ts'
export type { ScenarioOptions, ScenarioResult } from './scenario.ts'
