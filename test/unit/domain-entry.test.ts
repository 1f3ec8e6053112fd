import { describe, it, expect } from 'vitest'
import {
  entryMatches,
  formatDomainEntry,
  normalizeDomainEntry,
  parseStoredDomainEntry,
  type DomainEntry,
  type NormalizeOptions,
  type NormalizeResult,
} from '../../src/egress/domain-entry.js'
import { isPublicSuffix } from '../../src/egress/public-suffix.js'

const options: NormalizeOptions = { isPublicSuffix }

function accepted(result: NormalizeResult): Extract<NormalizeResult, { ok: true }> {
  if (!result.ok) throw new Error(`expected the entry to be accepted, got: ${result.reason}`)
  return result
}

function refused(result: NormalizeResult): string {
  if (result.ok) throw new Error(`expected the entry to be refused, got: ${result.text}`)
  return result.reason
}

describe('isPublicSuffix', () => {
  it.each(['com', 'uk', 'co.uk', 'github.io', 'xn--55qx5d.cn', 'foo.ck'])('%s is a public suffix', (host) => {
    expect(isPublicSuffix(host)).toBe(true)
  })

  it.each(['stripe.com', 'api.openai.com', 'example.co.uk', 'me.github.io', 'www.ck'])(
    '%s is not a public suffix',
    (host) => {
      expect(isPublicSuffix(host)).toBe(false)
    },
  )
})

