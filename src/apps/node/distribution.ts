import { readdir, stat } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { MANIFEST_FILE } from '../../kernel/index.ts'

/** The folder of the modules that ship with the node. */
export const BUILTIN_MODULES_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../modules')

/** Every folder under `root` with a module.json: the default distribution when `root` is the built-in folder. */
export async function findModuleFolders (root: string = BUILTIN_MODULES_DIR): Promise<string[]> {
  let names: string[]
  try {
    names = await readdir(root)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
  const out: string[] = []
  for (const name of names.sort()) {
    const dir = join(root, name)
    try {
      if ((await stat(join(dir, MANIFEST_FILE))).isFile()) out.push(dir)
    } catch {
      // not a module folder
    }
  }
  return out
}
