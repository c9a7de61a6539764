import { errorToWire, LogosError } from '../../sdk/index.ts'
import type { ErrorWire } from '../../sdk/index.ts'
import { MAX_BATCH } from './constants.ts'
import {
  DevInvalidParamsError, DevLimitReachedError, DevNeedsWebSocketError, DevOriginRefusedError, DevTokenInvalidError,
  DevTokenMissingError
} from './errors.ts'
import { encodeJson } from './wire-values.ts'

/**
 * JSON-RPC 2.0 (https://www.jsonrpc.org/specification): request validation, batches, and the mapping of errors to
 * error objects. Transport-free: the HTTP and WebSocket servers hand it text and send back what it returns.
 */

// Section 5.1: the codes the specification defines.
export const PARSE_ERROR = -32700
export const INVALID_REQUEST = -32600
export const METHOD_NOT_FOUND = -32601
export const INVALID_PARAMS = -32602
export const INTERNAL_ERROR = -32603
// Section 5.1 leaves -32000..-32099 to the implementation ("server error"); this interface uses:
/** An error of the node or of a module: `data` is the LogosError's wire form (`data.code` is its ERR_ code). */
export const APPLICATION_ERROR = -32000
/** No token, or a wrong one (HTTP 401). */
export const UNAUTHORIZED = -32001
/** A foreign Origin or Host (HTTP 403). */
export const FORBIDDEN = -32002
/** A bound is reached (clients, subscriptions, requests in flight): retry later. */
export const LIMIT_REACHED = -32003
/** A subscription was asked for over HTTP; it needs a WebSocket. */
export const NEEDS_WEBSOCKET = -32004

export type RpcId = string | number | null

export interface RpcRequest {
  jsonrpc: '2.0'
  method: string
  params?: unknown
  /** Absent for a notification (section 4.1): no response is sent. */
  id?: RpcId
}

export interface RpcErrorObject {
  code: number
  message: string
  data?: unknown
}

export type RpcResponse =
  | { jsonrpc: '2.0', id: RpcId, result: unknown }
  | { jsonrpc: '2.0', id: RpcId, error: RpcErrorObject }

/** Runs one valid request; throws to answer with an error (see toRpcError). */
export type RpcDispatch = (request: RpcRequest) => Promise<unknown>

/** Thrown by a dispatcher for a method it does not have (answered with -32601). */
export class RpcMethodNotFound extends Error {
  readonly method: string
  constructor (method: string) {
    super(`Method not found: ${method}`)
    this.method = method
  }
}

/** The error object for a thrown value: protocol errors keep their codes, everything else is an application error. */
export function toRpcError (err: unknown): RpcErrorObject {
  if (err instanceof RpcMethodNotFound) return { code: METHOD_NOT_FOUND, message: err.message, data: { method: err.method } }
  const wire = stripStacks(errorToWire(err))
  return { code: rpcCodeOf(err), message: wire.message, data: wire }
}

function rpcCodeOf (err: unknown): number {
  if (!(err instanceof LogosError)) return APPLICATION_ERROR
  switch (err.code) {
    case DevInvalidParamsError.code: return INVALID_PARAMS
    case DevTokenMissingError.code:
    case DevTokenInvalidError.code: return UNAUTHORIZED
    case DevOriginRefusedError.code: return FORBIDDEN
    case DevLimitReachedError.code: return LIMIT_REACHED
    case DevNeedsWebSocketError.code: return NEEDS_WEBSOCKET
    default: return APPLICATION_ERROR
  }
}

/**
 * Typed errors are conditions (their code says what happened), so their stacks are noise; an untyped error
 * (ERR_UNEXPECTED: a TypeError in a module, say) is a bug, and its stack is what a developer needs. Keeps only those.
 */
function stripStacks (wire: ErrorWire): ErrorWire {
  if (wire.code !== 'ERR_UNEXPECTED') delete wire.stack
  if (wire.cause !== undefined) stripStacks(wire.cause)
  return wire
}

export function errorResponse (id: RpcId, code: number, message: string, data?: unknown): RpcResponse {
  return data === undefined ? { jsonrpc: '2.0', id, error: { code, message } } : { jsonrpc: '2.0', id, error: { code, message, data } }
}

