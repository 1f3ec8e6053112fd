import { isIPv4, isIPv6 } from 'node:net'

/**
 * Which addresses a function may connect to (DESIGN §3). A function is a proxy to a public API, so
 * only global unicast addresses pass: anything that reaches the host itself, the local network, a
 * cloud metadata service, or tunnels to one of those (IPv4-mapped, NAT64, 6to4, Teredo) is refused.
 * Addresses are parsed into integers and compared against CIDR ranges; the first matching range
 * gives the reason, so the specific ranges come before the ones that contain them.
 */
export type AddressVerdict = { allowed: true } | { allowed: false; reason: string }

interface Range {
  network: bigint
  prefixLength: number
  reason: string
  /** For ranges that tunnel to IPv4: where the IPv4 address sits, so the reason can name it. */
  embeddedIPv4?: (value: bigint) => bigint
}

const LOW_32_BITS = (value: bigint): bigint => value & 0xffffffffn
/** 6to4 puts the IPv4 address right after the 2002::/16 prefix. */
const SIX_TO_FOUR_BITS = (value: bigint): bigint => (value >> 80n) & 0xffffffffn

const IPV4_BITS = 32
const IPV6_BITS = 128

const IPV4_RANGES: readonly Range[] = [
  ipv4Range('0.0.0.0/32', 'the unspecified address'),
  ipv4Range('0.0.0.0/8', 'a reserved address ("this network", 0.0.0.0/8)'),
  ipv4Range('10.0.0.0/8', 'a private address (10.0.0.0/8)'),
  ipv4Range('100.64.0.0/10', 'a carrier-grade NAT address (100.64.0.0/10)'),
  ipv4Range('127.0.0.0/8', 'a loopback address'),
  ipv4Range('169.254.169.254/32', 'the cloud metadata service (link-local 169.254.169.254)'),
  ipv4Range('169.254.0.0/16', 'a link-local address (169.254.0.0/16)'),
  ipv4Range('172.16.0.0/12', 'a private address (172.16.0.0/12)'),
  ipv4Range('192.0.0.0/24', 'a reserved address (IETF protocol assignments, 192.0.0.0/24)'),
  ipv4Range('192.0.2.0/24', 'a documentation address (192.0.2.0/24)'),
  ipv4Range('192.88.99.0/24', 'a reserved address (6to4 relay anycast, 192.88.99.0/24)'),
  ipv4Range('192.168.0.0/16', 'a private address (192.168.0.0/16)'),
  ipv4Range('198.18.0.0/15', 'a benchmarking address (198.18.0.0/15)'),
  ipv4Range('198.51.100.0/24', 'a documentation address (198.51.100.0/24)'),
  ipv4Range('203.0.113.0/24', 'a documentation address (203.0.113.0/24)'),
  ipv4Range('224.0.0.0/4', 'a multicast address (224.0.0.0/4)'),
  ipv4Range('255.255.255.255/32', 'the broadcast address'),
  ipv4Range('240.0.0.0/4', 'a reserved address (240.0.0.0/4)'),
]

const IPV6_RANGES: readonly Range[] = [
  ipv6Range('::/128', 'the unspecified address'),
  ipv6Range('::1/128', 'a loopback address'),
  // A mapped address reaches its IPv4 twin; refused whatever it embeds rather than checked twice.
  ipv6Range('::ffff:0:0/96', 'an IPv4-mapped IPv6 address', LOW_32_BITS),
  ipv6Range('::/96', 'an IPv4-compatible IPv6 address (deprecated)', LOW_32_BITS),
  ipv6Range('64:ff9b::/96', 'a NAT64 address (64:ff9b::/96)', LOW_32_BITS),
  ipv6Range('64:ff9b:1::/48', 'a local NAT64 address (64:ff9b:1::/48)'),
  ipv6Range('100::/64', 'a discard-only address (100::/64)'),
  ipv6Range('2001::/32', 'a Teredo tunnel address (2001::/32)'),
  ipv6Range('2001:db8::/32', 'a documentation address (2001:db8::/32)'),
  ipv6Range('2001::/23', 'a reserved address (IETF protocol assignments, 2001::/23)'),
  ipv6Range('2002::/16', 'a 6to4 address (2002::/16)', SIX_TO_FOUR_BITS),
  ipv6Range('3fff::/20', 'a documentation address (3fff::/20)'),
  ipv6Range('fd00:ec2::254/128', 'the cloud metadata service (unique-local fd00:ec2::254)'),
  ipv6Range('fc00::/7', 'a unique-local address (fc00::/7)'),
  ipv6Range('fe80::/10', 'a link-local address (fe80::/10)'),
  ipv6Range('fec0::/10', 'a site-local address (fec0::/10, deprecated)'),
  ipv6Range('ff00::/8', 'a multicast address (ff00::/8)'),
]

