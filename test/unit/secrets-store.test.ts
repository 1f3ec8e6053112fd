import { describe, it, expect, beforeEach, afterEach } from 'vitest'
import { randomBytes } from 'node:crypto'
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { SecretsStore } from '../../src/secrets/store.js'
import { decryptValue, encryptValue, keyId, type Envelope } from '../../src/secrets/envelope.js'
import { KEY_ENV, keyFilePath, resolveSecretsKey } from '../../src/secrets/key.js'
import { CentraliError } from '../../src/shared/errors.js'

let tmp: string
let projectDir: string
let storePath: string
let configHome: string
let keyFile: string

beforeEach(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'centrali-'))
  projectDir = join(tmp, 'project')
  storePath = join(projectDir, '.centrali', 'secrets.json')
  configHome = join(tmp, 'config')
  keyFile = join(configHome, 'centrali', 'secrets.key')
  await mkdir(projectDir)
})

afterEach(async () => {
  await rm(tmp, { recursive: true, force: true })
})

const fileEnv = (): NodeJS.ProcessEnv => ({ XDG_CONFIG_HOME: configHome })
const keyEnv = (key: Buffer): NodeJS.ProcessEnv => ({
  XDG_CONFIG_HOME: configHome,
  [KEY_ENV]: key.toString('base64'),
})
const open = (env: NodeJS.ProcessEnv = fileEnv()) => SecretsStore.open({ path: storePath, env })

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  )
}

async function modeOf(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777
}

/** Awaits a promise that must reject with a CentraliError and returns that error. */
async function rejection(promise: Promise<unknown>): Promise<CentraliError> {
  try {
    await promise
  } catch (error) {
    if (error instanceof CentraliError) return error
    throw error
  }
  throw new Error('expected a rejection, but the promise resolved')
}

/** Every text a person or a log could see from an error. */
function errorText(error: CentraliError): string {
  return `${error.message}\n${error.hint ?? ''}\n${JSON.stringify(error.toJSON())}`
}

interface StoreJson {
  version: number
  keyId?: string
  secrets: Record<string, Envelope & { updatedAt: string }>
}

async function readStoreJson(): Promise<StoreJson> {
  return JSON.parse(await readFile(storePath, 'utf8')) as StoreJson
}

async function writeStoreJson(data: unknown): Promise<void> {
  await writeFile(storePath, `${JSON.stringify(data, null, 2)}\n`)
}

function flipByte(base64: string, index: number): string {
  const bytes = Buffer.from(base64, 'base64')
  bytes[index] = bytes[index]! ^ 0x01
  return bytes.toString('base64')
}

/** A store holding the given secrets, saved on disk. */
async function seed(secrets: Record<string, string>, env: NodeJS.ProcessEnv = fileEnv()): Promise<void> {
  const store = await open(env)
  for (const [name, value] of Object.entries(secrets)) await store.set(name, value)
  await store.save()
}

