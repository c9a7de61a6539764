import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { join } from 'node:path'

export const LOGOS_CLI = join(import.meta.dirname, '../../src/apps/cli/logos.ts')

/** Runs `logos <args>` to completion with the same Node as the tests. */
export async function runCli (args: string[], options: { env?: NodeJS.ProcessEnv, timeoutMs?: number } = {}): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const child = spawn(process.execPath, [LOGOS_CLI, ...args], { env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000)
  const code = await new Promise<number | null>(resolve => child.on('close', resolve))
  clearTimeout(timer)
  return { code, stdout, stderr }
}

/** Starts a long-running `logos <args>` and resolves once its stdout matches `ready`. */
export async function startCli (args: string[], ready: RegExp, options: { env?: NodeJS.ProcessEnv, timeoutMs?: number } = {}): Promise<{ child: ChildProcess, output: () => string }> {
  const child = spawn(process.execPath, [LOGOS_CLI, ...args], { env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout?.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr?.on('data', (d: Buffer) => { out += d.toString() })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`not ready in time; output:\n${out}`)) }, options.timeoutMs ?? 30_000)
    const check = (): void => {
      if (ready.test(out)) {
        clearTimeout(timer)
        resolve()
      }
    }
    child.stdout?.on('data', check)
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`exited with ${code}; output:\n${out}`)) })
  })
  return { child, output: () => out }
}