describe('normalizeDomainEntry: accepted entries', () => {
  const cases: Array<{ input: string; text: string; entry: DomainEntry; note?: string }> = [
    {
      input: 'api.openai.com',
      text: 'api.openai.com',
      entry: { host: 'api.openai.com', wildcard: false, ip: false },
    },
    {
      input: 'API.OpenAI.COM',
      text: 'api.openai.com',
      entry: { host: 'api.openai.com', wildcard: false, ip: false },
    },
    {
      input: '  api.openai.com  ',
      text: 'api.openai.com',
      entry: { host: 'api.openai.com', wildcard: false, ip: false },
    },
    {
      input: 'ａｐｉ.openai.com',
      text: 'api.openai.com',
      entry: { host: 'api.openai.com', wildcard: false, ip: false },
    },
    {
      input: 'bücher.de',
      text: 'xn--bcher-kva.de',
      entry: { host: 'xn--bcher-kva.de', wildcard: false, ip: false },
    },
    {
      input: 'BÜCHER.de',
      text: 'xn--bcher-kva.de',
      entry: { host: 'xn--bcher-kva.de', wildcard: false, ip: false },
    },
    {
      input: 'xn--bcher-kva.de',
      text: 'xn--bcher-kva.de',
      entry: { host: 'xn--bcher-kva.de', wildcard: false, ip: false },
    },
    {
      input: '*.bücher.de',
      text: '*.xn--bcher-kva.de',
      entry: { host: 'xn--bcher-kva.de', wildcard: true, ip: false },
    },
    {
      input: 'api.openai.com.',
      text: 'api.openai.com',
      entry: { host: 'api.openai.com', wildcard: false, ip: false },
    },
    { input: '*.Stripe.COM', text: '*.stripe.com', entry: { host: 'stripe.com', wildcard: true, ip: false } },
    {
      input: '*.stripe.com.',
      text: '*.stripe.com',
      entry: { host: 'stripe.com', wildcard: true, ip: false },
    },
    {
      input: 'https://*.stripe.com',
      text: '*.stripe.com',
      entry: { host: 'stripe.com', wildcard: true, ip: false },
    },
    {
      input: 'api.partner.io:8443',
      text: 'api.partner.io:8443',
      entry: { host: 'api.partner.io', wildcard: false, ip: false, port: 8443 },
    },
    {
      input: '*.partner.io:8443',
      text: '*.partner.io:8443',
      entry: { host: 'partner.io', wildcard: true, ip: false, port: 8443 },
    },
    { input: 'x.com:1', text: 'x.com:1', entry: { host: 'x.com', wildcard: false, ip: false, port: 1 } },
    {
      input: 'x.com:65535',
      text: 'x.com:65535',
      entry: { host: 'x.com', wildcard: false, ip: false, port: 65535 },
    },
    {
      input: 'x.com:08443',
      text: 'x.com:8443',
      entry: { host: 'x.com', wildcard: false, ip: false, port: 8443 },
    },
    {
      input: 'api.openai.com:443',
      text: 'api.openai.com',
      entry: { host: 'api.openai.com', wildcard: false, ip: false },
    },
    {
      input: 'https://api.openai.com:443/',
      text: 'api.openai.com',
      entry: { host: 'api.openai.com', wildcard: false, ip: false },
    },
    { input: 'HTTPS://X.COM', text: 'x.com', entry: { host: 'x.com', wildcard: false, ip: false } },
    { input: 'https://x.com/', text: 'x.com', entry: { host: 'x.com', wildcard: false, ip: false } },
    {
      input: 'https://api.openai.com/v1/chat?x=1#frag',
      text: 'api.openai.com',
      entry: { host: 'api.openai.com', wildcard: false, ip: false },
      note: '/v1/chat?x=1#frag',
    },
    {
      input: 'api.partner.io:8443/v2/items',
      text: 'api.partner.io:8443',
      entry: { host: 'api.partner.io', wildcard: false, ip: false, port: 8443 },
      note: '/v2/items',
    },
    {
      input: 'http://api.openai.com',
      text: 'api.openai.com',
      entry: { host: 'api.openai.com', wildcard: false, ip: false },
      note: 'https://',
    },
    // A site registered under a public suffix is a site, not a suffix.
    {
      input: 'me.github.io',
      text: 'me.github.io',
      entry: { host: 'me.github.io', wildcard: false, ip: false },
    },
    {
      input: '*.me.github.io',
      text: '*.me.github.io',
      entry: { host: 'me.github.io', wildcard: true, ip: false },
    },
    {
      input: 'example.co.uk',
      text: 'example.co.uk',
      entry: { host: 'example.co.uk', wildcard: false, ip: false },
    },
    {
      input: `${'abcdefghi.'.repeat(25)}com`,
      text: `${'abcdefghi.'.repeat(25)}com`,
      entry: { host: `${'abcdefghi.'.repeat(25)}com`, wildcard: false, ip: false },
    },
    {
      input: 'a.b.c.d.example.com',
      text: 'a.b.c.d.example.com',
      entry: { host: 'a.b.c.d.example.com', wildcard: false, ip: false },
    },
  ]

  it.each(cases)('$input -> $text', ({ input, text, entry, note }) => {
    const result = accepted(normalizeDomainEntry(input, options))
    expect(result.text).toBe(text)
    expect(result.entry).toEqual(entry)
    if (note === undefined) expect(result.notes).toEqual([])
    else expect(result.notes.join('\n')).toContain(note)
  })

  it('does not add a port for 443, the default', () => {
    const result = accepted(normalizeDomainEntry('api.openai.com:443', options))
    expect(result.entry.port).toBeUndefined()
    expect(Object.hasOwn(result.entry, 'port')).toBe(false)
  })

  it('is idempotent: the normal form normalises to itself', () => {
    for (const input of ['API.OpenAI.com', 'ａｐｉ.openai.com', '*.bücher.de:8443', 'https://x.com:443/a']) {
      const first = accepted(normalizeDomainEntry(input, options))
      const second = accepted(normalizeDomainEntry(first.text, options))
      expect(second.text).toBe(first.text)
      expect(second.entry).toEqual(first.entry)
      expect(second.notes).toEqual([])
    }
  })
})

