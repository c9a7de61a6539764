import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import type { Socket } from 'node:net'
import { dirname, join } from 'node:path'
import type { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { Channel } from './channel.ts'
import { CHANNEL_FD, CHILD_EXEC_ARGV, STDERR_DRAIN_MS, STDERR_LINE_MAX_CHARS, STDERR_TAIL_LINES } from './constants.ts'
import { PmProtocolError, PmSpawnFailedError } from './errors.ts'
import type { Message } from './framing.ts'
import { C_HELLO } from './protocol.ts'

/** The script every module process runs. */
export const RUNNER_PATH = join(dirname(fileURLToPath(import.meta.url)), 'runner.ts')

export interface ExitInfo {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface ProcessHandlers {
  onMessage: (message: Message) => void
  /** The channel ended (first sign of trouble, or of a normal exit); `error` when it broke the protocol. */
  onChannelClose: (error?: Error) => void
  onExit: (exit: ExitInfo) => void
  /** A line the process wrote on stdout or stderr. */
  onOutput: (stream: 'stdout' | 'stderr', line: string) => void
}

const NO_HANDLERS: ProcessHandlers = { onMessage: () => {}, onChannelClose: () => {}, onExit: () => {}, onOutput: () => {} }

/**
 * One OS process running runner.ts, with a Unix socket pair on fd 3 as its channel and its stderr tail kept for
 * crash reports.
 *
 * It is not spawned detached: a new session would also put it in a scheduler autogroup of its own (Linux, where
 * autogroups are on by default), and every wakeup across groups cost 4-5x the latency of a plain socket echo on a busy
 * machine (measured: ~70 us against ~15 us). So it shares the node's process group; the runner ignores the terminal's
 * SIGINT and SIGHUP (the node stops its modules itself, in order), and dies with the node through its channel and its
 * watchdog thread.
 */
export class ModuleProcess {
  readonly child: ChildProcess
  readonly pid: number
  readonly channel: Channel
  readonly spawnedAt = Date.now()
  /** Resolves once the process has exited and its output pipes have closed (or STDERR_DRAIN_MS after exit). */
  readonly finished: Promise<ExitInfo>
  exit: ExitInfo | undefined
  /** Set when its spawn failed. */
  spawnError: Error | undefined
  private handlers: ProcessHandlers = NO_HANDLERS
  private readonly tail: string[] = []
  private hello: { resolve: () => void, reject: (err: Error) => void } | undefined
  private helloSeen = false

  constructor (execArgv: readonly string[] = []) {
    this.child = spawn(process.execPath, [...CHILD_EXEC_ARGV, ...execArgv, RUNNER_PATH], {
      stdio: ['ignore', 'pipe', 'pipe', 'pipe']
    })
    this.pid = this.child.pid ?? -1
    let closed = false
    let settleExit: (exit: ExitInfo) => void = () => {}
    const exitedOrFailed = new Promise<ExitInfo>((resolve) => { settleExit = resolve })
    this.child.once('exit', (code, signal) => {
      this.exit = { code, signal }
      settleExit(this.exit)
      this.handlers.onExit(this.exit)
    })
    this.child.on('error', (err) => {
      // With a pid, the error is about signalling it (it is gone); without one, there is no process (EAGAIN, ...).
      if (this.child.pid !== undefined || this.exit !== undefined) return
      this.spawnError = err
      this.exit = { code: null, signal: null }
      settleExit(this.exit)
      this.hello?.reject(err)
      this.handlers.onExit(this.exit)
    })
    const closedPipes = new Promise<void>((resolve) => { this.child.once('close', () => { closed = true; resolve() }) })
    this.finished = exitedOrFailed.then(async (exit) => {
      if (!closed) {
        let timer: ReturnType<typeof setTimeout> | undefined
        await Promise.race([closedPipes, new Promise<void>((resolve) => { timer = setTimeout(resolve, STDERR_DRAIN_MS) })])
        clearTimeout(timer)
      }
      return exit
    })
    const socket = this.child.stdio[CHANNEL_FD] as Socket | null
    if (socket === null) throw new PmSpawnFailedError('(spare)', 'no channel to the new process')
    this.channel = new Channel(socket, {
      onMessage: (m) => {
        if (!this.helloSeen) {
          if (m[0] !== C_HELLO) {
            this.channel.destroy(new PmProtocolError(`expected HELLO, got message type ${String(m[0])}`))
            return
          }
          this.helloSeen = true
          this.hello?.resolve()
          return
        }
        this.handlers.onMessage(m)
      },
      onClose: (err) => {
        this.hello?.reject(err ?? new Error('the channel closed before the process said hello'))
        this.handlers.onChannelClose(err)
      }
    })
    this.lines(this.child.stdout as Readable, 'stdout')
    this.lines(this.child.stderr as Readable, 'stderr')
  }

  get alive (): boolean {
    return this.exit === undefined && this.spawnError === undefined
  }

  /** Resolves when the process has booted and waits for INIT. */
  async ready (signal?: AbortSignal): Promise<void> {
    if (this.helloSeen) return
    if (!this.alive || this.channel.isClosed) throw this.spawnError ?? new Error('the process ended before it said hello')
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => { reject(signal?.reason ?? new Error('aborted')) }
      this.hello = {
        resolve: () => { signal?.removeEventListener('abort', onAbort); this.hello = undefined; resolve() },
        reject: (err) => { signal?.removeEventListener('abort', onAbort); this.hello = undefined; reject(err) }
      }
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /** Takes over the process's messages and output. */
  adopt (handlers: ProcessHandlers): void {
    this.handlers = handlers
    if (this.exit !== undefined) handlers.onExit(this.exit)
    else if (this.channel.isClosed) handlers.onChannelClose()
  }

  /** Keeps the node's event loop alive for this process (a module) or not (an idle spare). */
  setRef (ref: boolean): void {
    for (const s of [this.child.stdout, this.child.stderr, this.child.stdio[CHANNEL_FD]] as Array<Socket | null>) {
      if (s === null) continue
      if (ref) s.ref()
      else s.unref()
    }
    if (ref) this.child.ref()
    else this.child.unref()
  }

  /** Signals the process; harmless once it is gone. */
  kill (signal: NodeJS.Signals): void {
    if (this.pid <= 0 || this.exit !== undefined) return
    try {
      this.child.kill(signal)
    } catch {
      // already gone
    }
  }

  /** The last lines of its stderr, oldest first. */
  stderrTail (): string[] {
    return [...this.tail]
  }

  private lines (stream: Readable, name: 'stdout' | 'stderr'): void {
    let partial = ''
    stream.setEncoding('utf8')
    const emit = (line: string): void => {
      const cut = line.length > STDERR_LINE_MAX_CHARS ? `${line.slice(0, STDERR_LINE_MAX_CHARS)}...` : line
      if (name === 'stderr') {
        this.tail.push(cut)
        if (this.tail.length > STDERR_TAIL_LINES) this.tail.shift()
      }
      this.handlers.onOutput(name, cut)
    }
    stream.on('data', (text: string) => {
      const parts = (partial + text).split('\n')
      partial = parts.pop() as string
      if (partial.length > STDERR_LINE_MAX_CHARS) {
        emit(partial)
        partial = ''
      }
      for (const line of parts) emit(line)
    })
    stream.on('end', () => { if (partial !== '') emit(partial) })
    stream.on('error', () => {})
  }
}
