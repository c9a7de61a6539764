/**
 * `npm run bench -- <name>` runs bench/<name>.bench.ts. A benchmark prints what it likes, and its last line is one
 * JSON object of figures (the field names its issue asks for).
 */
import { readdir } from 'node:fs/promises'
import { dirname } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

interface Bench {
  run: (args: string[]) => Promise<Record<string, unknown>>
}

const here = dirname(fileURLToPath(import.meta.url))
const [name, ...args] = process.argv.slice(2)
const available = (await readdir(here)).filter(f => f.endsWith('.bench.ts')).map(f => f.replace(/\.bench\.ts$/, ''))
if (name === undefined || !available.includes(name)) {
  console.error(`usage: npm run bench -- <name>; benchmarks: ${available.sort().join(', ')}`)
  process.exit(2)
}
const bench = await import(pathToFileURL(`${here}/${name}.bench.ts`).href) as Bench
const figures = await bench.run(args)
console.log(JSON.stringify({ bench: name, node: process.version, ...figures }))
process.exit(0)
