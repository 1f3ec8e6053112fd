import { createHash } from 'node:crypto'

/** The SHA-256 of text (as UTF-8) or bytes, in hex: how bundles are named and checked. */
export function sha256Hex(content: string | Uint8Array): string {
  return createHash('sha256').update(content).digest('hex')
}