describe('SecretsStore round trip', () => {
  it('sets, saves, reopens and decrypts a value', async () => {
    const store = await open()
    expect(await store.set('OPENAI_API_KEY', 'sk-test-1234567890')).toBe(false)
    await store.save()

    const reopened = await open()
    expect(reopened.has('OPENAI_API_KEY')).toBe(true)
    expect(await reopened.get('OPENAI_API_KEY')).toBe('sk-test-1234567890')
  })

  it.each([
    ['unicode', 'pässwörd 🔑 秘密 ключ'],
    ['empty', ''],
    ['multi-line with quotes', 'line 1\nline "2"\r\n\ttab \\ backslash'],
    ['long', 'x'.repeat(100_000)],
  ])('round-trips a %s value', async (_label, value) => {
    await seed({ SECRET: value })
    expect(await (await open()).get('SECRET')).toBe(value)
  })

  it('reports whether set replaced a value and keeps the latest one', async () => {
    const store = await open()
    expect(await store.set('TOKEN', 'first')).toBe(false)
    expect(await store.set('TOKEN', 'second')).toBe(true)
    await store.save()
    expect(await (await open()).get('TOKEN')).toBe('second')
  })

  it('returns undefined for a name it does not hold, inherited properties included', async () => {
    await seed({ TOKEN: 'value' })
    const store = await open()
    expect(await store.get('OTHER')).toBeUndefined()
    expect(await store.get('__proto__')).toBeUndefined()
    expect(await store.get('constructor')).toBeUndefined()
    expect(store.has('constructor')).toBe(false)
    expect(store.has('toString')).toBe(false)
  })

  it('removes a secret for good once saved', async () => {
    await seed({ A: '1', B: '2' })
    const store = await open()
    expect(store.remove('A')).toBe(true)
    expect(store.remove('A')).toBe(false)
    expect(store.remove('MISSING')).toBe(false)
    await store.save()
    const reopened = await open()
    expect(reopened.list().map((secret) => secret.name)).toEqual(['B'])
    expect(await reopened.get('A')).toBeUndefined()
    expect(await reopened.get('B')).toBe('2')
    expect(Object.keys((await readStoreJson()).secrets)).toEqual(['B'])
  })

  it('opens a missing store as empty and writes nothing until save', async () => {
    const store = await open()
    expect(store.list()).toEqual([])
    expect(await store.get('ANY')).toBeUndefined()
    expect(await exists(storePath)).toBe(false)
    expect(await exists(keyFile)).toBe(false)
  })

  it.each(['lowercase', 'Mixed_Case', '1STARTS_WITH_DIGIT', 'HAS-DASH', 'HAS SPACE', '', '__proto__'])(
    'refuses the secret name %j without storing anything',
    async (name) => {
      const store = await open()
      const error = await rejection(store.set(name, 'the-secret-value'))
      expect(error.code).toBe('SECRET_NAME_INVALID')
      expect(errorText(error)).not.toContain('the-secret-value')
      expect(store.list()).toEqual([])
    },
  )

  it.each(['A', '_', 'OPENAI_API_KEY', '_PRIVATE_2'])('accepts the secret name %s', async (name) => {
    const store = await open()
    await store.set(name, 'v')
    expect(store.has(name)).toBe(true)
  })
})

describe('encryption', () => {
  it('encrypts the same value differently each time (fresh iv, different data)', async () => {
    const store = await open()
    await store.set('ONE', 'same value')
    await store.set('TWO', 'same value')
    await store.save()
    const first = (await readStoreJson()).secrets.ONE!

    await store.set('ONE', 'same value')
    await store.save()
    const { ONE: again, TWO: other } = (await readStoreJson()).secrets
    expect(again!.iv).not.toBe(first.iv)
    expect(again!.data).not.toBe(first.data)
    expect(other!.iv).not.toBe(first.iv)
    expect(other!.data).not.toBe(first.data)
  })

  it('writes a versioned AES-256-GCM envelope with a 12-byte iv and a 16-byte tag', async () => {
    await seed({ TOKEN: 'value' })
    const data = await readStoreJson()
    expect(data.version).toBe(1)
    const envelope = data.secrets.TOKEN!
    expect(envelope.v).toBe(1)
    expect(envelope.alg).toBe('aes-256-gcm')
    expect(Buffer.from(envelope.iv, 'base64')).toHaveLength(12)
    expect(Buffer.from(envelope.tag, 'base64')).toHaveLength(16)
    expect(new Date(envelope.updatedAt).toISOString()).toBe(envelope.updatedAt)
  })

  it('encryptValue never reuses an iv and decryptValue checks key and name', () => {
    const key = randomBytes(32)
    const a = encryptValue(key, 'NAME', 'value')
    const b = encryptValue(key, 'NAME', 'value')
    expect(a.iv).not.toBe(b.iv)
    expect(a.data).not.toBe(b.data)
    expect(decryptValue(key, 'NAME', a)).toEqual({ ok: true, value: 'value' })
    expect(decryptValue(randomBytes(32), 'NAME', a)).toEqual({ ok: false, failure: 'integrity' })
    expect(decryptValue(key, 'OTHER', a)).toEqual({ ok: false, failure: 'integrity' })
    expect(decryptValue(key, 'NAME', { ...a, v: 2 })).toEqual({ ok: false, failure: 'version' })
    expect(decryptValue(key, 'NAME', { ...a, alg: 'aes-128-gcm' })).toEqual({ ok: false, failure: 'version' })
    expect(decryptValue(key, 'NAME', { ...a, iv: Buffer.alloc(8).toString('base64') })).toEqual({
      ok: false,
      failure: 'malformed',
    })
    expect(decryptValue(key, 'NAME', { ...a, tag: a.tag.slice(0, 8) })).toEqual({
      ok: false,
      failure: 'malformed',
    })
    expect(decryptValue(key, 'NAME', null)).toEqual({ ok: false, failure: 'malformed' })
  })

  it('keyId is a short stable fingerprint that differs between keys and does not reveal the key', () => {
    const key = randomBytes(32)
    expect(keyId(key)).toMatch(/^[0-9a-f]{16}$/)
    expect(keyId(Buffer.from(key))).toBe(keyId(key))
    expect(keyId(randomBytes(32))).not.toBe(keyId(key))
    expect(key.toString('hex')).not.toContain(keyId(key))
  })
})

