/**
 * Which request headers survive a redirect (DESIGN §3). Pure ECMAScript: the Cloudflare worker
 * bundles it too, so both targets drop the same headers.
 */

/** Headers that carry no credential, kept when a redirect goes to another origin; all others go. */
export const CROSS_ORIGIN_SAFE_HEADERS: ReadonlySet<string> = new Set([
  'accept',
  'accept-encoding',
  'accept-language',
  'cache-control',
  'content-language',
  'content-type',
  'pragma',
  'user-agent',
])

/** Headers that describe the request body, dropped when a redirect turns the call into a GET. */
export const BODY_HEADERS: readonly string[] = [
  'content-encoding',
  'content-language',
  'content-location',
  'content-type',
]
