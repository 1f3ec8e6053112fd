import { mkdir, readFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { writeFileAtomic } from '../shared/atomic-write.js'
import { UserError } from '../shared/errors.js'
import { decryptValue, encryptValue, keyId, type Envelope } from './envelope.js'
import { resolveSecretsKey, type SecretsKey } from './key.js'
import { MAX_SECRET_NAME_LENGTH, SECRET_NAME_PATTERN } from './names.js'

/**
 * The project's encrypted secrets store, `.centrali/secrets.json`:
 *
 *   { "version": 1, "keyId": "<fingerprint>", "secrets": { "NAME": { envelope, "updatedAt" } } }
 *
 * Reading names needs no key; reading or writing a value does. A store that cannot be read whole
 * (truncated, not JSON, unknown version, another key) is never written over: every change starts
 * from a store that parsed, and lands through an atomic rename.
 */
export const STORE_VERSION = 1

interface StoredSecret extends Envelope {
  updatedAt: string
}

interface StoreFile {
  version: typeof STORE_VERSION
  keyId?: string
  secrets: Record<string, StoredSecret>
}

export interface SecretInfo {
  name: string
  updatedAt: string
}

export interface StoreOptions {
  /** Absolute path of `.centrali/secrets.json`. */
  path: string
  /** How the path is shown in messages. */
  displayPath?: string
  env: NodeJS.ProcessEnv
}

export class SecretsStore {
  private constructor(
    private readonly options: StoreOptions,
    private readonly file: StoreFile,
    private secretsKey: SecretsKey | undefined,
  ) {}

  static async open(options: StoreOptions): Promise<SecretsStore> {
    return new SecretsStore(options, await readStore(options), undefined)
  }

  private get shownPath(): string {
    return this.options.displayPath ?? this.options.path
  }

  list(): SecretInfo[] {
    return Object.entries(this.file.secrets)
      .map(([name, secret]) => ({ name, updatedAt: secret.updatedAt }))
      .sort((a, b) => a.name.localeCompare(b.name))
  }

  has(name: string): boolean {
    return Object.hasOwn(this.file.secrets, name)
  }

  /** Decrypts one value. Only the code that hands it to an invocation should call this. */
  async get(name: string): Promise<string | undefined> {
    const stored = this.file.secrets[name]
    if (stored === undefined || !Object.hasOwn(this.file.secrets, name)) return undefined
    const key = await this.key(false)
    const result = decryptValue(key, name, stored)
    if (result.ok) return result.value
    if (result.failure === 'version') {
      throw new UserError(
        'SECRET_VERSION_UNKNOWN',
        `Secret ${name} in ${this.shownPath} uses an envelope format this centrali does not know.`,
        {
          hint: `Upgrade centrali, or set it again with \`centrali secrets set ${name}\`.`,
        },
      )
    }
    throw new UserError(
      'SECRET_TAMPERED',
      `Secret ${name} in ${this.shownPath} failed its integrity check: it was changed outside centrali or is damaged.`,
      { hint: `Set it again with \`centrali secrets set ${name}\`.` },
    )
  }

  /** Encrypts and stores a value (in memory; call save()). Returns whether it replaced one. */
  async set(name: string, value: string): Promise<boolean> {
    assertSecretName(name)
    const key = await this.key(true)
    const replaced = this.has(name)
    this.file.keyId = keyId(key)
    this.file.secrets[name] = { ...encryptValue(key, name, value), updatedAt: new Date().toISOString() }
    return replaced
  }

  remove(name: string): boolean {
    if (!this.has(name)) return false
    delete this.file.secrets[name]
    return true
  }

  async save(): Promise<void> {
    if (Object.keys(this.file.secrets).length === 0) delete this.file.keyId
    await mkdir(dirname(this.options.path), { recursive: true, mode: 0o700 })
    await writeFileAtomic(this.options.path, `${JSON.stringify(this.file, null, 2)}\n`, { mode: 0o600 })
  }

  /** A warning about the key (such as a too-open key file), once the key has been resolved. */
  get keyWarning(): string | undefined {
    return this.secretsKey?.warning
  }

  private async key(forWriting: boolean): Promise<Buffer> {
    if (this.secretsKey === undefined) {
      const empty = Object.keys(this.file.secrets).length === 0
      const resolved = await resolveSecretsKey({ env: this.options.env, create: forWriting && empty })
      if (resolved === undefined) {
        throw new UserError(
          'SECRETS_KEY_MISSING',
          `No secrets key: ${this.shownPath} holds secrets but the key that opens them is gone.`,
          {
            hint: 'Set CENTRALI_SECRETS_KEY to the key used before, or remove the store and set the secrets again.',
          },
        )
      }
      // An empty store holds nothing the old key could open: it simply takes the current key.
      if (!empty && this.file.keyId !== undefined && this.file.keyId !== keyId(resolved.key)) {
        throw new UserError(
          'SECRETS_WRONG_KEY',
          `${this.shownPath} was encrypted with another key (key id ${this.file.keyId}); the key from ${resolved.source} has id ${keyId(resolved.key)}.`,
          {
            hint: 'Use the key the store was made with (CENTRALI_SECRETS_KEY or the key file), or remove the store and set the secrets again.',
          },
        )
      }
      this.secretsKey = resolved
    }
    return this.secretsKey.key
  }
}

export function assertSecretName(name: string): void {
  if (!SECRET_NAME_PATTERN.test(name)) {
    throw new UserError('SECRET_NAME_INVALID', `"${name}" is not a valid secret name.`, {
      hint: `Use capital letters, digits and "_", not starting with a digit, at most ${MAX_SECRET_NAME_LENGTH} characters, such as OPENAI_API_KEY.`,
    })
  }
}

async function readStore(options: StoreOptions): Promise<StoreFile> {
  const shown = options.displayPath ?? options.path
  let text: string
  try {
    text = await readFile(options.path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { version: STORE_VERSION, secrets: {} }
    throw error
  }
  const corrupt = (what: string) =>
    new UserError(
      'SECRETS_STORE_CORRUPT',
      `The secrets store ${shown} is damaged: ${what}. Nothing was changed.`,
      {
        hint: `Restore ${shown} from a backup, or remove it and set the secrets again.`,
      },
    )
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch {
    throw corrupt(text.trim() === '' ? 'it is empty' : 'it is not complete JSON (truncated?)')
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw corrupt('it is not an object')
  const { version, keyId: storedKeyId, secrets } = data as Record<string, unknown>
  if (version === undefined) throw corrupt('it has no "version"')
  if (version !== STORE_VERSION) {
    throw new UserError(
      'SECRETS_STORE_VERSION',
      `The secrets store ${shown} has format version ${JSON.stringify(version)}; this centrali reads version ${STORE_VERSION}. Nothing was changed.`,
      { hint: 'Upgrade centrali to the version that wrote it.' },
    )
  }
  if (typeof secrets !== 'object' || secrets === null || Array.isArray(secrets))
    throw corrupt('"secrets" is not an object')
  if (storedKeyId !== undefined && typeof storedKeyId !== 'string') throw corrupt('"keyId" is not a string')
  // Every store with values records its key's fingerprint; without it a wrong key would go unseen.
  if (storedKeyId === undefined && Object.keys(secrets).length > 0) throw corrupt('"keyId" is missing')
  for (const [name, value] of Object.entries(secrets)) {
    if (typeof value !== 'object' || value === null) throw corrupt(`the entry for ${name} is not an object`)
  }
  return {
    version: STORE_VERSION,
    ...(storedKeyId === undefined ? {} : { keyId: storedKeyId }),
    secrets: secrets as Record<string, StoredSecret>,
  }
}