describe('key file and file modes', () => {
  it('keyFilePath is under $XDG_CONFIG_HOME/centrali', () => {
    expect(keyFilePath({ XDG_CONFIG_HOME: configHome })).toBe(keyFile)
  })

  it('creates the key file with mode 0600 on the first write, outside the project', async () => {
    const store = await open()
    expect(await exists(keyFile)).toBe(false)
    await store.set('TOKEN', 'value')
    expect(await exists(keyFile)).toBe(true)
    expect(await modeOf(keyFile)).toBe(0o600)
    expect(await modeOf(join(configHome, 'centrali'))).toBe(0o700)
    const key = Buffer.from((await readFile(keyFile, 'utf8')).trim(), 'base64')
    expect(key).toHaveLength(32)

    await store.save()
    expect(relative(projectDir, keyFile).startsWith('..')).toBe(true)
    expect(await readdir(join(projectDir, '.centrali'))).toEqual(['secrets.json'])
    expect(await readdir(projectDir)).toEqual(['.centrali'])
    // The fingerprint stored beside the values is that of the key file's key.
    expect((await readStoreJson()).keyId).toBe(keyId(key))
  })

  it('keeps the same key file across writes and stores', async () => {
    await seed({ A: '1' })
    const keyText = await readFile(keyFile, 'utf8')
    await seed({ B: '2' })
    const other = await SecretsStore.open({ path: join(tmp, 'other', 'secrets.json'), env: fileEnv() })
    await other.set('C', '3')
    await other.save()
    expect(await readFile(keyFile, 'utf8')).toBe(keyText)
    expect(await (await open()).get('A')).toBe('1')
  })

  it('gives concurrent first writers the same key', async () => {
    const stores = await Promise.all(
      ['p1', 'p2', 'p3', 'p4'].map((name) =>
        SecretsStore.open({ path: join(tmp, name, 'secrets.json'), env: fileEnv() }),
      ),
    )
    await Promise.all(stores.map((store, index) => store.set('TOKEN', `value-${index}`)))
    await Promise.all(stores.map((store) => store.save()))
    const ids = await Promise.all(
      ['p1', 'p2', 'p3', 'p4'].map(async (name) => {
        const text = await readFile(join(tmp, name, 'secrets.json'), 'utf8')
        return (JSON.parse(text) as StoreJson).keyId
      }),
    )
    expect(new Set(ids).size).toBe(1)
  })

  it('writes the store with mode 0600 inside a 0700 folder', async () => {
    await seed({ TOKEN: 'value' })
    expect(await modeOf(storePath)).toBe(0o600)
    expect(await modeOf(join(projectDir, '.centrali'))).toBe(0o700)
  })

  it('tightens a store file that was left readable by others', async () => {
    await seed({ TOKEN: 'value' })
    await chmod(storePath, 0o644)
    const store = await open()
    await store.set('OTHER', 'value')
    await store.save()
    expect(await modeOf(storePath)).toBe(0o600)
  })

  it('uses CENTRALI_SECRETS_KEY when set and then creates no key file', async () => {
    const key = randomBytes(32)
    await seed({ TOKEN: 'value' }, keyEnv(key))
    expect(await exists(keyFile)).toBe(false)
    expect((await readStoreJson()).keyId).toBe(keyId(key))
    expect(await (await open(keyEnv(key))).get('TOKEN')).toBe('value')
    // The key is not in the store either.
    expect(await readFile(storePath, 'utf8')).not.toContain(key.toString('base64'))
  })

  it('accepts the key without its "=" padding', async () => {
    const key = randomBytes(32)
    await seed({ TOKEN: 'value' }, keyEnv(key))
    const env = { XDG_CONFIG_HOME: configHome, [KEY_ENV]: key.toString('base64').replace(/=+$/, '') }
    expect(await (await open(env)).get('TOKEN')).toBe('value')
  })

  it('resolveSecretsKey creates nothing when asked not to', async () => {
    expect(await resolveSecretsKey({ env: fileEnv(), create: false })).toBeUndefined()
    expect(await exists(keyFile)).toBe(false)
  })

  it('warns about a key file other users can read, and only then', async () => {
    await seed({ TOKEN: 'value' })
    const quiet = await open()
    expect(await quiet.get('TOKEN')).toBe('value')
    expect(quiet.keyWarning).toBeUndefined()

    await chmod(keyFile, 0o644)
    const store = await open()
    expect(store.keyWarning).toBeUndefined() // not resolved yet
    expect(await store.get('TOKEN')).toBe('value')
    expect(store.keyWarning).toBeDefined()
    expect(store.keyWarning).toContain(keyFile)
    expect(store.keyWarning).toContain('chmod 600')
    expect(store.keyWarning).not.toContain((await readFile(keyFile, 'utf8')).trim())
  })
})

