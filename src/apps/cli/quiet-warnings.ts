/**
 * Node 22 marks its built-in SQLite as experimental and says so on stderr at first use. The node depends on it on
 * purpose (an embedded database with no native build), so the CLI drops that one warning and keeps every other.
 * Imported first by logos.ts, before anything that loads node:sqlite.
 */
const emitWarning = process.emitWarning.bind(process)
process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  const text = typeof warning === 'string' ? warning : warning.message
  if (text.startsWith('SQLite is an experimental feature')) return
  // The rest arguments are Node's own overloads of emitWarning, passed through untouched.
  ;(emitWarning as (...args: unknown[]) => void)(warning, ...rest)
}) as typeof process.emitWarning
