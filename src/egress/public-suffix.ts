import { getPublicSuffix } from 'tldts'

/** True when `host` is itself a public suffix (`com`, `co.uk`, or a private one such as `github.io`). */
export function isPublicSuffix(host: string): boolean {
  return getPublicSuffix(host, { allowPrivateDomains: true }) === host
}
