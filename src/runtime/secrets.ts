import { randomBytes } from 'node:crypto'
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { decryptValue, encryptValue, KEY_BYTES, keyId, type Envelope } from '../secrets/envelope.js'
import { MAX_SECRET_NAME_LENGTH, SECRET_NAME_PATTERN } from '../secrets/names.js'
import { createFileExclusive, FileExistsError, writeFileAtomic } from '../shared/atomic-write.js'
import { UserError } from '../shared/errors.js'
import { ApiError } from './errors.js'
import { createSerialQueue, readTextIfExists } from './files.js'

/**
 * The server's secrets (DESIGN §4, §8): `secrets.json` in the data dir, each value AES-256-GCM
 * encrypted under the master key with its name bound as associated data (the envelope of the local
 * store). Values are decrypted only for the invocation that needs them; nothing here returns a value
 * to the API. The file is read once at start-up and kept in memory encrypted; every change is
 * written atomically before it takes effect, so the next invocation sees it.
 */
export const SECRETS_FILE = 'secrets.json'
export const MASTER_KEY_FILE = 'master.key'
export const MASTER_KEY_ENV = 'CENTRALI_MASTER_KEY'
const STORE_VERSION = 1

interface StoredSecret extends Envelope {
  updatedAt: string
}

interface SecretsFile {
  version: typeof STORE_VERSION
  keyId?: string
  secrets: Record<string, StoredSecret>
}

export interface MasterKey {
  key: Buffer
  /** The variable or file it came from, for messages. Never the key. */
  source: string
  /** Set when the key file can be read by other users. */
  warning?: string
  /** True on the start that generated `master.key`. */
  generated?: boolean
}

/** `CENTRALI_MASTER_KEY` (32 bytes as base64 or 64 hex digits), else `master.key`, made on first start. */
export async function resolveMasterKey(dataDir: string, env: NodeJS.ProcessEnv): Promise<MasterKey> {
  const fromEnv = env[MASTER_KEY_ENV]?.trim()
  if (fromEnv !== undefined && fromEnv !== '')
    return { key: decodeMasterKey(fromEnv, MASTER_KEY_ENV), source: MASTER_KEY_ENV }
  const path = join(dataDir, MASTER_KEY_FILE)
  const text = await readTextIfExists(path)
  if (text === undefined) {
    const key = randomBytes(KEY_BYTES)
    try {
      // Whole or not at all, and never over an existing key: losing it loses every secret.
      await createFileExclusive(path, `${key.toString('base64')}\n`, { mode: 0o600 })
      return { key, source: path, generated: true }
    } catch (error) {
      // Another start made one meanwhile: that one is the key.
      if (!(error instanceof FileExistsError)) throw error
      return resolveMasterKey(dataDir, env)
    }
  }
  const mode = (await stat(path)).mode & 0o777
  const key = decodeMasterKey(text.trim(), path)
  return (mode & 0o077) === 0
    ? { key, source: path }
    : {
        key,
        source: path,
        warning: `${path} can be read by other users (mode ${mode.toString(8)}); run \`chmod 600 ${path}\`.`,
      }
}

function decodeMasterKey(text: string, source: string): Buffer {
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex')
  const key = Buffer.from(text, 'base64')
  // Round trip: Buffer.from skips characters that are not base64 without a word.
  if (key.length === KEY_BYTES && key.toString('base64').replace(/=+$/, '') === text.replace(/=+$/, ''))
    return key
  throw new UserError(
    'MASTER_KEY_INVALID',
    `The master key in ${source} is not 32 bytes of base64 or 64 hex digits.`,
    {
      hint: `Generate one with \`node -e "console.log(require('crypto').randomBytes(32).toString('base64'))"\`.`,
    },
  )
}

export class RuntimeSecrets {
  private readonly serial = createSerialQueue()

  private constructor(
    private readonly path: string,
    private readonly master: MasterKey,
    private file: SecretsFile,
  ) {}

  /** Reads `secrets.json`; a damaged store or another key stops the server rather than lose secrets. */
  static async open(dataDir: string, master: MasterKey): Promise<RuntimeSecrets> {
    const path = join(dataDir, SECRETS_FILE)
    const text = await readTextIfExists(path)
    const file: SecretsFile =
      text === undefined ? { version: STORE_VERSION, secrets: {} } : parseSecretsFile(text, path)
    const stored = Object.keys(file.secrets).length
    if (stored > 0 && file.keyId !== keyId(master.key)) {
      throw new UserError(
        'MASTER_KEY_WRONG',
        `${path} holds ${stored} secret(s) encrypted with another master key (key id ${file.keyId}); the key from ${master.source} has id ${keyId(master.key)}.`,
        {
          hint: `Start with the master key the secrets were stored with (${MASTER_KEY_ENV} or ${MASTER_KEY_FILE}).`,
        },
      )
    }
    return new RuntimeSecrets(path, master, file)
  }

