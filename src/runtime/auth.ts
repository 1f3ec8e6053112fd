import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { join } from 'node:path'
import { createFileExclusive, FileExistsError } from '../shared/atomic-write.js'
import { UserError } from '../shared/errors.js'
import { readTextIfExists } from './files.js'

/**
 * The deploy API's bearer token. Only its SHA-256 is kept (`token.json` in the data dir), so the
 * data dir does not hold a usable credential; a presented token is hashed and compared in constant
 * time. `CENTRALI_RUNTIME_TOKEN` sets the token instead, and then nothing is generated or stored.
 */
export const TOKEN_ENV = 'CENTRALI_RUNTIME_TOKEN'
export const TOKEN_FILE = 'token.json'
export const TOKEN_PREFIX = 'crt_'
const MIN_TOKEN_LENGTH = 16

export interface TokenCheck {
  /** Does this `Authorization` header carry the token? */
  accepts(authorization: string | undefined): boolean
  /** The new token, when this start generated one: shown once, then only its hash exists. */
  generated?: string
  /** Where the token is defined, for messages. */
  source: string
}

export async function resolveToken(dataDir: string, env: NodeJS.ProcessEnv): Promise<TokenCheck> {
  const fromEnv = env[TOKEN_ENV]
  if (fromEnv !== undefined && fromEnv !== '') {
    if (fromEnv.length < MIN_TOKEN_LENGTH || /\s/.test(fromEnv)) {
      throw new UserError(
        'RUNTIME_TOKEN_WEAK',
        `${TOKEN_ENV} must be at least ${MIN_TOKEN_LENGTH} characters with no spaces.`,
        { hint: `Unset it to have a random token generated, or use \`openssl rand -base64 32\`.` },
      )
    }
    return { accepts: checker(sha256(fromEnv)), source: TOKEN_ENV }
  }
  const path = join(dataDir, TOKEN_FILE)
  const stored = await readTextIfExists(path)
  if (stored !== undefined) return { accepts: checker(parseTokenFile(stored, path)), source: path }

  const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`
  const hash = sha256(token)
  try {
    await createFileExclusive(
      path,
      `${JSON.stringify({ format: 1, sha256: hash.toString('hex'), createdAt: new Date().toISOString() }, null, 2)}\n`,
      { mode: 0o600 },
    )
  } catch (error) {
    // Another start made one meanwhile: that one is the token.
    if (error instanceof FileExistsError) return resolveToken(dataDir, env)
    throw error
  }
  return { accepts: checker(hash), generated: token, source: path }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest()
}

function checker(expected: Buffer): TokenCheck['accepts'] {
  return (authorization) => {
    const presented = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? '')?.[1]
    if (presented === undefined) return false
    // Hashes have the same length whatever was sent, which timingSafeEqual needs.
    return timingSafeEqual(sha256(presented), expected)
  }
}

function parseTokenFile(text: string, path: string): Buffer {
  let hex: unknown
  try {
    hex = (JSON.parse(text) as { sha256?: unknown }).sha256
  } catch {
    hex = undefined
  }
  if (typeof hex !== 'string' || !/^[0-9a-f]{64}$/.test(hex)) {
    throw new UserError('RUNTIME_TOKEN_FILE_DAMAGED', `${path} holds no token hash.`, {
      hint: `Remove it to have a new token generated (printed once), or set ${TOKEN_ENV}.`,
    })
  }
  return Buffer.from(hex, 'hex')
}
