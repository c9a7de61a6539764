import type { RpcMethod } from './api.ts'
import { APPLICATION_ERROR, FORBIDDEN, INVALID_PARAMS, LIMIT_REACHED, NEEDS_WEBSOCKET, UNAUTHORIZED } from './json-rpc.ts'
import { COMPONENT_SCHEMAS } from './schemas.ts'
import { DROPPED_NOTIFICATION, NOTIFICATIONS } from './client-queue.ts'

/** The OpenRPC version the document follows (https://spec.open-rpc.org/). */
export const OPENRPC_VERSION = '1.2.6'

const ERRORS = {
  InvalidParams: { code: INVALID_PARAMS, message: 'Invalid params (data.data.problem says which and why)' },
  Application: { code: APPLICATION_ERROR, message: 'An error of the node or a module: data is the LogosError (data.code is its ERR_ code)' },
  Unauthorized: { code: UNAUTHORIZED, message: 'No token or a wrong one (HTTP 401)' },
  Forbidden: { code: FORBIDDEN, message: 'A foreign Origin or Host (HTTP 403)' },
  LimitReached: { code: LIMIT_REACHED, message: 'A bound of the interface is reached; retry later' },
  NeedsWebSocket: { code: NEEDS_WEBSOCKET, message: 'This method streams notifications: use the WebSocket' }
}

/**
 * The interface described as an OpenRPC document, made from the method table itself so it cannot drift. Notifications
 * the server sends (which OpenRPC does not model) are listed under the `x-notifications` extension.
 */
export function openRpcDocument (methods: Iterable<RpcMethod>, info: { version: string, url?: string, ws?: string }): Record<string, unknown> {
  const servers: Array<{ name: string, url: string, summary: string }> = []
  if (info.url !== undefined) servers.push({ name: 'http', url: info.url, summary: 'JSON-RPC 2.0 over HTTP POST (Authorization: Bearer <token>)' })
  if (info.ws !== undefined) servers.push({ name: 'websocket', url: info.ws, summary: 'JSON-RPC 2.0 over WebSocket (Authorization header or ?token=); subscriptions' })
  return {
    openrpc: OPENRPC_VERSION,
    info: {
      title: 'Logos developer interface',
      version: info.version,
      description: 'Live view, tracing, hot reload and debugging of a Logos node. Loopback only; every request needs the token in <data dir>/modules/developer/token. See docs/developer-api.md.'
    },
    servers,
    methods: [...methods].map(m => {
      const out: Record<string, unknown> = {
        name: m.name,
        summary: m.summary,
        paramStructure: 'either',
        params: m.params.map(p => {
          const param: Record<string, unknown> = { name: p.name, required: p.required === true, schema: p.schema }
          if (p.description !== undefined) param.description = p.description
          return param
        }),
        result: m.result,
        errors: [
          ERRORS.InvalidParams,
          ...(m.errors === undefined ? [] : [{ ...ERRORS.Application, data: { codes: m.errors } }]),
          ...(m.websocketOnly === true ? [ERRORS.NeedsWebSocket, ERRORS.LimitReached] : [])
        ]
      }
      if (m.description !== undefined) out.description = m.description
      if (m.websocketOnly === true) out['x-transport'] = 'websocket'
      return out
    }),
    components: {
      schemas: COMPONENT_SCHEMAS,
      errors: ERRORS
    },
    'x-notifications': [
      {
        name: NOTIFICATIONS.trace.method,
        summary: 'Records of a trace subscription, oldest first',
        params: [{ name: 'subscription', schema: { type: 'string' } }, { name: NOTIFICATIONS.trace.field, schema: { type: 'array', items: { $ref: '#/components/schemas/TraceRecord' } } }]
      },
      {
        name: NOTIFICATIONS.logs.method,
        summary: 'Entries of a logs subscription, oldest first',
        params: [{ name: 'subscription', schema: { type: 'string' } }, { name: NOTIFICATIONS.logs.field, schema: { type: 'array', items: { $ref: '#/components/schemas/LogEntry' } } }]
      },
      {
        name: DROPPED_NOTIFICATION,
        summary: 'The subscription lost this many records here because the client read too slowly (its queue was full)',
        params: [{ name: 'subscription', schema: { type: 'string' } }, { name: 'dropped', schema: { type: 'integer' } }]
      }
    ]
  }
}
