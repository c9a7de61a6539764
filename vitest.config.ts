import { defineConfig } from 'vitest/config'

/**
 * End-to-end files whose protocols run on wall-clock timers (De-MLS consensus and freeze windows, discovery's
 * handshakes at 20+ nodes, a real browser): on a 2-core machine they starve when another heavy file shares the CPU,
 * and a timer that fires late is a different protocol run. They run one at a time, after the rest.
 */
const ALONE = [
  'test/net/demls-gossipsub/**/*.spec.ts',
  'test/modules/chat/**/*.spec.ts',
  'test/modules/basecamp/browser.spec.ts',
  'test/net/discovery/loopback.spec.ts'
]

const shared = {
  // Forks, not threads: tests spawn child processes, bind real TCP ports and load wasm.
  pool: 'forks',
  testTimeout: 60_000,
  hookTimeout: 60_000,
  teardownTimeout: 20_000
} as const

export default defineConfig({
  test: {
    projects: [
      { test: { ...shared, name: 'parallel', include: ['test/**/*.spec.ts'], exclude: ALONE, maxWorkers: 2 } },
      { test: { ...shared, name: 'alone', include: ALONE, maxWorkers: 1, sequence: { groupOrder: 1 } } }
    ]
  }
})
