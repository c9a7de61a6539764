import { readFile } from 'node:fs/promises'
import { isAbsolute, join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { BadManifestError, ModuleLoadFailedError } from './errors.ts'
import { defaultExportName, validateManifest } from './manifest.ts'
import type { ModuleDefinition, ModuleManifest } from './types.ts'

/** The file every module folder has. */
export const MANIFEST_FILE = 'module.json'

export interface ModuleFolder {
  manifest: ModuleManifest
  entryPath: string
  dir: string
}

/** Reads and validates `dir/module.json`; the entry must stay inside the folder. */
export async function readModuleFolder (dir: string): Promise<ModuleFolder> {
  const root = resolve(dir)
  const manifestPath = join(root, MANIFEST_FILE)
  let text: string
  try {
    text = await readFile(manifestPath, 'utf8')
  } catch (err) {
    throw new ModuleLoadFailedError(manifestPath, { cause: err })
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new BadManifestError('(manifest)', 'valid JSON', (err as Error).message, manifestPath)
  }
  const manifest = validateManifest(json, manifestPath)
  if (manifest.entry === undefined) throw new BadManifestError('entry', 'a relative file path', undefined, manifestPath)
  if (isAbsolute(manifest.entry)) throw new BadManifestError('entry', 'a path relative to the module folder', manifest.entry, manifestPath)
  const entryPath = resolve(root, manifest.entry)
  if (!entryPath.startsWith(root + '/')) throw new BadManifestError('entry', 'a path inside the module folder', manifest.entry, manifestPath)
  return { manifest, entryPath, dir: root }
}

let importGeneration = 0

/**
 * Imports a module's entry and picks its definition. `fresh` bypasses the ESM cache for the entry file (hot reload in
 * the kernel's process); files the entry imports stay cached, which is why the child-process host reloads by restarting.
 */
export async function importDefinition (entryPath: string, manifest: Pick<ModuleManifest, 'name' | 'export'>, options: { fresh?: boolean } = {}): Promise<ModuleDefinition> {
  const url = pathToFileURL(entryPath)
  if (options.fresh === true) url.searchParams.set('generation', String(++importGeneration))
  let namespace: Record<string, unknown>
  try {
    namespace = await import(url.href) as Record<string, unknown>
  } catch (err) {
    throw new ModuleLoadFailedError(entryPath, { cause: err })
  }
  const exportName = manifest.export ?? defaultExportName(manifest.name)
  const definition = namespace[exportName]
  if (definition === null || typeof definition !== 'object' || typeof (definition as ModuleDefinition).start !== 'function') {
    throw new BadManifestError('export', `the name of an export of ${entryPath} made by defineModule (found: ${Object.keys(namespace).join(', ') || 'none'})`, exportName)
  }
  return definition as ModuleDefinition
}

/** A manifest for a module defined in code, validated like any other. */
export function manifestFromDefinition (definition: ModuleDefinition): ModuleManifest {
  const raw: Record<string, unknown> = { name: definition.name, version: definition.version }
  if (definition.description !== undefined) raw.description = definition.description
  if (definition.dependencies !== undefined) raw.dependencies = definition.dependencies
  if (definition.host !== undefined) raw.host = definition.host
  if (definition.privileged !== undefined) raw.privileged = definition.privileged
  if (definition.hostOptions !== undefined) raw.hostOptions = definition.hostOptions
  return validateManifest(raw, `definition of ${String(definition.name)}`)
}

/** A definition that repeats its manifest's name or version must agree with it. */
export function checkDefinitionAgrees (definition: ModuleDefinition, manifest: Readonly<ModuleManifest>, source: string): void {
  if (definition.name !== undefined && definition.name !== manifest.name) {
    throw new BadManifestError('name', `"${definition.name}" as the module's code says`, manifest.name, source)
  }
  if (definition.version !== undefined && definition.version !== manifest.version) {
    throw new BadManifestError('version', `"${definition.version}" as the module's code says`, manifest.version, source)
  }
}
