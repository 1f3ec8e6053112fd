import { CentraliError } from '../shared/errors.js'

/**
 * Why an outbound call did not happen or did not finish. The codes are stable: the endpoint server
 * answers an uncaught egress error with 502 and this code (DESIGN §6).
 */
export type EgressErrorCode =
  | 'EGRESS_HOST_DENIED'
  | 'EGRESS_IP_DENIED'
  | 'EGRESS_SCHEME_DENIED'
  | 'EGRESS_PORT_DENIED'
  | 'EGRESS_URL_INVALID'
  | 'EGRESS_HEADER_DENIED'
  | 'EGRESS_METHOD_DENIED'
  | 'EGRESS_TOO_MANY_REDIRECTS'
  | 'EGRESS_RESPONSE_TOO_LARGE'
  | 'EGRESS_RESPONSE_INVALID'
  | 'EGRESS_TIMEOUT'
  | 'EGRESS_CONNECT_FAILED'
  | 'EGRESS_ABORTED'

/** The guard refused the call by policy; these are the `EgressBlockedError`s of DESIGN §3. */
export const BLOCKING_CODES: ReadonlySet<EgressErrorCode> = new Set<EgressErrorCode>([
  'EGRESS_HOST_DENIED',
  'EGRESS_IP_DENIED',
  'EGRESS_SCHEME_DENIED',
  'EGRESS_PORT_DENIED',
  'EGRESS_URL_INVALID',
  'EGRESS_HEADER_DENIED',
  'EGRESS_METHOD_DENIED',
  'EGRESS_TOO_MANY_REDIRECTS',
])

export interface EgressErrorDetails {
  /** The host the call was for, as the URL names it (`api.example.com`, `[::1]`). */
  host: string
  /** Why, as a clause: `the host is not in centrali.json "domains"`. */
  reason: string
  /** What to do, as a sentence; also the error's `hint`. */
  fix?: string
  /**
   * For a host or port the allowlist does not name: the command that allows the call
   * (`allowCommand`). The fix is then "Allow it with: <command>".
   */
  allow?: string
  cause?: unknown
}

/**
 * An outbound call that was blocked or failed. The message names the host, the reason and the fix:
 * `Blocked call to api.example.com: the host is not in centrali.json "domains". Allow it with:
 * centrali domains add api.example.com`. Blocking errors are named `EgressBlockedError`.
 */
export class EgressError extends CentraliError {
  override readonly code: EgressErrorCode
  readonly host: string
  readonly reason: string
  /** True when the guard refused the call by policy (as opposed to a timeout or a failure upstream). */
  readonly blocked: boolean
  /** The command that allows the call, when allowing its host or port would. */
  readonly allow: string | undefined

  constructor(code: EgressErrorCode, details: EgressErrorDetails) {
    const blocked = BLOCKING_CODES.has(code)
    const lead = blocked ? `Blocked call to ${details.host}` : `Call to ${details.host} failed`
    const fix = details.allow === undefined ? details.fix : `Allow it with: ${details.allow}`
    const message = `${lead}: ${details.reason}.${fix === undefined ? '' : ` ${fix}`}`
    super(code, message, {
      ...(fix === undefined ? {} : { hint: fix }),
      ...(details.cause === undefined ? {} : { cause: details.cause }),
    })
    this.name = blocked ? 'EgressBlockedError' : 'EgressError'
    this.code = code
    this.host = details.host
    this.reason = details.reason
    this.blocked = blocked
    this.allow = details.allow
  }
}

/**
 * The reason and fix of an EGRESS_TIMEOUT, for the local client and the Worker alike. `totalMs`: the
 * call's deadline, 0 when it had passed before the call started.
 */
export function timeoutDetails(totalMs: number): { reason: string; fix: string } {
  return {
    reason:
      totalMs === 0
        ? 'the deadline had passed before the call started'
        : `no complete response within the call's ${totalMs} ms deadline (DNS, connect, redirects and body included)`,
    fix: "Raise the call's timeoutMs or the trigger's timeoutMs, or find out why the upstream is slow.",
  }
}

/** The reason and fix of an EGRESS_RESPONSE_TOO_LARGE, for the local client and the Worker alike. */
export function responseTooLargeDetails(maxBytes: number): { reason: string; fix: string } {
  return {
    reason: `the response body is over the ${maxBytes}-byte limit (counted after decompression)`,
    fix: 'Ask the upstream for less data at a time (pagination, filters, smaller pages).',
  }
}

/** Did the guard refuse the call by policy (a blocked call), rather than fail upstream? */
export function isBlockingCode(code: string): boolean {
  return (BLOCKING_CODES as ReadonlySet<string>).has(code)
}

/** The exact command that allows calls to a host (and port) the allowlist does not name. */
export function allowCommand(host: string, port: number, isIpLiteral: boolean): string {
  const entry = port === 443 ? host : `${host}:${port}`
  return `centrali domains add ${isIpLiteral ? '--ip ' : ''}${entry}`
}
