import { describe, it, expect } from 'vitest'
import { Allowlist } from '../../src/egress/allowlist.js'
import { CentraliError } from '../../src/shared/errors.js'

const allowlist = new Allowlist([
  'api.openai.com',
  '*.stripe.com',
  'api.partner.io:8443',
  '203.0.113.7',
  '[2606:4700::1]:8443',
])

describe('Allowlist.allows', () => {
  it.each<[string, number]>([
    ['api.openai.com', 443],
    ['api.stripe.com', 443],
    ['files.stripe.com', 443],
    ['a.b.c.stripe.com', 443],
    ['api.partner.io', 8443],
    ['203.0.113.7', 443],
    ['2606:4700::1', 8443],
    ['[2606:4700::1]', 8443],
  ])('allows %s on port %i', (host, port) => {
    expect(allowlist.allows(host, port)).toBe(true)
  })

  it.each<[string, number, string]>([
    ['openai.com', 443, 'the parent of an exact entry'],
    ['sub.api.openai.com', 443, 'a subdomain of an exact entry'],
    ['api.openai.com', 8443, 'a port the entry does not name'],
    ['api.openai.com', 80, 'port 80'],
    ['stripe.com', 443, 'the wildcard base itself'],
    ['evilstripe.com', 443, 'a suffix without the dot'],
    ['stripe.com.evil.com', 443, 'the allowed name as a prefix'],
    ['api.stripe.com.evil.com', 443, 'an allowed subdomain as a prefix'],
    ['api.partner.io', 443, 'the default port of a port entry'],
    ['xn--pi-6kc.openai.com', 443, 'an IDN look-alike'],
    ['203.0.113.8', 443, 'a neighbouring address'],
    ['2606:4700::1', 443, 'an IPv6 entry on another port'],
    ['', 443, 'an empty host'],
  ])('refuses %s on port %i (%s)', (host, port) => {
    expect(allowlist.allows(host, port)).toBe(false)
  })

  it('an empty list allows nothing', () => {
    expect(new Allowlist([]).allows('api.openai.com', 443)).toBe(false)
  })
})

describe('Allowlist.portsFor', () => {
  it('lists the ports a host is allowed on, to tell a wrong port from an unlisted host', () => {
    const list = new Allowlist(['api.openai.com', 'api.openai.com:8443', '*.stripe.com:9443'])
    expect(list.portsFor('api.openai.com')).toEqual([443, 8443])
    expect(list.portsFor('files.stripe.com')).toEqual([9443])
    expect(list.portsFor('evil.com')).toEqual([])
  })
})

describe('Allowlist construction', () => {
  it('refuses an entry that is not a valid stored entry, naming it', () => {
    let caught: unknown
    try {
      new Allowlist(['api.openai.com', '*'])
    } catch (error) {
      caught = error
    }
    expect(caught).toBeInstanceOf(CentraliError)
    expect((caught as CentraliError).code).toBe('DOMAIN_ENTRY_INVALID')
    expect((caught as CentraliError).message).toContain('"*"')
  })
})