/** Global unicast space; everything outside it is unassigned or special. */
const IPV6_GLOBAL_UNICAST = ipv6Range('2000::/3', '')

/** Decides whether a connection to `ip` (an IPv4 or IPv6 literal, without brackets) may be made. */
export function checkAddress(ip: string): AddressVerdict {
  const address = stripZone(stripBrackets(ip))
  if (isIPv4(address)) {
    const value = parseIPv4(address)
    return verdict(IPV4_RANGES.find((range) => inRange(value, IPV4_BITS, range))?.reason)
  }
  if (isIPv6(address)) {
    const value = parseIPv6(address)
    const range = IPV6_RANGES.find((candidate) => inRange(value, IPV6_BITS, candidate))
    if (range?.embeddedIPv4) {
      return verdict(`${range.reason} that reaches ${formatIPv4(range.embeddedIPv4(value))}`)
    }
    if (range) return verdict(range.reason)
    if (!inRange(value, IPV6_BITS, IPV6_GLOBAL_UNICAST)) {
      return verdict('a reserved IPv6 address (outside the global unicast range 2000::/3)')
    }
    return { allowed: true }
  }
  return { allowed: false, reason: `"${ip}" is not an IP address` }
}

/**
 * The canonical text of an address (`::ffff:7f00:1` for every spelling of it), so that two
 * spellings can be compared. Returns undefined for text that is not an IP address.
 */
export function canonicalAddress(ip: string): string | undefined {
  const address = stripZone(stripBrackets(ip))
  if (isIPv4(address)) return formatIPv4(parseIPv4(address))
  if (!isIPv6(address)) return undefined
  // WHATWG URL serialises IPv6 hosts in the RFC 5952 form.
  return stripBrackets(new URL(`http://[${address}]`).hostname)
}

function verdict(reason: string | undefined): AddressVerdict {
  return reason === undefined ? { allowed: true } : { allowed: false, reason }
}

function inRange(value: bigint, bits: number, range: Range): boolean {
  const shift = BigInt(bits - range.prefixLength)
  return value >> shift === range.network >> shift
}

function ipv4Range(cidr: string, reason: string): Range {
  const [address, prefix] = cidr.split('/') as [string, string]
  return { network: parseIPv4(address), prefixLength: Number(prefix), reason }
}

function ipv6Range(cidr: string, reason: string, embeddedIPv4?: (value: bigint) => bigint): Range {
  const [address, prefix] = cidr.split('/') as [string, string]
  const range: Range = { network: parseIPv6(address), prefixLength: Number(prefix), reason }
  return embeddedIPv4 ? { ...range, embeddedIPv4 } : range
}

/** Dotted-quad IPv4 (already validated by `isIPv4`) to a 32-bit integer. */
function parseIPv4(address: string): bigint {
  return address.split('.').reduce((value, octet) => (value << 8n) | BigInt(Number(octet)), 0n)
}

function formatIPv4(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.')
}

/** IPv6 (already validated by `isIPv6`, zone removed) to a 128-bit integer. */
function parseIPv6(address: string): bigint {
  let text = address
  // An embedded dotted IPv4 tail (`::ffff:127.0.0.1`) counts as the last two groups.
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  if (tail) {
    const v4 = parseIPv4(tail[1]!)
    text = `${text.slice(0, -tail[1]!.length)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`
  }
  const [head, rest] = text.split('::') as [string, string | undefined]
  const headGroups = head === '' ? [] : head.split(':')
  const restGroups = rest === undefined || rest === '' ? [] : rest.split(':')
  const zeros = rest === undefined ? [] : Array<string>(8 - headGroups.length - restGroups.length).fill('0')
  return [...headGroups, ...zeros, ...restGroups].reduce(
    (value, group) => (value << 16n) | BigInt(parseInt(group, 16)),
    0n,
  )
}

function stripBrackets(ip: string): string {
  return ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip
}

/** `fe80::1%eth0`: the zone names a local interface and says nothing about the address. */
function stripZone(ip: string): string {
  const percent = ip.indexOf('%')
  return percent === -1 ? ip : ip.slice(0, percent)
}
