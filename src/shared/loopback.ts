/** Names a listen address on this machine only: `dev` and `serve` warn about any other. */
export function isLoopbackHost(host: string): boolean {
  return host === '127.0.0.1' || host === 'localhost' || host === '::1'
}
