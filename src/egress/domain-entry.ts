import { isIP } from 'node:net'
import type { DomainEntry } from './domain-match.js'

/**
 * Allowlist entries (DESIGN §3): `api.openai.com`, `*.stripe.com`, `api.partner.io:8443`.
 * This module turns what a person typed into the one normal form stored in `centrali.json`, or
 * says why the entry cannot be meant. Parsing is WHATWG `URL`, never a regex over the raw text, so
 * case, full-width characters, IDN and numeric IPv4 spellings all reach the same canonical host
 * that the egress guard will compare against.
 */
export type { DomainEntry } from './domain-match.js'
export { entryMatches } from './domain-match.js'

export type NormalizeResult =
  { ok: true; entry: DomainEntry; text: string; notes: string[] } | { ok: false; reason: string }

export interface NormalizeOptions {
  /** Accept IP literals (`--ip`). */
  allowIp?: boolean
  /** Tells whether a host is a public suffix (`com`, `co.uk`, `github.io`); injected so the
   *  caller decides when to load the suffix list. */
  isPublicSuffix?: (host: string) => boolean
}

const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/

export function formatDomainEntry(entry: DomainEntry): string {
  const host = entry.ip && entry.host.includes(':') ? `[${entry.host}]` : entry.host
  return `${entry.wildcard ? '*.' : ''}${host}${entry.port === undefined ? '' : `:${entry.port}`}`
}

export function normalizeDomainEntry(input: string, options: NormalizeOptions = {}): NormalizeResult {
  const notes: string[] = []
  let text = input.trim()
  if (text === '') return { ok: false, reason: 'the entry is empty' }

  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text)
  if (scheme) {
    const name = scheme[1]!.toLowerCase()
    if (name !== 'https' && name !== 'http') {
      return { ok: false, reason: `"${name}:" is not a web address; functions only call https:// hosts` }
    }
    if (name === 'http')
      notes.push('calls always use https://; plain http:// works only for hosts mapped with --map')
    text = text.slice(scheme[0].length)
  }

  if (text === '') return { ok: false, reason: 'the entry has no host' }
  // WHATWG URL reports an empty user name ("@host") as none at all; any "@" before the path is userinfo.
  if (/^[^/?#\\]*@/.test(text)) {
    return { ok: false, reason: 'an entry cannot carry a user name or password ("user@host")' }
  }

  let wildcard = false
  if (text.startsWith('*.')) {
    wildcard = true
    text = text.slice(2)
  }
  if (text === '*' || text === '') return { ok: false, reason: '"*" would allow every host on the internet' }

  let url: URL
  try {
    url = new URL(`https://${text}`)
  } catch {
    return { ok: false, reason: invalidReason(text) }
  }
  if (url.username !== '' || url.password !== '') {
    return { ok: false, reason: 'an entry cannot carry a user name or password ("user@host")' }
  }
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '') {
    notes.push(`only the host is kept; the path "${url.pathname}${url.search}${url.hash}" is dropped`)
  }

  let host = url.hostname
  if (host.endsWith('.')) host = host.slice(0, -1)
  if (host.includes('*')) {
    return {
      ok: false,
      reason:
        'a wildcard may only stand as the first label ("*.example.com"), never in the middle or inside a label',
    }
  }
  const bracketless = host.startsWith('[') ? host.slice(1, -1) : host
  const ip = isIP(bracketless) !== 0

  let port: number | undefined
  if (url.port !== '') {
    port = Number(url.port)
    if (port < 1 || port > 65535) return { ok: false, reason: `port ${url.port} is out of range (1-65535)` }
  } else if (/:0+$/.test(text)) {
    return { ok: false, reason: 'port 0 is out of range (1-65535)' }
  }

  if (ip) {
    if (wildcard) return { ok: false, reason: 'an IP address cannot take a wildcard' }
    if (!options.allowIp) {
      return {
        ok: false,
        reason: `${bracketless} is an IP address; allow it only if you mean it, with --ip (names are safer: an IP skips DNS)`,
      }
    }
    if (bracketless !== text.replace(/:\d+$/, '').replace(/^\[|\]$/g, '')) {
      notes.push(`the address is written as ${bracketless}`)
    }
    return finish(
      { host: bracketless, wildcard: false, ip: true, ...(port === undefined ? {} : { port }) },
      notes,
    )
  }

  if (host === 'localhost' || host.endsWith('.localhost')) {
    return {
      ok: false,
      reason:
        'localhost is never reachable from a function; to test against a local server use `centrali dev --map`',
    }
  }
  const labels = host.split('.')
  if (host.length > 253 || !labels.every((label) => LABEL.test(label)))
    return { ok: false, reason: invalidReason(text) }
  if (labels.length < 2 && !wildcard) {
    return { ok: false, reason: `"${host}" is not a full domain name (such as api.${host}.com)` }
  }
  if (labels.length < 2 || options.isPublicSuffix?.(host)) {
    return {
      ok: false,
      reason: wildcard
        ? `"*.${host}" would allow every site under the public suffix "${host}"`
        : `"${host}" is a public suffix, not a site`,
    }
  }
  const entry: DomainEntry = { host, wildcard, ip: false, ...(port === undefined ? {} : { port }) }
  return finish(entry, notes)
}

function finish(entry: DomainEntry, notes: string[]): NormalizeResult {
  return { ok: true, entry, text: formatDomainEntry(entry), notes }
}

function invalidReason(text: string): string {
  if (/:\d{6,}$|:(6553[6-9]|655[4-9]\d|65[6-9]\d\d|6[6-9]\d{3}|[7-9]\d{4})$/.test(text)) {
    return 'the port is out of range (1-65535)'
  }
  return `"${text}" is not a valid host name`
}

/**
 * Parses an entry already stored in `centrali.json`. Stored entries may be IP literals (they were
 * added with `--ip`), so IPs are accepted here.
 */
export function parseStoredDomainEntry(
  text: string,
  options: Omit<NormalizeOptions, 'allowIp'> = {},
): NormalizeResult {
  return normalizeDomainEntry(text, { ...options, allowIp: true })
}
