import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { InvalidArgumentError } from '../../common/index.ts'
import { isLogLevel } from '../../kernel/index.ts'
import type { LogLevel } from '../../kernel/index.ts'

/** What a user may set per module in `<data dir>/config.json`. */
export interface ModuleSettings {
  /** false keeps a module of the default distribution from loading. */
  enabled?: boolean
  /** Overrides the module's preferred host ("in-process", "child-process"). */
  host?: string
  /** Handed to the module as ctx.config. */
  config?: Record<string, unknown>
  logLevel?: LogLevel
}

export interface NodeConfig {
  logLevel?: LogLevel
  modules: Record<string, ModuleSettings>
}

export const NODE_CONFIG_FILE = 'config.json'

/** Reads the node's configuration; a missing file means defaults, a malformed one is an error naming the field. */
export async function readNodeConfig (dataDir: string): Promise<NodeConfig> {
  const path = join(dataDir, NODE_CONFIG_FILE)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { modules: {} }
    throw err
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (err) {
    throw new InvalidArgumentError(`${path} is not valid JSON: ${(err as Error).message}`)
  }
  return parseNodeConfig(raw, path)
}

export function parseNodeConfig (raw: unknown, source = 'config'): NodeConfig {
  const fail = (field: string, expected: string): never => { throw new InvalidArgumentError(`${source}: "${field}" must be ${expected}`) }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail('(root)', 'an object')
  const obj = raw as Record<string, unknown>
  const config: NodeConfig = { modules: {} }
  if (obj.logLevel !== undefined) {
    if (!isLogLevel(obj.logLevel)) fail('logLevel', 'one of trace, debug, info, warn, error')
    config.logLevel = obj.logLevel as LogLevel
  }
  if (obj.modules !== undefined) {
    if (obj.modules === null || typeof obj.modules !== 'object' || Array.isArray(obj.modules)) fail('modules', 'an object of module name -> settings')
    for (const [name, value] of Object.entries(obj.modules as Record<string, unknown>)) {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) fail(`modules.${name}`, 'an object')
      const v = value as Record<string, unknown>
      const settings: ModuleSettings = {}
      if (v.enabled !== undefined) {
        if (typeof v.enabled !== 'boolean') fail(`modules.${name}.enabled`, 'a boolean')
        settings.enabled = v.enabled as boolean
      }
      if (v.host !== undefined) {
        if (typeof v.host !== 'string') fail(`modules.${name}.host`, 'a host name')
        settings.host = v.host as string
      }
      if (v.config !== undefined) {
        if (v.config === null || typeof v.config !== 'object' || Array.isArray(v.config)) fail(`modules.${name}.config`, 'an object')
        settings.config = v.config as Record<string, unknown>
      }
      if (v.logLevel !== undefined) {
        if (!isLogLevel(v.logLevel)) fail(`modules.${name}.logLevel`, 'one of trace, debug, info, warn, error')
        settings.logLevel = v.logLevel as LogLevel
      }
      config.modules[name] = settings
    }
  }
  return config
}