/** Checks one element of a call (section 4); returns the request, or the error response it deserves. */
export function checkRequest (value: unknown): { request: RpcRequest } | { error: RpcResponse } {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { error: errorResponse(null, INVALID_REQUEST, 'Invalid Request: not an object') }
  const obj = value as Record<string, unknown>
  // The id is echoed when it is valid, even if the rest is not (so the client can match the error).
  const hasId = Object.hasOwn(obj, 'id')
  const id = obj.id
  const idValid = !hasId || id === null || typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id))
  const echo: RpcId = hasId && idValid ? id as RpcId : null
  if (!idValid) return { error: errorResponse(null, INVALID_REQUEST, 'Invalid Request: id must be a string, a number or null') }
  if (obj.jsonrpc !== '2.0') return { error: errorResponse(echo, INVALID_REQUEST, 'Invalid Request: jsonrpc must be "2.0"') }
  if (typeof obj.method !== 'string') return { error: errorResponse(echo, INVALID_REQUEST, 'Invalid Request: method must be a string') }
  if (obj.params !== undefined && (obj.params === null || typeof obj.params !== 'object')) {
    return { error: errorResponse(echo, INVALID_REQUEST, 'Invalid Request: params must be an object or an array') }
  }
  const request: RpcRequest = { jsonrpc: '2.0', method: obj.method }
  if (obj.params !== undefined) request.params = obj.params
  if (hasId) request.id = id as RpcId
  return { request }
}

/** Runs one request; undefined for a notification (whose outcome, even an error, is not reported: section 4.1). */
export async function runRequest (value: unknown, dispatch: RpcDispatch): Promise<RpcResponse | undefined> {
  const checked = checkRequest(value)
  if ('error' in checked) return checked.error
  const { request } = checked
  const notification = !Object.hasOwn(request, 'id')
  try {
    const result = await dispatch(request)
    return notification ? undefined : { jsonrpc: '2.0', id: request.id as RpcId, result: result === undefined ? null : result }
  } catch (err) {
    if (notification) return undefined
    const e = toRpcError(err)
    return { jsonrpc: '2.0', id: request.id as RpcId, error: e }
  }
}

/**
 * Handles one message: a request or a batch (section 6). Returns the text to send back, or undefined when there is
 * nothing to send (only notifications). Never throws.
 */
export async function handleMessage (text: string, dispatch: RpcDispatch, options: { maxBatch?: number } = {}): Promise<string | undefined> {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    return serialize(errorResponse(null, PARSE_ERROR, `Parse error: ${(err as Error).message}`))
  }
  if (!Array.isArray(parsed)) {
    const response = await runRequest(parsed, dispatch)
    return response === undefined ? undefined : serialize(response)
  }
  if (parsed.length === 0) return serialize(errorResponse(null, INVALID_REQUEST, 'Invalid Request: an empty batch'))
  const maxBatch = options.maxBatch ?? MAX_BATCH
  if (parsed.length > maxBatch) return serialize(errorResponse(null, INVALID_REQUEST, `Invalid Request: a batch of ${parsed.length} requests (at most ${maxBatch})`))
  // The requests of a batch run concurrently (section 6 allows any order); responses keep the batch's order.
  const responses = (await Promise.all(parsed.map(async (value) => await runRequest(value, dispatch)))).filter((r): r is RpcResponse => r !== undefined)
  if (responses.length === 0) return undefined
  return '[' + responses.map(serialize).join(',') + ']'
}

/** One response as text; a result JSON cannot hold becomes an internal error for that request only. */
export function serialize (response: RpcResponse): string {
  try {
    return encodeJson(response)
  } catch (err) {
    return JSON.stringify(errorResponse(response.id, INTERNAL_ERROR, `Internal error: the result cannot be encoded as JSON (${(err as Error).message})`))
  }
}

/** The application error a client rebuilds from an error object (data is the LogosError's wire form). */
export function wireOf (error: RpcErrorObject): ErrorWire | undefined {
  const data = error.data as Partial<ErrorWire> | undefined
  return data !== undefined && typeof data === 'object' && typeof data.code === 'string' && typeof data.message === 'string' ? data as ErrorWire : undefined
}
