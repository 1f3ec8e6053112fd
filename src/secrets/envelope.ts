import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto'

/**
 * One encrypted secret value: AES-256-GCM, a fresh random 12-byte IV per encryption, the 16-byte
 * tag checked on every read, and the secret's name bound as associated data, so a value moved
 * under another name fails its check instead of decrypting. `v` versions the format.
 */
export interface Envelope {
  v: 1
  alg: 'aes-256-gcm'
  iv: string
  tag: string
  data: string
}

export const ENVELOPE_VERSION = 1
const IV_BYTES = 12
const TAG_BYTES = 16
export const KEY_BYTES = 32

function associatedData(name: string): Buffer {
  return Buffer.from(`centrali-secret:v${ENVELOPE_VERSION}:${name}`, 'utf8')
}

export function encryptValue(key: Buffer, name: string, plaintext: string): Envelope {
  const iv = randomBytes(IV_BYTES)
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES })
  cipher.setAAD(associatedData(name))
  const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
  return {
    v: ENVELOPE_VERSION,
    alg: 'aes-256-gcm',
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    data: data.toString('base64'),
  }
}

export type DecryptFailure = 'version' | 'malformed' | 'integrity'

export function decryptValue(
  key: Buffer,
  name: string,
  envelope: unknown,
): { ok: true; value: string } | { ok: false; failure: DecryptFailure } {
  if (typeof envelope !== 'object' || envelope === null) return { ok: false, failure: 'malformed' }
  const { v, alg, iv, tag, data } = envelope as Record<string, unknown>
  if (v !== ENVELOPE_VERSION || alg !== 'aes-256-gcm') return { ok: false, failure: 'version' }
  if (typeof iv !== 'string' || typeof tag !== 'string' || typeof data !== 'string') {
    return { ok: false, failure: 'malformed' }
  }
  const ivBytes = Buffer.from(iv, 'base64')
  const tagBytes = Buffer.from(tag, 'base64')
  if (ivBytes.length !== IV_BYTES || tagBytes.length !== TAG_BYTES) return { ok: false, failure: 'malformed' }
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, ivBytes, { authTagLength: TAG_BYTES })
    decipher.setAAD(associatedData(name))
    decipher.setAuthTag(tagBytes)
    const plaintext = Buffer.concat([decipher.update(Buffer.from(data, 'base64')), decipher.final()])
    return { ok: true, value: plaintext.toString('utf8') }
  } catch {
    return { ok: false, failure: 'integrity' }
  }
}

/** A short public fingerprint of a key, stored beside the values to tell "wrong key" from "tampered". */
export function keyId(key: Buffer): string {
  return createHash('sha256').update('centrali-key-id:').update(key).digest('hex').slice(0, 16)
}