describe('values never leak', () => {
  const value = 'sk-live-PLAINTEXT-never-show-me'

  it('list() gives names and dates only, sorted by name', async () => {
    await seed({ ZED: value, ALPHA: value, MIDDLE: value })
    const list = (await open()).list()
    expect(list.map((secret) => secret.name)).toEqual(['ALPHA', 'MIDDLE', 'ZED'])
    for (const secret of list) {
      expect(Object.keys(secret).sort()).toEqual(['name', 'updatedAt'])
      expect(new Date(secret.updatedAt).toISOString()).toBe(secret.updatedAt)
    }
    expect(JSON.stringify(list)).not.toContain(value)
  })

  it('the store file holds no plaintext, in any common encoding', async () => {
    await seed({ TOKEN: value, UNICODE: 'geheimnis-ÄÖÜ-秘密' })
    const text = await readFile(storePath, 'utf8')
    expect(text).not.toContain(value)
    expect(text).not.toContain(Buffer.from(value).toString('base64'))
    expect(text).not.toContain(Buffer.from(value).toString('hex'))
    expect(text).not.toContain('秘密')
    expect(text).not.toContain('geheimnis')
    expect(text).not.toContain(await readFile(keyFile, 'utf8').then((key) => key.trim()))
  })
})

describe('tampering and damage', () => {
  const value = 'sk-live-tamper-target-value'

  async function tamper(change: (data: StoreJson) => void): Promise<void> {
    const data = await readStoreJson()
    change(data)
    await writeStoreJson(data)
  }

  const integrityCases: Array<[string, (data: StoreJson) => void]> = [
    [
      'a flipped data byte',
      (data) => void (data.secrets.TOKEN!.data = flipByte(data.secrets.TOKEN!.data, 0)),
    ],
    [
      'a flipped last data byte',
      (data) => {
        const length = Buffer.from(data.secrets.TOKEN!.data, 'base64').length
        data.secrets.TOKEN!.data = flipByte(data.secrets.TOKEN!.data, length - 1)
      },
    ],
    ['a flipped tag byte', (data) => void (data.secrets.TOKEN!.tag = flipByte(data.secrets.TOKEN!.tag, 15))],
    ['a flipped iv byte', (data) => void (data.secrets.TOKEN!.iv = flipByte(data.secrets.TOKEN!.iv, 3))],
    ['a shortened tag', (data) => void (data.secrets.TOKEN!.tag = data.secrets.TOKEN!.tag.slice(0, 8))],
    ['a missing iv', (data) => void delete (data.secrets.TOKEN as Partial<Envelope>).iv],
    [
      'an envelope swapped with another secret',
      (data) => void (data.secrets.TOKEN = { ...data.secrets.OTHER! }),
    ],
  ]

  it.each(integrityCases)('rejects %s with SECRET_TAMPERED naming the secret', async (_label, change) => {
    await seed({ TOKEN: value, OTHER: 'other-value' })
    await tamper(change)
    const store = await open()
    const error = await rejection(store.get('TOKEN'))
    expect(error.code).toBe('SECRET_TAMPERED')
    expect(error.message).toContain('TOKEN')
    expect(error.hint).toContain('centrali secrets set TOKEN')
    expect(errorText(error)).not.toContain(value)
    expect(errorText(error)).not.toContain('other-value')
    // The damage is confined to that one secret.
    expect(await store.get('OTHER')).toBe('other-value')
  })

  it('binds the name: an envelope copied under another name does not decrypt', async () => {
    await seed({ SOURCE: value })
    await tamper((data) => void (data.secrets.COPY = { ...data.secrets.SOURCE! }))
    const store = await open()
    expect(await store.get('SOURCE')).toBe(value)
    const error = await rejection(store.get('COPY'))
    expect(error.code).toBe('SECRET_TAMPERED')
    expect(error.message).toContain('COPY')
    expect(errorText(error)).not.toContain(value)
  })

  it.each([
    ['an unknown envelope v', (data: StoreJson) => void Object.assign(data.secrets.TOKEN!, { v: 2 })],
    [
      'an unknown algorithm',
      (data: StoreJson) => void Object.assign(data.secrets.TOKEN!, { alg: 'chacha20' }),
    ],
  ])('rejects %s with SECRET_VERSION_UNKNOWN', async (_label, change) => {
    await seed({ TOKEN: value })
    await tamper(change)
    const error = await rejection((await open()).get('TOKEN'))
    expect(error.code).toBe('SECRET_VERSION_UNKNOWN')
    expect(error.message).toContain('TOKEN')
    expect(errorText(error)).not.toContain(value)
  })

  const damagedFiles: Array<[string, string, (text: string) => string]> = [
    ['a truncated file', 'SECRETS_STORE_CORRUPT', (text) => text.slice(0, Math.floor(text.length / 2))],
    ['a file cut one byte short', 'SECRETS_STORE_CORRUPT', (text) => text.trimEnd().slice(0, -1)],
    ['a non-JSON file', 'SECRETS_STORE_CORRUPT', () => 'TOKEN=plain\n'],
    ['an empty file', 'SECRETS_STORE_CORRUPT', () => ''],
    ['JSON null', 'SECRETS_STORE_CORRUPT', () => 'null'],
    ['a JSON string', 'SECRETS_STORE_CORRUPT', () => '"secrets"'],
    // An array is damage, not a store from a newer centrali: "upgrade centrali" would be the wrong advice.
    ['a JSON array', 'SECRETS_STORE_CORRUPT', () => '[]'],
    ['"secrets" as an array', 'SECRETS_STORE_CORRUPT', () => '{"version":1,"secrets":[]}'],
    [
      'an entry that is not an object',
      'SECRETS_STORE_CORRUPT',
      () => '{"version":1,"secrets":{"TOKEN":"x"}}',
    ],
    ['a numeric keyId', 'SECRETS_STORE_CORRUPT', () => '{"version":1,"keyId":7,"secrets":{}}'],
    [
      'an unknown file version',
      'SECRETS_STORE_VERSION',
      (text) => text.replace('"version": 1', '"version": 2'),
    ],
  ]

  it.each(damagedFiles)(
    'refuses to open %s with %s and leaves it untouched',
    async (_label, code, damage) => {
      await seed({ TOKEN: value })
      const damaged = damage(await readFile(storePath, 'utf8'))
      await writeFile(storePath, damaged)
      const before = await readFile(storePath)

      const error = await rejection(open())
      expect(error.code).toBe(code)
      expect(error.message).toContain(storePath)
      expect(error.message).toContain('Nothing was changed')
      expect(errorText(error)).not.toContain(value)
      expect((await readFile(storePath)).equals(before)).toBe(true)
    },
  )

  it('names the store as displayPath when given', async () => {
    await mkdir(join(projectDir, '.centrali'))
    await writeFile(storePath, '{"version":9,"secrets":{}}')
    const error = await rejection(
      SecretsStore.open({ path: storePath, displayPath: '.centrali/secrets.json', env: fileEnv() }),
    )
    expect(error.code).toBe('SECRETS_STORE_VERSION')
    expect(error.message).toContain('.centrali/secrets.json')
    expect(error.message).toContain('9')
  })
})

