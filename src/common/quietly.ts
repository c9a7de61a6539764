/**
 * Runs the synchronous `work` with the process warnings that mention `about` kept off the terminal, every other
 * warning passed through. For Node's notices that an API we use on purpose is experimental: they are about the API,
 * not about anything the user did. The work is synchronous, so the filter sees only its own warnings.
 */
export function quietly<T> (about: string, work: () => T): T {
  const emitWarning = process.emitWarning
  process.emitWarning = function filtered (this: NodeJS.Process, ...args: Parameters<NodeJS.Process['emitWarning']>) {
    if (String(args[0]).includes(about)) return
    emitWarning.apply(this, args)
  } as NodeJS.Process['emitWarning']
  try {
    return work()
  } finally {
    process.emitWarning = emitWarning
  }
}