describe('normalizeDomainEntry: refused entries', () => {
  const ipReason = 'is an IP address'
  const cases: Array<{ input: string; reason: string }> = [
    { input: '', reason: 'empty' },
    { input: '   ', reason: 'empty' },
    { input: '*', reason: 'every host' },
    { input: '*.com', reason: 'public suffix "com"' },
    { input: '*.com.', reason: 'public suffix "com"' },
    { input: 'com', reason: 'not a full domain name' },
    { input: 'co.uk', reason: 'public suffix' },
    { input: 'CO.UK.', reason: 'public suffix' },
    { input: 'ｃｏ.ｕｋ', reason: 'public suffix' },
    { input: '*.co.uk', reason: 'public suffix "co.uk"' },
    { input: 'github.io', reason: 'public suffix' },
    { input: '*.github.io', reason: 'public suffix "github.io"' },
    { input: '*.github.io:8443', reason: 'public suffix "github.io"' },
    { input: '公司.cn', reason: 'public suffix' },
    { input: 'a.*.b.com', reason: 'wildcard may only stand as the first label' },
    { input: '*.*.com', reason: 'wildcard may only stand as the first label' },
    { input: '*x.com', reason: 'wildcard may only stand as the first label' },
    { input: 'x*.com', reason: 'wildcard may only stand as the first label' },
    { input: 'api.*', reason: 'wildcard may only stand as the first label' },
    { input: 'localhost', reason: 'localhost' },
    { input: 'LOCALHOST.', reason: 'localhost' },
    { input: 'api.localhost', reason: 'localhost' },
    { input: '*.localhost', reason: 'localhost' },
    { input: '127.0.0.1', reason: ipReason },
    { input: '0x7f.1', reason: ipReason },
    { input: '2130706433', reason: ipReason },
    { input: '0177.0.0.1', reason: ipReason },
    { input: '127.1', reason: ipReason },
    { input: '1.2.3.4:443', reason: ipReason },
    { input: '[::1]', reason: ipReason },
    { input: '[::1]:9000', reason: ipReason },
    { input: 'https://169.254.169.254/latest/meta-data', reason: ipReason },
    { input: '*.127.0.0.1', reason: 'cannot take a wildcard' },
    { input: '*.[::1]', reason: 'cannot take a wildcard' },
    { input: 'user@x.com', reason: 'user name or password' },
    { input: 'user:pw@x.com', reason: 'user name or password' },
    { input: ':pw@x.com', reason: 'user name or password' },
    { input: 'https://user@x.com/', reason: 'user name or password' },
    { input: 'x.com@evil.com', reason: 'user name or password' },
    { input: 'x.com:0', reason: 'out of range' },
    { input: 'x.com:00', reason: 'out of range' },
    { input: 'https://x.com:0/', reason: 'out of range' },
    { input: 'x.com:65536', reason: 'out of range' },
    { input: 'x.com:70000', reason: 'out of range' },
    { input: 'x.com:1234567', reason: 'out of range' },
    { input: 'ftp://x.com', reason: '"ftp:" is not a web address' },
    { input: 'FTP://x.com', reason: '"ftp:" is not a web address' },
    { input: 'ws://x.com', reason: '"ws:" is not a web address' },
    { input: 'file:///etc/passwd', reason: '"file:" is not a web address' },
    { input: 'intranet', reason: 'not a full domain name' },
    { input: '*.intranet', reason: 'every site under' },
    { input: 'a..com', reason: 'not a valid host name' },
    { input: '-a.com', reason: 'not a valid host name' },
    { input: 'a-.com', reason: 'not a valid host name' },
    { input: 'exa mple.com', reason: 'not a valid host name' },
    { input: 'x.com:abc', reason: 'not a valid host name' },
    { input: `${'a'.repeat(64)}.com`, reason: 'not a valid host name' },
    { input: `${'abcdefghi.'.repeat(26)}com`, reason: 'not a valid host name' },
  ]

  it.each(cases)('refuses $input ($reason)', ({ input, reason }) => {
    expect(refused(normalizeDomainEntry(input, options))).toContain(reason)
  })

  it('names the canonical IPv4 address when refusing a numeric spelling', () => {
    expect(refused(normalizeDomainEntry('0x7f.1', options))).toContain('127.0.0.1')
    expect(refused(normalizeDomainEntry('2130706433', options))).toContain('127.0.0.1')
  })

  it('points at --ip and at --map in the reasons that have a way out', () => {
    expect(refused(normalizeDomainEntry('10.0.0.1', options))).toContain('--ip')
    expect(refused(normalizeDomainEntry('localhost', options))).toContain('--map')
  })

  it('still refuses IPs with a wildcard, localhost and public suffixes when allowIp is set', () => {
    const withIp: NormalizeOptions = { isPublicSuffix, allowIp: true }
    expect(refused(normalizeDomainEntry('*.10.0.0.1', withIp))).toContain('wildcard')
    expect(refused(normalizeDomainEntry('localhost', withIp))).toContain('localhost')
    expect(refused(normalizeDomainEntry('*.co.uk', withIp))).toContain('public suffix')
  })

  it('refuses a public suffix only through the injected isPublicSuffix', () => {
    // Without the list only single labels are known to be suffixes.
    expect(accepted(normalizeDomainEntry('co.uk')).text).toBe('co.uk')
    expect(refused(normalizeDomainEntry('*.com'))).toContain('public suffix')
    expect(
      refused(normalizeDomainEntry('example.test', { isPublicSuffix: (h) => h === 'example.test' })),
    ).toContain('public suffix')
  })

  // A bare scheme has no host at all; the reason must not talk about a "*" nobody typed.
  it('gives an honest reason for a scheme without a host ("https://")', () => {
    const reason = refused(normalizeDomainEntry('https://', options))
    expect(reason).not.toContain('"*"')
  })

  // DESIGN §3: no userinfo. An "@" with an empty user name is still userinfo and must not be dropped silently.
  it('refuses an empty userinfo ("@x.com")', () => {
    expect(refused(normalizeDomainEntry('@x.com', options))).toContain('user name or password')
  })
})

