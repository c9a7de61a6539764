/**
 * The process manager: a privileged module that registers the "child-process" host with the kernel. A module whose
 * manifest (or the user's config.json) names that host runs in an OS process of its own, unchanged, supervised:
 * crashes (exit, signal, uncaught exception, lost channel, hang, memory ceiling) are detected and reported, in-flight
 * calls fail at once with ERR_MODULE_CRASHED, and the module is restarted with exponential backoff under a restart
 * intensity limit, per its policy (permanent, transient, temporary).
 */
import { HostUnsupportedError, defineModule } from '../../sdk/index.ts'
import { CHILD_PROCESS_HOST } from './constants.ts'
import { childProcessHost } from './host.ts'
import { parseManagerConfig } from './options.ts'

export { childProcessHost } from './host.ts'
export type { ChildProcessHost, ChildProcessHostInit } from './host.ts'
export { resolvePolicy, parseManagerConfig, DEFAULT_POLICY } from './options.ts'
export type { HostPolicy, RestartPolicy, BackoffPolicy, ProcessManagerConfig } from './options.ts'
export { backoffDelay, RestartWindow } from './backoff.ts'
export type { SupervisedProcess, SupervisorState } from './supervisor.ts'
export type { CrashDetail, DownReason } from './generation.ts'
export { FrameDecoder, writeFrame, encodeFrames, decodeMessage, FRAME_HEADER_BYTES } from './framing.ts'
export type { Message } from './framing.ts'
export { Writer, encodeBody, decodeBody, FORMAT_COMPACT, FORMAT_V8 } from './codec.ts'
export { Channel } from './channel.ts'
export { RUNNER_PATH } from './module-process.ts'
export * from './constants.ts'
export * from './errors.ts'

export const processManager = defineModule({
  name: 'process-manager',
  version: '0.1.0',
  async start (ctx) {
    const system = ctx.system
    if (system === undefined) throw new HostUnsupportedError(CHILD_PROCESS_HOST, ctx.name, 'the process manager needs kernel access: load it trusted, in the kernel\'s process')
    const config = parseManagerConfig(ctx.name, ctx.config)
    const host = childProcessHost({ defaults: config.defaults, modules: config.modules, spares: config.spares, system })
    for (const name of Object.keys(config.modules)) {
      try {
        host.policyOf(name, {})
      } catch (err) {
        ctx.log.warn(`module "${name}" will not start on this host: ${(err as Error).message}`)
      }
    }
    const unregister = system.registerHost(host)
    ctx.log.debug('child-process host registered', { spares: config.spares })
    return {
      methods: {
        processes: {
          handler: () => host.processes(),
          description: 'Every module running in a process of its own: pid, state, restarts, CPU, memory, last crash'
        },
        policy: {
          handler: (params: { name: string }) => host.policyOf(params.name),
          description: 'The supervision policy of a module on this host (restart, backoff, intensity, heartbeat, memory ceiling, grace periods); for one not running here, what the user\'s settings give',
          params: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] }
        },
        spares: {
          handler: () => host.spares(),
          description: 'Pids of the idle pre-booted processes'
        }
      },
      async stop ({ signal }) {
        // The modules on this host stop first, through the kernel, so their states stay true.
        for (const p of host.processes()) {
          try {
            await system.stop(p.name, { cascade: true, signal })
          } catch (err) {
            ctx.log.warn(`could not stop ${p.name}`, { error: (err as Error).message })
          }
        }
        unregister()
        await host.close()
      }
    }
  }
})