  list(): { name: string; updatedAt: string }[] {
    return Object.entries(this.file.secrets)
      .map(([name, secret]) => ({ name, updatedAt: secret.updatedAt }))
      .sort((a, b) => a.name.localeCompare(b.name))
  }

  /** Encrypts and stores a value; in force for the next invocation once this resolves. */
  set(name: string, value: unknown): Promise<{ name: string; updatedAt: string }> {
    assertName(name)
    if (typeof value !== 'string' || value === '') {
      throw new ApiError(
        400,
        'BAD_REQUEST',
        `The body must be { "value": "<the secret>" } with a non-empty string.`,
      )
    }
    return this.serial(async () => {
      const updatedAt = new Date().toISOString()
      const next: SecretsFile = {
        version: STORE_VERSION,
        keyId: keyId(this.master.key),
        secrets: {
          ...this.file.secrets,
          [name]: { ...encryptValue(this.master.key, name, value), updatedAt },
        },
      }
      await this.save(next)
      return { name, updatedAt }
    })
  }

  remove(name: string): Promise<{ name: string; deleted: true }> {
    assertName(name)
    return this.serial(async () => {
      if (!Object.hasOwn(this.file.secrets, name))
        throw new ApiError(404, 'SECRET_NOT_FOUND', `There is no secret named ${name} on this server.`)
      const secrets = { ...this.file.secrets }
      delete secrets[name]
      await this.save({
        version: STORE_VERSION,
        ...(Object.keys(secrets).length > 0 ? { keyId: this.file.keyId } : {}),
        secrets,
      })
      return { name, deleted: true }
    })
  }

  /** Decrypts one value for an invocation; undefined when it is not set. */
  reveal(name: string): string | undefined {
    if (!Object.hasOwn(this.file.secrets, name)) return undefined
    const result = decryptValue(this.master.key, name, this.file.secrets[name])
    if (result.ok) return result.value
    throw new UserError(
      'SECRET_UNREADABLE',
      `The secret ${name} on this server failed its ${result.failure === 'integrity' ? 'integrity check' : 'format check'}.`,
      { hint: `Push it again with \`centrali secrets push\`.` },
    )
  }

  private async save(next: SecretsFile): Promise<void> {
    // On disk first: a value the file does not hold is never served.
    await writeFileAtomic(this.path, `${JSON.stringify(next, null, 2)}\n`, { mode: 0o600 })
    this.file = next
  }
}

function assertName(name: string): void {
  if (!SECRET_NAME_PATTERN.test(name)) {
    throw new ApiError(
      400,
      'BAD_REQUEST',
      `"${name.slice(0, 64)}" is not a secret name: capital letters, digits and "_", not starting with a digit, at most ${MAX_SECRET_NAME_LENGTH} characters.`,
    )
  }
}

function parseSecretsFile(text: string, path: string): SecretsFile {
  const damaged = (what: string) =>
    new UserError(
      'SECRETS_STORE_CORRUPT',
      `The secrets store ${path} is damaged: ${what}. Nothing was changed.`,
      {
        hint: `Restore it from a backup, or move it away and push the secrets again.`,
      },
    )
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch {
    throw damaged('it is not complete JSON')
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw damaged('it is not an object')
  const { version, keyId: storedKeyId, secrets } = data as Record<string, unknown>
  if (version !== STORE_VERSION)
    throw damaged(`its format version is ${JSON.stringify(version)}, not ${STORE_VERSION}`)
  if (typeof secrets !== 'object' || secrets === null || Array.isArray(secrets))
    throw damaged('"secrets" is not an object')
  if (storedKeyId !== undefined && typeof storedKeyId !== 'string') throw damaged('"keyId" is not a string')
  // Values without their key's fingerprint: a wrong master key would look like tampering.
  if (storedKeyId === undefined && Object.keys(secrets).length > 0) throw damaged('"keyId" is missing')
  for (const [name, value] of Object.entries(secrets)) {
    if (
      typeof value !== 'object' ||
      value === null ||
      typeof (value as { updatedAt?: unknown }).updatedAt !== 'string'
    )
      throw damaged(`the entry for ${name} is not a stored secret`)
  }
  return {
    version: STORE_VERSION,
    ...(storedKeyId === undefined ? {} : { keyId: storedKeyId }),
    secrets: secrets as Record<string, StoredSecret>,
  }
}
