/** The HTTP status of each error code (DESIGN §6). Pure: the Cloudflare worker bundles it too. */
export const ERROR_STATUS: Readonly<Record<string, number>> = {
  FUNCTION_ERROR: 500,
  FUNCTION_NO_RUN: 500,
  FUNCTION_LOAD_FAILED: 500,
  FUNCTION_OUT_OF_MEMORY: 500,
  FUNCTION_CALL_LIMIT: 500,
  FUNCTION_CRASHED: 500,
  FUNCTION_TIMEOUT: 504,
  FUNCTION_INTERRUPTED: 503,
  POOL_CLOSED: 503,
  PAYLOAD_TOO_DEEP: 400,
}

export function statusForCode(code: string): number {
  return ERROR_STATUS[code] ?? (code.startsWith('EGRESS_') ? 502 : 500)
}
