import { DEFAULT_HOST, DEFAULT_PORT, LOOPBACK_HOSTS } from './constants.ts'
import { BasecampBadConfigError } from './errors.ts'

/** Basecamp's configuration (`modules.basecamp.config` in the node's config.json). */
export interface BasecampConfig {
  /** A loopback address: 127.0.0.1 (default), ::1 or localhost. */
  host: string
  /** 0 (default): any free port; the link `logos start` prints has it. A fixed one keeps bookmarks working. */
  port: number
}

export function parseConfig (raw: Readonly<Record<string, unknown>>): BasecampConfig {
  const config: BasecampConfig = { host: DEFAULT_HOST, port: DEFAULT_PORT }
  for (const key of Object.keys(raw)) {
    if (key !== 'host' && key !== 'port') throw new BasecampBadConfigError(key, 'absent (Basecamp knows host and port)')
  }
  if (raw.host !== undefined) {
    if (typeof raw.host !== 'string' || !LOOPBACK_HOSTS.includes(raw.host)) throw new BasecampBadConfigError('host', `a loopback address (${LOOPBACK_HOSTS.join(', ')})`)
    config.host = raw.host
  }
  if (raw.port !== undefined) {
    if (typeof raw.port !== 'number' || !Number.isInteger(raw.port) || raw.port < 0 || raw.port > 65535) throw new BasecampBadConfigError('port', 'an integer from 0 to 65535')
    config.port = raw.port
  }
  return config
}
