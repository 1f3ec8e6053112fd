/**
 * CORS for endpoint triggers (DESIGN §6): the trigger's `cors` decides, and the headers go on every
 * response, errors and preflights included. An origin that is not allowed gets no CORS headers at
 * all, which is how a browser learns to refuse the response.
 */
export interface CorsPolicy {
  origins: readonly string[]
  headers?: readonly string[]
  credentials?: boolean
  maxAgeSeconds?: number
}

export type CorsDecision =
  | { allowed: true; headers: Record<string, string> }
  | { allowed: false; reason: string }
  /** Not a cross-origin request (no Origin header): nothing to add. */
  | { allowed: undefined }

const DEFAULT_ALLOWED_HEADERS = ['content-type', 'authorization', 'x-request-id']
const EXPOSED_HEADERS = 'x-request-id, x-centrali-build'

export function decideCors(
  policy: CorsPolicy | undefined,
  origin: string | undefined,
  preflight: boolean,
): CorsDecision {
  if (origin === undefined) return { allowed: undefined }
  if (policy === undefined || policy.origins.length === 0) {
    return { allowed: false, reason: `${origin} is not allowed: the trigger has no "cors" origins` }
  }
  const listed = policy.origins.includes(origin)
  const wildcard = policy.origins.includes('*')
  if (!wildcard && !listed) {
    return {
      allowed: false,
      reason: `${origin} is not one of the origins allowed to call this trigger (${policy.origins.join(', ')})`,
    }
  }
  // Credentials only for an origin listed by name: reflecting whatever Origin "*" lets in, with
  // allow-credentials, would let any site make credentialed requests and read the answers. The
  // config refuses "*" with credentials; a policy can still get here with both (`--cors '*'` on such
  // a trigger, the union for an unknown trigger, a version `serve` stored before that rule).
  const credentials = policy.credentials === true && listed
  // With credentials the browser wants the exact origin, never "*".
  const allowOrigin = wildcard && !credentials ? '*' : origin
  const headers: Record<string, string> = {
    'access-control-allow-origin': allowOrigin,
    'access-control-expose-headers': EXPOSED_HEADERS,
  }
  // The answer depends on the Origin unless every origin gets the same "*".
  if (allowOrigin !== '*' || policy.credentials) headers.vary = 'Origin'
  if (credentials) headers['access-control-allow-credentials'] = 'true'
  if (preflight) {
    headers['access-control-allow-methods'] = 'POST, OPTIONS'
    headers['access-control-allow-headers'] = [
      ...new Set([...DEFAULT_ALLOWED_HEADERS, ...(policy.headers ?? []).map((name) => name.toLowerCase())]),
    ].join(', ')
    headers['access-control-max-age'] = String(policy.maxAgeSeconds ?? 600)
  }
  return { allowed: true, headers }
}

/**
 * The policy for a trigger that does not exist: every origin some trigger allows. A page that
 * misspells a trigger's name then reads the server's TRIGGER_NOT_FOUND instead of a bare network
 * error; the answer tells it nothing a trigger it may call would not. A "*" from one trigger and
 * credentials from another do not add up to credentials for any origin: `decideCors` gives them
 * only to origins listed by name.
 */
export function policyForUnknownTrigger(policies: Iterable<CorsPolicy | undefined>): CorsPolicy | undefined {
  const origins = new Set<string>()
  const headers = new Set<string>()
  let credentials = false
  for (const policy of policies) {
    if (policy === undefined) continue
    for (const origin of policy.origins) origins.add(origin)
    for (const header of policy.headers ?? []) headers.add(header)
    credentials ||= policy.credentials === true
  }
  if (origins.size === 0) return undefined
  return { origins: [...origins], headers: [...headers], credentials }
}
