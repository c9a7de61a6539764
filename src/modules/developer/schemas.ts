import { LOG_LEVELS } from '../../sdk/index.ts'
import type { JsonSchema } from '../../sdk/index.ts'

/**
 * The shapes the interface returns, as JSON Schema: the `components.schemas` of the OpenRPC document. Method results
 * refer to them with `$ref`.
 */

const STATE: JsonSchema = { type: 'string', enum: ['resolved', 'starting', 'running', 'stopping', 'stopped', 'restarting', 'reloading', 'failed'] }
const LEVEL: JsonSchema = { type: 'string', enum: [...LOG_LEVELS] }
const ERROR_WIRE: JsonSchema = {
  type: 'object',
  description: 'A LogosError in wire form: stable code, message, retryable, structured data, optional cause',
  properties: {
    name: { type: 'string' }, code: { type: 'string' }, message: { type: 'string' }, retryable: { type: 'boolean' },
    data: { type: 'object' }, stack: { type: 'string' }, cause: { $ref: '#/components/schemas/ErrorWire' }
  },
  required: ['code', 'message']
}
const CALL_RECORD: JsonSchema = {
  type: 'object',
  description: 'One call: `parentId` links a child call to the call it was made from (absent for top-level calls)',
  properties: {
    type: { const: 'call' }, id: { type: 'integer' }, parentId: { type: 'integer' }, depth: { type: 'integer' },
    caller: { type: 'string', description: '"external" for calls from outside any module' }, target: { type: 'string' },
    method: { type: 'string' }, at: { type: 'number', description: 'start, ms since the epoch' },
    durationNs: { type: 'number' }, ok: { type: 'boolean' },
    error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } }
  },
  required: ['type', 'id', 'depth', 'caller', 'target', 'method', 'at', 'durationNs', 'ok']
}

