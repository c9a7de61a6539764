import semver from 'semver'
import { BadManifestError } from './errors.ts'
import type { ModuleManifest } from './types.ts'

/** Module names: lowercase words joined by dashes, so they are valid in paths, URLs and export names. */
export const MODULE_NAME_PATTERN = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/
export const MODULE_NAME_MAX_LENGTH = 64
const EXPORT_NAME_PATTERN = /^[A-Za-z_$][A-Za-z0-9_$]*$/
const KNOWN_FIELDS = new Set(['name', 'version', 'description', 'entry', 'export', 'dependencies', 'host', 'privileged', 'hostOptions'])

/**
 * Checks a manifest field by field and returns a normalised copy; the first problem is thrown as a BadManifestError
 * naming the field and what it expected.
 */
export function validateManifest (input: unknown, source?: string): ModuleManifest {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new BadManifestError('(manifest)', 'an object', input, source)
  }
  const raw = input as Record<string, unknown>
  for (const key of Object.keys(raw)) {
    if (!KNOWN_FIELDS.has(key)) throw new BadManifestError(key, `one of the known fields (${[...KNOWN_FIELDS].join(', ')})`, key, source)
  }
  const name = raw.name
  if (typeof name !== 'string' || name.length > MODULE_NAME_MAX_LENGTH || !MODULE_NAME_PATTERN.test(name)) {
    throw new BadManifestError('name', `a lowercase dash-separated name of at most ${MODULE_NAME_MAX_LENGTH} characters (like "my-module")`, name, source)
  }
  const version = raw.version
  if (typeof version !== 'string' || semver.valid(version) === null) {
    throw new BadManifestError('version', 'a semantic version (like "1.2.3")', version, source)
  }
  const manifest: ModuleManifest = { name, version, dependencies: {} }
  if (raw.description !== undefined) {
    if (typeof raw.description !== 'string') throw new BadManifestError('description', 'a string', raw.description, source)
    manifest.description = raw.description
  }
  if (raw.entry !== undefined) {
    if (typeof raw.entry !== 'string' || raw.entry.length === 0) throw new BadManifestError('entry', 'a relative file path', raw.entry, source)
    manifest.entry = raw.entry
  }
  if (raw.export !== undefined) {
    if (typeof raw.export !== 'string' || !EXPORT_NAME_PATTERN.test(raw.export)) throw new BadManifestError('export', 'a JavaScript identifier', raw.export, source)
    manifest.export = raw.export
  }
  if (raw.dependencies !== undefined) {
    if (raw.dependencies === null || typeof raw.dependencies !== 'object' || Array.isArray(raw.dependencies)) {
      throw new BadManifestError('dependencies', 'an object of module name -> semver range', raw.dependencies, source)
    }
    for (const [dep, range] of Object.entries(raw.dependencies as Record<string, unknown>)) {
      if (!MODULE_NAME_PATTERN.test(dep)) throw new BadManifestError(`dependencies.${dep}`, 'a valid module name as key', dep, source)
      if (dep === name) throw new BadManifestError(`dependencies.${dep}`, 'another module than itself', dep, source)
      if (typeof range !== 'string' || semver.validRange(range) === null) {
        throw new BadManifestError(`dependencies.${dep}`, 'a semver range (like "^1.0.0")', range, source)
      }
      manifest.dependencies[dep] = range
    }
  }
  if (raw.host !== undefined) {
    if (typeof raw.host !== 'string' || !MODULE_NAME_PATTERN.test(raw.host)) throw new BadManifestError('host', 'a host name (like "in-process" or "child-process")', raw.host, source)
    manifest.host = raw.host
  }
  if (raw.privileged !== undefined) {
    if (typeof raw.privileged !== 'boolean') throw new BadManifestError('privileged', 'a boolean', raw.privileged, source)
    manifest.privileged = raw.privileged
  }
  if (raw.hostOptions !== undefined) {
    if (raw.hostOptions === null || typeof raw.hostOptions !== 'object' || Array.isArray(raw.hostOptions)) {
      throw new BadManifestError('hostOptions', 'an object', raw.hostOptions, source)
    }
    manifest.hostOptions = { ...(raw.hostOptions as Record<string, unknown>) }
  }
  return manifest
}

/** The export name a module's entry uses by default: "process-manager" -> "processManager". */
export function defaultExportName (moduleName: string): string {
  return moduleName.replace(/-([a-z0-9])/g, (_m, c: string) => c.toUpperCase())
}
