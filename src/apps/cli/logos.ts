#!/usr/bin/env node
// The CLI proper is imported only after the warning filter is in place: node:sqlite warns while it is being linked.
import './quiet-warnings.ts'

await import('./run-cli.ts')