describe('normalizeDomainEntry: IP literals with allowIp', () => {
  const withIp: NormalizeOptions = { isPublicSuffix, allowIp: true }
  const cases: Array<{ input: string; text: string; entry: DomainEntry; note: boolean }> = [
    {
      input: '127.0.0.1',
      text: '127.0.0.1',
      entry: { host: '127.0.0.1', wildcard: false, ip: true },
      note: false,
    },
    {
      input: '10.1.2.3:8080',
      text: '10.1.2.3:8080',
      entry: { host: '10.1.2.3', wildcard: false, ip: true, port: 8080 },
      note: false,
    },
    {
      input: '1.2.3.4:443',
      text: '1.2.3.4',
      entry: { host: '1.2.3.4', wildcard: false, ip: true },
      note: false,
    },
    {
      input: '0x7f.1',
      text: '127.0.0.1',
      entry: { host: '127.0.0.1', wildcard: false, ip: true },
      note: true,
    },
    {
      input: '2130706433',
      text: '127.0.0.1',
      entry: { host: '127.0.0.1', wildcard: false, ip: true },
      note: true,
    },
    { input: '[::1]', text: '[::1]', entry: { host: '::1', wildcard: false, ip: true }, note: false },
    {
      input: '[::1]:9000',
      text: '[::1]:9000',
      entry: { host: '::1', wildcard: false, ip: true, port: 9000 },
      note: false,
    },
    {
      input: '[0:0:0:0:0:0:0:1]',
      text: '[::1]',
      entry: { host: '::1', wildcard: false, ip: true },
      note: true,
    },
    {
      input: 'https://[2001:DB8::1]:8443/x',
      text: '[2001:db8::1]:8443',
      entry: { host: '2001:db8::1', wildcard: false, ip: true, port: 8443 },
      note: true,
    },
  ]

  it.each(cases)('$input -> $text', ({ input, text, entry, note }) => {
    const result = accepted(normalizeDomainEntry(input, withIp))
    expect(result.text).toBe(text)
    expect(result.entry).toEqual(entry)
    if (note) expect(result.notes.length).toBeGreaterThan(0)
    else expect(result.notes).toEqual([])
  })

  it('parseStoredDomainEntry accepts stored IP entries and still refuses what cannot be meant', () => {
    expect(accepted(parseStoredDomainEntry('[::1]:9000', options)).entry).toEqual({
      host: '::1',
      wildcard: false,
      ip: true,
      port: 9000,
    })
    expect(accepted(parseStoredDomainEntry('*.stripe.com', options)).text).toBe('*.stripe.com')
    expect(refused(parseStoredDomainEntry('*.com', options))).toContain('public suffix')
  })
})

