import type { ModuleDefinition } from '../kernel/index.ts'

/**
 * Declares a module. The returned object is what the module's entry exports under its camelCase name
 * (module "my-store" -> `export const myStore = defineModule({ ... })`).
 */
export function defineModule<D extends ModuleDefinition> (definition: D): Readonly<D> {
  if (typeof definition.start !== 'function') throw new TypeError('defineModule needs a start(ctx) function')
  return Object.freeze({ ...definition })
}
