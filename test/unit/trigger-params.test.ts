import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createTriggerParamsResolver, SECRETS_FILE } from '../../src/project/secrets.js'
import type { TriggerConfig } from '../../src/project/schema.js'
import { keyFilePath } from '../../src/secrets/key.js'
import { createRedactor } from '../../src/secrets/redact.js'
import { SecretsStore } from '../../src/secrets/store.js'

let root: string
let env: NodeJS.ProcessEnv

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'centrali-params-'))
  env = { XDG_CONFIG_HOME: join(root, 'config') }
  await mkdir(join(root, '.centrali'))
})

afterEach(async () => {
  await rm(root, { recursive: true, force: true })
})

async function setSecret(name: string, value: string): Promise<void> {
  const store = await SecretsStore.open({ path: join(root, SECRETS_FILE), env })
  await store.set(name, value)
  await store.save()
}

const withSecret: TriggerConfig = {
  type: 'endpoint',
  function: 'f',
  params: { key: { secret: 'API_KEY' }, model: 'gpt' },
}

describe('createTriggerParamsResolver (dev resolves params once per change, not per request)', () => {
  it('answers with the same resolution while nothing changed, and a fresh one after each change', async () => {
    await setSecret('API_KEY', 'first-value-123')
    const resolve = createTriggerParamsResolver()
    const options = { root, cwd: root, env, triggerName: 'chat', trigger: withSecret }

    const first = await resolve(options)
    expect(first.values).toEqual({ key: 'first-value-123', model: 'gpt' })
    // Used again: the same object, so redaction needles are worked out once for it too.
    expect(await resolve(options)).toBe(first)

    // A secret set a moment ago is used by the very next call: no waiting for a watcher.
    await setSecret('API_KEY', 'second-value-456')
    const second = await resolve(options)
    expect(second.values.key).toBe('second-value-456')
    expect(second.secrets.get('API_KEY')).toBe('second-value-456')

    // A reloaded config is a new trigger object: its params are read again.
    const edited = await resolve({
      ...options,
      trigger: { ...withSecret, params: { key: { secret: 'API_KEY' } } },
    })
    expect(edited.values).toEqual({ key: 'second-value-456' })
  })

  it('does not keep a failure: a missing secret, once set, is found by the next call', async () => {
    const resolve = createTriggerParamsResolver()
    const options = { root, cwd: root, env, triggerName: 'chat', trigger: withSecret }
    await expect(resolve(options)).rejects.toMatchObject({ code: 'SECRET_MISSING' })
    await setSecret('API_KEY', 'now-it-is-set')
    expect((await resolve(options)).values.key).toBe('now-it-is-set')
  })

  it('reads again when the key changes: a store under another key is refused, not served from memory', async () => {
    await setSecret('API_KEY', 'first-value-123')
    const resolve = createTriggerParamsResolver()
    const options = { root, cwd: root, env, triggerName: 'chat', trigger: withSecret }
    expect((await resolve(options)).values.key).toBe('first-value-123')
    // The key file is rewritten with another key: the store, made under the old one, no longer opens.
    await writeFile(keyFilePath(env), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 })
    await expect(resolve(options)).rejects.toMatchObject({ code: expect.stringMatching(/^SECRETS?_/) })
  })

  it('keeps static params per trigger object, with no file to check', async () => {
    const resolve = createTriggerParamsResolver()
    const trigger: TriggerConfig = { type: 'endpoint', function: 'f', params: { model: 'gpt', n: 2 } }
    const options = { root, cwd: root, env, triggerName: 'plain', trigger }
    const first = await resolve(options)
    expect(first).toEqual({ values: { model: 'gpt', n: 2 }, secrets: new Map() })
    expect(await resolve(options)).toBe(first)
  })
})

describe('createRedactor with a map used again', () => {
  it('finds every form of a value for each invocation, and reports per redactor', () => {
    const secrets = new Map([['API_KEY', 'sk-live-0123456789']])
    const one = createRedactor(secrets)
    const two = createRedactor(secrets)
    expect(one.redact({ a: 'x sk-live-0123456789 y' }, 'result')).toEqual({ a: 'x [redacted:API_KEY] y' })
    expect(two.redactText(Buffer.from('u:sk-live-0123456789').toString('base64'), 'logs[0]')).not.toContain(
      Buffer.from('u:sk-live-0123456789').toString('base64'),
    )
    expect(one.redactions).toEqual([{ secret: 'API_KEY', where: 'result' }])
    expect(two.redactions).toEqual([{ secret: 'API_KEY', where: 'logs[0]' }])
  })
})