describe('keys that do not fit', () => {
  const value = 'sk-live-wrong-key-value'

  it('refuses another CENTRALI_SECRETS_KEY with SECRETS_WRONG_KEY and never writes over the store', async () => {
    const right = randomBytes(32)
    const wrong = randomBytes(32)
    await seed({ TOKEN: value }, keyEnv(right))
    const before = await readFile(storePath)

    const store = await open(keyEnv(wrong))
    const readError = await rejection(store.get('TOKEN'))
    expect(readError.code).toBe('SECRETS_WRONG_KEY')
    expect(readError.message).toContain(keyId(right))
    expect(readError.message).toContain(KEY_ENV)

    const writeError = await rejection(store.set('OTHER', 'new-value'))
    expect(writeError.code).toBe('SECRETS_WRONG_KEY')
    expect(store.has('OTHER')).toBe(false)
    expect((await readFile(storePath)).equals(before)).toBe(true)

    for (const error of [readError, writeError]) {
      const text = errorText(error)
      expect(text).not.toContain(value)
      expect(text).not.toContain('new-value')
      expect(text).not.toContain(right.toString('base64'))
      expect(text).not.toContain(wrong.toString('base64'))
    }
    // The right key still opens it.
    expect(await (await open(keyEnv(right))).get('TOKEN')).toBe(value)
  })

  it('refuses a replaced key file with SECRETS_WRONG_KEY', async () => {
    await seed({ TOKEN: value })
    const before = await readFile(storePath)
    await writeFile(keyFile, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 })
    const store = await open()
    expect((await rejection(store.get('TOKEN'))).code).toBe('SECRETS_WRONG_KEY')
    expect((await rejection(store.set('TOKEN', 'replacement'))).code).toBe('SECRETS_WRONG_KEY')
    expect((await readFile(storePath)).equals(before)).toBe(true)
  })

  const invalidKeys: Array<[string, string]> = [
    ['not base64 at all', 'not a key!'],
    ['16 bytes', randomBytes(16).toString('base64')],
    ['31 bytes', randomBytes(31).toString('base64')],
    ['33 bytes', randomBytes(33).toString('base64')],
    ['64 bytes', randomBytes(64).toString('base64')],
    ['hex instead of base64', randomBytes(32).toString('hex')],
    [
      'base64 with a stray character',
      `${randomBytes(32).toString('base64').slice(0, 20)}!${randomBytes(32).toString('base64').slice(20)}`,
    ],
  ]

  it.each(invalidKeys)(
    'refuses a CENTRALI_SECRETS_KEY that is %s with SECRETS_KEY_INVALID',
    async (_label, text) => {
      await seed({ TOKEN: value }, keyEnv(randomBytes(32)))
      const before = await readFile(storePath)
      const env = { XDG_CONFIG_HOME: configHome, [KEY_ENV]: text }
      const store = await open(env)

      const readError = await rejection(store.get('TOKEN'))
      expect(readError.code).toBe('SECRETS_KEY_INVALID')
      expect(readError.message).toContain(KEY_ENV)
      expect(errorText(readError)).not.toContain(text)
      expect(errorText(readError)).not.toContain(value)

      const writeError = await rejection(store.set('OTHER', 'new-value'))
      expect(writeError.code).toBe('SECRETS_KEY_INVALID')
      expect((await readFile(storePath)).equals(before)).toBe(true)
      expect(await exists(keyFile)).toBe(false)
    },
  )

  it('refuses a key file that is not 32 bytes of base64, naming the file', async () => {
    await seed({ TOKEN: value })
    const before = await readFile(storePath)
    await writeFile(keyFile, 'c2hvcnQ=\n')
    const store = await open()
    const error = await rejection(store.get('TOKEN'))
    expect(error.code).toBe('SECRETS_KEY_INVALID')
    expect(error.message).toContain(keyFile)
    expect(error.message).not.toContain('c2hvcnQ=')
    expect((await rejection(store.set('TOKEN', 'x'))).code).toBe('SECRETS_KEY_INVALID')
    expect((await readFile(storePath)).equals(before)).toBe(true)
    expect(await readFile(keyFile, 'utf8')).toBe('c2hvcnQ=\n')
  })

  it('refuses with SECRETS_KEY_MISSING when the key file is gone, and does not make a new one', async () => {
    await seed({ TOKEN: value })
    const before = await readFile(storePath)
    await rm(keyFile)
    const store = await open()
    expect(store.list().map((secret) => secret.name)).toEqual(['TOKEN'])

    const readError = await rejection(store.get('TOKEN'))
    expect(readError.code).toBe('SECRETS_KEY_MISSING')
    const writeError = await rejection(store.set('OTHER', 'new-value'))
    expect(writeError.code).toBe('SECRETS_KEY_MISSING')
    expect(await exists(keyFile)).toBe(false)
    expect((await readFile(storePath)).equals(before)).toBe(true)
    expect(errorText(readError)).not.toContain(value)
  })
})
