import { LogosError, registerErrors } from '../../sdk/index.ts'

/** Basecamp's configuration (`modules.basecamp.config` in config.json) has a bad field. */
export class BasecampBadConfigError extends LogosError {
  static readonly code = 'ERR_BASECAMP_BAD_CONFIG'
  constructor (field: string, expected: string) {
    super(BasecampBadConfigError.code, `basecamp config: "${field}" must be ${expected}`, { data: { field, expected } })
  }
}

/** A request to Basecamp's relay or secret probe carried no secret (it comes in the link `logos start` prints). */
export class BasecampSecretMissingError extends LogosError {
  static readonly code = 'ERR_BASECAMP_SECRET_MISSING'
  constructor () {
    super(BasecampSecretMissingError.code, 'Basecamp needs this run\'s secret: open the link `logos start` printed (or run `logos basecamp`)')
  }
}

/** A request to Basecamp carried a secret that is not this run's (the node restarted, or the link was mistyped). */
export class BasecampSecretInvalidError extends LogosError {
  static readonly code = 'ERR_BASECAMP_SECRET_INVALID'
  constructor () {
    super(BasecampSecretInvalidError.code, 'the secret is not this run\'s: open the link the node printed when it started (or run `logos basecamp`)')
  }
}

/** A page of another origin, or a request naming a foreign Host (DNS rebinding), tried to reach Basecamp. */
export class BasecampOriginRefusedError extends LogosError {
  static readonly code = 'ERR_BASECAMP_ORIGIN_REFUSED'
  constructor (what: 'host' | 'origin', value: string) {
    super(BasecampOriginRefusedError.code, `requests with ${what} "${value}" are refused`, { data: { [what]: value } })
  }
}

/** A bound of Basecamp (pages connected at once, messages before the node answered) is reached. */
export class BasecampLimitReachedError extends LogosError {
  static readonly code = 'ERR_BASECAMP_LIMIT_REACHED'
  constructor (what: string, limit: number) {
    super(BasecampLimitReachedError.code, `too many ${what} (limit ${limit})`, { retryable: true, data: { what, limit } })
  }
}

/** A page asked Basecamp's relay to stop, unload, reload or watch Basecamp itself (its answer could never arrive). */
export class BasecampSelfControlError extends LogosError {
  static readonly code = 'ERR_BASECAMP_SELF_CONTROL'
  constructor (name: string, method: string) {
    super(BasecampSelfControlError.code, `Basecamp does not ${method.replace(/^modules\./, '')} ${name} from its own page: the page's connection goes through it (use \`logos dev\`)`, { data: { module: name, method } })
  }
}

/** A JSON-RPC batch held a request the relay answers or refuses itself; such requests go one at a time. */
export class BasecampBatchRefusedError extends LogosError {
  static readonly code = 'ERR_BASECAMP_BATCH_REFUSED'
  constructor (method: string) {
    super(BasecampBatchRefusedError.code, `a batch may not hold ${method}: send it on its own`, { data: { method } })
  }
}

/** Basecamp could not reach the node's developer interface (it is stopped, or its files are missing). */
export class BasecampNodeUnreachableError extends LogosError {
  static readonly code = 'ERR_BASECAMP_NODE_UNREACHABLE'
  constructor (detail: string, options: { cause?: unknown } = {}) {
    super(BasecampNodeUnreachableError.code, `the node's developer interface is unreachable: ${detail}`, { retryable: true, cause: options.cause, data: { detail } })
  }
}

/** No Basecamp runs for this data directory (no endpoint or secret file). */
export class BasecampNotRunningError extends LogosError {
  static readonly code = 'ERR_BASECAMP_NOT_RUNNING'
  constructor (folder: string, options: { cause?: unknown } = {}) {
    super(BasecampNotRunningError.code, `no Basecamp runs for ${folder} (is the node started, with basecamp enabled?)`, { cause: options.cause, data: { folder } })
  }
}

registerErrors(
  BasecampBadConfigError, BasecampSecretMissingError, BasecampSecretInvalidError, BasecampOriginRefusedError,
  BasecampLimitReachedError, BasecampSelfControlError, BasecampBatchRefusedError, BasecampNodeUnreachableError,
  BasecampNotRunningError
)