export const COMPONENT_SCHEMAS: Record<string, JsonSchema> = {
  ModuleState: STATE,
  LogLevel: LEVEL,
  ErrorWire: ERROR_WIRE,
  ModuleRow: {
    type: 'object',
    description: 'One line of the live view',
    properties: {
      name: { type: 'string' }, version: { type: 'string' }, state: { $ref: '#/components/schemas/ModuleState' },
      host: { type: 'string' }, description: { type: 'string' },
      pid: { type: 'integer', description: 'the process it runs in (the node\'s own for in-process modules)' },
      uptimeMs: { type: 'number', description: 'since its last start; absent unless running' },
      restarts: { type: 'integer' },
      cpuPercent: { type: 'number', description: 'percent of one core over the host\'s last sample (process hosts only)' },
      rssBytes: { type: 'integer', description: 'resident memory (process hosts only)' },
      calls: { type: 'integer', description: 'calls served while the developer module has been watching the trace' },
      failed: { type: 'integer' }, watching: { type: 'boolean', description: 'its folder is watched for hot reload' },
      logLevel: { $ref: '#/components/schemas/LogLevel' },
      cause: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } }
    },
    required: ['name', 'version', 'state', 'host', 'restarts', 'calls', 'failed', 'watching', 'logLevel']
  },
  DirectoryEntry: {
    type: 'object',
    description: 'A module as the directory describes it, plus its log level, activity totals and watch',
    properties: {
      name: { type: 'string' }, version: { type: 'string' }, description: { type: 'string' },
      state: { $ref: '#/components/schemas/ModuleState' }, host: { type: 'string' },
      dependencies: { type: 'object', additionalProperties: { type: 'string' } },
      dependents: { type: 'array', items: { type: 'string' } },
      methods: {
        type: 'array',
        items: { type: 'object', properties: { name: { type: 'string' }, description: { type: 'string' }, params: { type: 'object' }, result: { type: 'object' } }, required: ['name'] }
      },
      events: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, description: { type: 'string' } }, required: ['name'] } },
      uptimeMs: { type: 'number' },
      process: {
        type: 'object',
        properties: { pid: { type: 'integer' }, cpuPercent: { type: 'number' }, rssBytes: { type: 'integer' }, restarts: { type: 'integer' }, startedAt: { type: 'number' } }
      },
      cause: { $ref: '#/components/schemas/ErrorWire' },
      source: { type: 'string', description: 'its folder, or "definition:<name>" for modules defined in code' },
      logLevel: { $ref: '#/components/schemas/LogLevel' },
      activity: { type: 'object', properties: { calls: { type: 'integer' }, failed: { type: 'integer' } } },
      watch: { $ref: '#/components/schemas/WatchInfo' }
    },
    required: ['name', 'version', 'state', 'host', 'dependencies', 'dependents', 'methods', 'events']
  },
  CallRecord: CALL_RECORD,
  TraceRecord: {
    description: 'One record of the trace stream',
    oneOf: [
      { $ref: '#/components/schemas/CallRecord' },
      {
        type: 'object',
        description: 'An event a module emitted (callId: the call during which it was emitted)',
        properties: { type: { const: 'event' }, source: { type: 'string' }, event: { type: 'string' }, callId: { type: 'integer' }, at: { type: 'number' }, subscribers: { type: 'integer' } },
        required: ['type', 'source', 'event', 'at', 'subscribers']
      },
      {
        type: 'object',
        description: 'A lifecycle change ("unloaded" before loading and after unloading)',
        properties: { type: { const: 'lifecycle' }, module: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, at: { type: 'number' }, cause: { $ref: '#/components/schemas/ErrorWire' } },
        required: ['type', 'module', 'from', 'to', 'at']
      },
      {
        type: 'object',
        description: 'A host\'s supervision of a module: crashes, restarts, giving up; and reload rollbacks',
        properties: {
          type: { const: 'supervision' }, module: { type: 'string' },
          action: { type: 'string', enum: ['crashed', 'restarting', 'restarted', 'gave-up', 'rolled-back'] },
          at: { type: 'number' }, detail: { type: 'object' }
        },
        required: ['type', 'module', 'action', 'at', 'detail']
      }
    ]
  },
  LogEntry: {
    type: 'object',
    properties: { at: { type: 'number' }, module: { type: 'string' }, level: { $ref: '#/components/schemas/LogLevel' }, message: { type: 'string' }, fields: { type: 'object' } },
    required: ['at', 'module', 'level', 'message']
  },
  RecentActivity: {
    type: 'object',
    properties: {
      module: { type: 'string' }, calls: { type: 'integer' }, failed: { type: 'integer' }, since: { type: 'number' }, lastCallAt: { type: 'number' },
      recentCalls: { type: 'array', items: { $ref: '#/components/schemas/CallRecord' } },
      recentErrors: { type: 'array', items: { $ref: '#/components/schemas/TraceRecord' } }
    },
    required: ['module', 'calls', 'failed', 'since', 'recentCalls', 'recentErrors']
  },
  ReloadOutcome: {
    type: 'object',
    properties: {
      module: { type: 'string' }, ok: { type: 'boolean' }, trigger: { type: 'string', enum: ['request', 'watch'] },
      at: { type: 'number' }, durationMs: { type: 'number' }, previousVersion: { type: 'string' }, version: { type: 'string' },
      rolledBack: { type: 'boolean' }, error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } }
    },
    required: ['module', 'ok', 'trigger', 'at', 'durationMs', 'previousVersion', 'version']
  },
  WatchInfo: {
    type: 'object',
    properties: {
      module: { type: 'string' }, dir: { type: 'string' }, debounceMs: { type: 'integer' }, since: { type: 'number' },
      reloads: { type: 'integer' }, last: { $ref: '#/components/schemas/ReloadOutcome' }
    },
    required: ['module', 'dir', 'debounceMs', 'since', 'reloads']
  },
  NodeInfo: {
    type: 'object',
    properties: {
      pid: { type: 'integer' }, node: { type: 'string', description: 'Node.js version' }, platform: { type: 'string' },
      dataDir: { type: 'string' }, startedAt: { type: 'number' }, uptimeMs: { type: 'number' }, version: { type: 'string', description: 'the developer module\'s version' },
      hosts: { type: 'array', items: { type: 'string' } }, modules: { type: 'integer' }, rssBytes: { type: 'integer' },
      endpoint: { type: 'object', properties: { url: { type: 'string' }, ws: { type: 'string' } } }
    },
    required: ['pid', 'node', 'dataDir', 'startedAt', 'uptimeMs', 'hosts', 'modules']
  }
}

export function ref (name: keyof typeof COMPONENT_SCHEMAS): JsonSchema {
  return { $ref: `#/components/schemas/${name}` }
}
