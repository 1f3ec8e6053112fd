import { UserError } from '../shared/errors.js'
import { entryMatches, parseStoredDomainEntry, type DomainEntry } from './domain-entry.js'

/**
 * The `"domains"` of `centrali.json` as a matcher (DESIGN §3): `api.openai.com` allows that host on
 * port 443, `*.stripe.com` any subdomain at any depth (never `stripe.com` itself), and
 * `api.partner.io:8443` that host on that port only.
 */
export class Allowlist {
  readonly #entries: readonly DomainEntry[]

  /** Throws a `UserError` naming the entry when one is not a valid stored entry. */
  constructor(domains: readonly string[]) {
    this.#entries = domains.map((text) => {
      const result = parseStoredDomainEntry(text)
      if (!result.ok) {
        throw new UserError(
          'DOMAIN_ENTRY_INVALID',
          `centrali.json "domains" has an invalid entry "${text}": ${result.reason}.`,
          {
            hint: 'Remove it with `centrali domains remove` and add it again with `centrali domains add`.',
          },
        )
      }
      return result.entry
    })
  }

  /**
   * Does an entry allow `host` on `port`? `host` must be canonical, as WHATWG `URL` gives it:
   * lowercase punycode, no trailing dot; IPv6 with or without brackets.
   */
  allows(host: string, port: number): boolean {
    const bare = unbracket(host)
    return this.#entries.some((entry) => entryMatches(entry, bare, port))
  }

  /** The ports some entry allows `host` on, to tell a wrong port from a host that is not listed. */
  portsFor(host: string): number[] {
    const bare = unbracket(host)
    const ports = this.#entries
      .filter((entry) => entryMatches(entry, bare, entry.port ?? 443))
      .map((entry) => entry.port ?? 443)
    return [...new Set(ports)].sort((a, b) => a - b)
  }
}

function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
}