describe('formatDomainEntry', () => {
  const cases: Array<{ entry: DomainEntry; text: string }> = [
    { entry: { host: 'api.openai.com', wildcard: false, ip: false }, text: 'api.openai.com' },
    { entry: { host: 'stripe.com', wildcard: true, ip: false }, text: '*.stripe.com' },
    { entry: { host: 'partner.io', wildcard: true, ip: false, port: 8443 }, text: '*.partner.io:8443' },
    { entry: { host: '10.0.0.1', wildcard: false, ip: true, port: 80 }, text: '10.0.0.1:80' },
    { entry: { host: '::1', wildcard: false, ip: true }, text: '[::1]' },
    { entry: { host: '::1', wildcard: false, ip: true, port: 9000 }, text: '[::1]:9000' },
  ]

  it.each(cases)('$text', ({ entry, text }) => {
    expect(formatDomainEntry(entry)).toBe(text)
  })

  it.each(cases)('$text survives a round trip through parseStoredDomainEntry', ({ entry, text }) => {
    expect(accepted(parseStoredDomainEntry(text, options)).entry).toEqual(entry)
  })
})

describe('entryMatches', () => {
  const entryOf = (text: string): DomainEntry => accepted(parseStoredDomainEntry(text, options)).entry

  const cases: Array<{ entry: string; host: string; port: number; matches: boolean }> = [
    { entry: '*.stripe.com', host: 'api.stripe.com', port: 443, matches: true },
    { entry: '*.stripe.com', host: 'a.b.stripe.com', port: 443, matches: true },
    { entry: '*.stripe.com', host: 'stripe.com', port: 443, matches: false },
    { entry: '*.stripe.com', host: 'evilstripe.com', port: 443, matches: false },
    { entry: '*.stripe.com', host: 'api.evilstripe.com', port: 443, matches: false },
    { entry: '*.stripe.com', host: 'api.stripe.com.evil.com', port: 443, matches: false },
    { entry: '*.stripe.com', host: 'api.stripe.com', port: 8443, matches: false },
    { entry: '*.stripe.com', host: 'api.stripe.com', port: 80, matches: false },
    { entry: 'api.openai.com', host: 'api.openai.com', port: 443, matches: true },
    { entry: 'api.openai.com', host: 'x.api.openai.com', port: 443, matches: false },
    { entry: 'api.openai.com', host: 'openai.com', port: 443, matches: false },
    { entry: 'api.openai.com', host: 'api.openai.com', port: 8443, matches: false },
    { entry: 'api.partner.io:8443', host: 'api.partner.io', port: 8443, matches: true },
    { entry: 'api.partner.io:8443', host: 'api.partner.io', port: 443, matches: false },
    { entry: 'api.partner.io:8443', host: 'api.partner.io', port: 8444, matches: false },
    { entry: '*.partner.io:8443', host: 'api.partner.io', port: 8443, matches: true },
    { entry: '*.partner.io:8443', host: 'api.partner.io', port: 443, matches: false },
    { entry: '*.partner.io:8443', host: 'partner.io', port: 8443, matches: false },
    { entry: 'bücher.de', host: 'xn--bcher-kva.de', port: 443, matches: true },
    { entry: '[::1]:9000', host: '::1', port: 9000, matches: true },
    { entry: '[::1]:9000', host: '::1', port: 443, matches: false },
    { entry: '10.0.0.1', host: '10.0.0.1', port: 443, matches: true },
    { entry: '10.0.0.1', host: '10.0.0.10', port: 443, matches: false },
  ]

  it.each(cases)('$entry vs $host:$port -> $matches', ({ entry, host, port, matches }) => {
    expect(entryMatches(entryOf(entry), host, port)).toBe(matches)
  })
})
