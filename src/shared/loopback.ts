import { isIPv4 } from 'node:net'

/** Names a listen address on this machine only: `dev` and `serve` warn about any other. */
export function isLoopbackHost(host: string): boolean {
  const name = host.toLowerCase()
  if (name === 'localhost' || name === '::1') return true
  // All of 127.0.0.0/8 is loopback, in IPv4 or IPv4-mapped IPv6 form.
  const ipv4 = name.startsWith('::ffff:') ? name.slice('::ffff:'.length) : name
  return isIPv4(ipv4) && ipv4.startsWith('127.')
}
