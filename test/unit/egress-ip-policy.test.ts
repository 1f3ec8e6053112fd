import { describe, it, expect } from 'vitest'
import { canonicalAddress, checkAddress } from '../../src/egress/ip-policy.js'

function refusal(ip: string): string {
  const verdict = checkAddress(ip)
  if (verdict.allowed) throw new Error(`expected ${ip} to be refused`)
  return verdict.reason
}

describe('checkAddress: refused addresses', () => {
  const cases: Array<[ip: string, reason: string]> = [
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.0.0.5', 'private address (10.0.0.0/8)'],
    ['172.16.0.1', 'private address (172.16.0.0/12)'],
    ['172.31.255.255', 'private address (172.16.0.0/12)'],
    ['192.168.1.1', 'private address (192.168.0.0/16)'],
    ['169.254.169.254', 'cloud metadata service'],
    ['169.254.1.1', 'link-local'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['100.127.255.255', 'carrier-grade NAT'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'this network'],
    ['192.0.0.8', 'IETF protocol assignments'],
    ['192.0.2.10', 'documentation'],
    ['198.18.0.1', 'benchmarking'],
    ['198.19.255.255', 'benchmarking'],
    ['198.51.100.7', 'documentation'],
    ['203.0.113.9', 'documentation'],
    ['240.0.0.1', 'reserved address (240.0.0.0/4)'],
    ['255.255.255.255', 'broadcast'],
    ['::1', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['febf::1', 'link-local'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456::1', 'unique-local'],
    ['fd00:ec2::254', 'cloud metadata service'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'IPv4-mapped IPv6 address that reaches 127.0.0.1'],
    ['::ffff:7f00:1', 'IPv4-mapped IPv6 address that reaches 127.0.0.1'],
    ['::ffff:8.8.8.8', 'IPv4-mapped'],
    ['::127.0.0.1', 'IPv4-compatible'],
    ['::a00:5', 'IPv4-compatible IPv6 address (deprecated) that reaches 10.0.0.5'],
    ['64:ff9b::7f00:1', 'NAT64 address (64:ff9b::/96) that reaches 127.0.0.1'],
    ['64:ff9b:1::1', 'local NAT64'],
    ['2002:7f00:1::', '6to4 address (2002::/16) that reaches 127.0.0.1'],
    ['2001::1', 'Teredo'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'Teredo'],
    ['100::1', 'discard-only'],
    ['2001:db8::1', 'documentation'],
    ['2001:10::1', 'IETF protocol assignments'],
    ['3fff::1', 'documentation'],
    ['fec0::1', 'site-local'],
    ['4000::1', 'outside the global unicast range'],
    ['[::1]', 'loopback'],
  ]

  it.each(cases)('%s is refused as %s', (ip, reason) => {
    expect(refusal(ip)).toContain(reason)
  })

  it.each(['api.openai.com', '', '1.2.3', '300.1.1.1', '::g'])('"%s" is not an address', (text) => {
    expect(refusal(text)).toContain('is not an IP address')
  })
})

describe('checkAddress: public addresses pass', () => {
  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '93.184.216.34',
    '100.63.255.255',
    '100.128.0.0',
    '172.15.255.255',
    '172.32.0.0',
    '169.253.255.255',
    '192.0.1.1',
    '198.17.255.255',
    '198.20.0.0',
    '223.255.255.255',
    '2606:4700:4700::1111',
    '2a00:1450:4001:80b::200e',
    '2001:200::1',
    '2001:4860:4860::8888',
  ])('%s is allowed', (ip) => {
    expect(checkAddress(ip)).toEqual({ allowed: true })
  })
})

describe('canonicalAddress', () => {
  it('gives one spelling for every spelling of an address', () => {
    expect(canonicalAddress('0:0:0:0:0:ffff:7f00:0001')).toBe('::ffff:7f00:1')
    expect(canonicalAddress('::ffff:127.0.0.1')).toBe('::ffff:7f00:1')
    expect(canonicalAddress('[::1]')).toBe('::1')
    expect(canonicalAddress('FE80::1%eth0')).toBe('fe80::1')
    expect(canonicalAddress('1.2.3.4')).toBe('1.2.3.4')
    expect(canonicalAddress('api.openai.com')).toBeUndefined()
  })
})
