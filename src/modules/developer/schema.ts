import type { JsonSchema } from '../../sdk/index.ts'

/**
 * A validator for the subset of JSON Schema the interface's params use (type, properties, required,
 * additionalProperties: false, items, enum, minimum, maximum, minLength, maxLength, minItems, maxItems). The same
 * schemas are published in the OpenRPC document, so what is documented is what is enforced. Returns the first
 * problem, as a sentence naming the path, or undefined.
 */
export function validate (schema: JsonSchema, value: unknown, path = 'params'): string | undefined {
  const type = schema.type as string | string[] | undefined
  if (type !== undefined) {
    const types = Array.isArray(type) ? type : [type]
    if (!types.some(t => hasType(t, value))) return `${path} must be ${types.join(' or ')}, got ${typeOf(value)}`
  }
  const allowed = schema.enum as unknown[] | undefined
  if (allowed !== undefined && !allowed.some(v => v === value)) return `${path} must be one of ${allowed.map(v => JSON.stringify(v)).join(', ')}`
  if (typeof value === 'number') {
    if (typeof schema.minimum === 'number' && value < schema.minimum) return `${path} must be at least ${schema.minimum}`
    if (typeof schema.maximum === 'number' && value > schema.maximum) return `${path} must be at most ${schema.maximum}`
  }
  if (typeof value === 'string') {
    if (typeof schema.minLength === 'number' && value.length < schema.minLength) return `${path} must have at least ${schema.minLength} characters`
    if (typeof schema.maxLength === 'number' && value.length > schema.maxLength) return `${path} must have at most ${schema.maxLength} characters`
  }
  if (Array.isArray(value)) {
    if (typeof schema.minItems === 'number' && value.length < schema.minItems) return `${path} must have at least ${schema.minItems} items`
    if (typeof schema.maxItems === 'number' && value.length > schema.maxItems) return `${path} must have at most ${schema.maxItems} items`
    const items = schema.items as JsonSchema | undefined
    if (items !== undefined) {
      for (let i = 0; i < value.length; i++) {
        const problem = validate(items, value[i], `${path}[${i}]`)
        if (problem !== undefined) return problem
      }
    }
  }
  if (isPlainObject(value)) {
    const properties = (schema.properties ?? {}) as Record<string, JsonSchema>
    for (const key of (schema.required ?? []) as string[]) {
      if (value[key] === undefined) return `${path}.${key} is required`
    }
    for (const [key, v] of Object.entries(value)) {
      const sub = properties[key]
      if (sub === undefined) {
        if (schema.additionalProperties === false) return `${path}.${key} is not a known parameter (known: ${Object.keys(properties).join(', ') || 'none'})`
        continue
      }
      const problem = validate(sub, v, `${path}.${key}`)
      if (problem !== undefined) return problem
    }
  }
  return undefined
}

function hasType (type: string, value: unknown): boolean {
  switch (type) {
    case 'string': return typeof value === 'string'
    case 'number': return typeof value === 'number' && Number.isFinite(value)
    case 'integer': return typeof value === 'number' && Number.isInteger(value)
    case 'boolean': return typeof value === 'boolean'
    case 'null': return value === null
    case 'array': return Array.isArray(value)
    case 'object': return isPlainObject(value)
    default: return true
  }
}

function typeOf (value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'number' && Number.isInteger(value)) return `the integer ${value}`
  return typeof value
}

export function isPlainObject (value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}
