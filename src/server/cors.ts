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

/** What a preflight asks for: its `Access-Control-Request-Method` and `-Headers`, as sent. */
export interface PreflightRequest {
  method: string | undefined
  headers: string | undefined
}

/** What a request asks of a preflight: for an OPTIONS request, the two headers; else undefined. */
export function preflightOf(
  method: string,
  header: (name: string) => string | undefined,
): PreflightRequest | undefined {
  if (method !== 'OPTIONS') return undefined
  return {
    method: header('access-control-request-method'),
    headers: header('access-control-request-headers'),
  }
}

/** Why a browser will refuse a response: its origin, or a method or headers its preflight asked for. */
export type CorsRefusal =
  | { refused: 'origin'; reason: string }
  | { refused: 'method'; method: string; reason: string }
  | { refused: 'headers'; headers: string[]; reason: string }

export type CorsDecision =
  | { allowed: true; headers: Record<string, string> }
  /** `headers`: to send all the same (see `decideCors`); none for an origin that is not allowed. */
  | { allowed: false; refusal: CorsRefusal; headers: Record<string, string> }
  /** Not a cross-origin request (no Origin header): nothing to add. */
  | { allowed: undefined }

/**
 * Allowed on every trigger. Besides centrali's own, the Fetch spec's CORS-safelisted request-header
 * names: a browser leaves them out of a preflight unless their value is not the safelisted kind
 * (`content-type: application/json`, an `accept` over 128 bytes), and then needs them allowed.
 */
const DEFAULT_ALLOWED_HEADERS = [
  'content-type',
  'authorization',
  'x-request-id',
  'accept',
  'accept-language',
  'content-language',
  'range',
]
const ALLOWED_METHODS = 'POST, OPTIONS'
/** Methods a preflight may ask for: those allowed, and the CORS-safelisted ones a browser needs no allowing for. */
const METHODS_PASSING_PREFLIGHT = new Set(['GET', 'HEAD', 'POST', 'OPTIONS'])
const EXPOSED_HEADERS = 'x-request-id, x-centrali-build'

/**
 * `preflight`: what an OPTIONS request asks for; undefined for any other request. A preflight from an
 * allowed origin that asks for a method or a header the trigger does not allow is refused, and still
 * gets the CORS headers: the browser then names what it lacks ("x-user-token is not allowed by
 * Access-Control-Allow-Headers") rather than a missing Allow-Origin, and they allow nothing more.
 */
export function decideCors(
  policy: CorsPolicy | undefined,
  origin: string | undefined,
  preflight: PreflightRequest | undefined,
): CorsDecision {
  if (origin === undefined) return { allowed: undefined }
  if (policy === undefined || policy.origins.length === 0) {
    return refuse({
      refused: 'origin',
      reason: `${origin} is not allowed: the trigger has no "cors" origins`,
    })
  }
  const listed = policy.origins.includes(origin)
  const wildcard = policy.origins.includes('*')
  if (!wildcard && !listed) {
    return refuse({
      refused: 'origin',
      reason: `${origin} is not one of the origins allowed to call this trigger (${policy.origins.join(', ')})`,
    })
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
  if (preflight === undefined) return { allowed: true, headers }

  const allowedHeaders = [
    ...new Set([...DEFAULT_ALLOWED_HEADERS, ...(policy.headers ?? []).map((name) => name.toLowerCase())]),
  ]
  headers['access-control-allow-methods'] = ALLOWED_METHODS
  headers['access-control-allow-headers'] = allowedHeaders.join(', ')
  headers['access-control-max-age'] = String(policy.maxAgeSeconds ?? 600)

  const method = preflight.method?.trim()
  // Compared as sent: a browser upper-cases the usual methods, and a "patch" stays "patch" for it too.
  if (method && !METHODS_PASSING_PREFLIGHT.has(method)) {
    return {
      allowed: false,
      refusal: {
        refused: 'method',
        method,
        reason: `the preflight from ${origin} asks for ${method}; endpoints take POST only`,
      },
      headers,
    }
  }
  // "*" allows any header, but only to a request without credentials (Fetch spec).
  const anyHeader = allowedHeaders.includes('*') && !credentials
  const missing = anyHeader
    ? []
    : requestedHeaders(preflight.headers).filter((name) => !allowedHeaders.includes(name))
  if (missing.length > 0) {
    const named = missing.length === 1 ? `the header ${missing[0]}` : `the headers ${missing.join(', ')}`
    return {
      allowed: false,
      refusal: {
        refused: 'headers',
        headers: missing,
        reason: `the preflight from ${origin} asks to send ${named}, which this trigger does not allow (it allows ${allowedHeaders.join(', ')})`,
      },
      headers,
    }
  }
  return { allowed: true, headers }
}

/**
 * The refusal of a browser's request from another site whose origin the trigger does not allow, or
 * undefined to let it run. Its `Sec-Fetch-Site` (which current browsers send) says where it came
 * from: `cross-site` or `same-site` is another origin, while a page of the same origin (one behind
 * the same proxy, which needs no CORS) says `same-origin`, and a tool or an old browser sends none and
 * runs as before. The browser would keep the answer from the page anyway; not running the function
 * spends no API call on it and acts on no cookie it carries (CSRF).
 */
export function crossSiteRefusal(
  decision: CorsDecision,
  fetchSite: string | undefined,
  trigger: string,
): { code: string; message: string } | undefined {
  if (decision.allowed !== false || decision.refusal.refused !== 'origin') return undefined
  if (fetchSite !== 'cross-site' && fetchSite !== 'same-site') return undefined
  return {
    code: 'ORIGIN_NOT_ALLOWED',
    message: `This page's origin may not call the trigger ${trigger}: the trigger's cors.origins in centrali.json name the pages that may.`,
  }
}

function refuse(refusal: CorsRefusal): CorsDecision {
  return { allowed: false, refusal, headers: {} }
}

/** `Access-Control-Request-Headers`: a comma list of names, compared in lower case. */
function requestedHeaders(value: string | undefined): string[] {
  if (value === undefined) return []
  return [...new Set(value.split(',').map((name) => name.trim().toLowerCase()))].filter((name) => name !== '')
}

/**
 * The policy for a trigger that does not exist, as `origin` (the request's Origin) is to get it:
 * every origin some trigger allows. A page that misspells a trigger's name then reads the server's
 * TRIGGER_NOT_FOUND instead of a bare network error; the answer tells it nothing a trigger it may
 * call would not. Credentials only when a trigger gives them to that very origin: one trigger's
 * origin does not get them from another trigger's, nor from a "*" (`decideCors` gives them only
 * to origins listed by name).
 */
export function policyForUnknownTrigger(
  policies: Iterable<CorsPolicy | undefined>,
  origin: string | undefined,
): CorsPolicy | undefined {
  const origins = new Set<string>()
  const headers = new Set<string>()
  let credentials = false
  for (const policy of policies) {
    if (policy === undefined) continue
    for (const allowed of policy.origins) origins.add(allowed)
    for (const header of policy.headers ?? []) headers.add(header)
    if (policy.credentials === true && origin !== undefined && policy.origins.includes(origin))
      credentials = true
  }
  if (origins.size === 0) return undefined
  return { origins: [...origins], headers: [...headers], credentials }
}
