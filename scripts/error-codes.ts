/**
 * Collects every error class with a stable code from src/**\/errors.ts (and any file named *-errors.ts), so
 * docs/errors.md can list them in one table. `node scripts/error-codes.ts --write` regenerates the document.
 */
import { readFile, readdir, writeFile } from 'node:fs/promises'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

export interface ErrorCodeInfo {
  code: string
  className: string
  file: string
  summary: string
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

async function walk (dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name)
    if (entry.isDirectory()) out.push(...await walk(p))
    else if (entry.name === 'errors.ts' || entry.name.endsWith('-errors.ts')) out.push(p)
  }
  return out
}

export async function collectErrorCodes (): Promise<ErrorCodeInfo[]> {
  const out: ErrorCodeInfo[] = []
  for (const file of await walk(join(root, 'src'))) {
    const text = await readFile(file, 'utf8')
    const re = /(?:\/\*\*((?:[^*]|\*(?!\/))*)\*\/\s*)?export class (\w+) extends \w+ \{\s*static readonly code = '([A-Z0-9_]+)'/g
    for (const m of text.matchAll(re)) {
      const doc = (m[1] ?? '').split('\n').map(l => l.replace(/^\s*\*\s?/, '').trim()).filter(Boolean).join(' ')
      out.push({ code: m[3] as string, className: m[2] as string, file: relative(root, file), summary: doc })
    }
  }
  return out.sort((a, b) => a.file.localeCompare(b.file) || a.code.localeCompare(b.code))
}

export function renderErrorTable (codes: ErrorCodeInfo[]): string {
  const lines = [
    '# Error codes',
    '',
    'Every failure is an error with a stable `code`, a `retryable` flag and structured `data`; errors keep their class',
    'and code across process boundaries. This table is generated from the source (`node scripts/error-codes.ts --write`)',
    'and a test keeps it in step.',
    '',
    '| code | class | where | meaning |',
    '| --- | --- | --- | --- |'
  ]
  for (const c of codes) lines.push(`| \`${c.code}\` | ${c.className} | ${c.file} | ${c.summary || humanize(c.className)} |`)
  return lines.join('\n') + '\n'
}

function humanize (className: string): string {
  return className.replace(/Error$/, '').replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase()
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const table = renderErrorTable(await collectErrorCodes())
  if (process.argv.includes('--write')) await writeFile(join(root, 'docs/errors.md'), table)
  else process.stdout.write(table)
}
