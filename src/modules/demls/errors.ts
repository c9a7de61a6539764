import { LogosError, registerErrors } from '../../sdk/index.ts'

/** A demls module method got a parameter of the wrong shape. */
export class DemlsParamsError extends LogosError {
  static readonly code = 'ERR_MLS_PARAMS'
  constructor (message: string) {
    super(DemlsParamsError.code, message)
  }
}

registerErrors(DemlsParamsError)
