import { CentraliError } from '../shared/errors.js'

/**
 * A deploy API refusal: the HTTP status it answers with and a stable code from `protocol.ts`,
 * sent as the HTTP contract's `{ "error": { code, message } }`.
 */
export class ApiError extends CentraliError {
  readonly status: number

  constructor(status: number, code: string, message: string, hint?: string) {
    super(code, message, hint === undefined ? {} : { hint })
    this.status = status
  }
}
