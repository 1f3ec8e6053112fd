/**
 * Matching a host against a normalised allowlist entry. Pure ECMAScript (no Node built-ins): the
 * Cloudflare worker bundles it too, so both targets match hosts the same way.
 */
export interface DomainEntry {
  /** Lowercase punycode host without the wildcard, without a trailing dot. */
  host: string
  /** `*.host`: any subdomain at any depth, never `host` itself. */
  wildcard: boolean
  /** Explicit port; absent means 443 only. */
  port?: number
  /** The host is an IP literal (only with `--ip`). */
  ip: boolean
}

/** Does the entry allow `host:port`? `host` must already be canonical (lowercase punycode). */
export function entryMatches(entry: DomainEntry, host: string, port: number): boolean {
  if ((entry.port ?? 443) !== port) return false
  if (entry.wildcard) return host.endsWith(`.${entry.host}`)
  return host === entry.host
}
