import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parse as parseJsonc } from 'jsonc-parser'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createSandbox, type CliResult, type Sandbox } from '../helpers/cli.js'

let sandbox: Sandbox
let app: string
const SECRET = 'sk-live-VERY-secret-value-42'

beforeEach(async () => {
  sandbox = await createSandbox()
  expect((await sandbox.run(['init', 'app', '--template', 'openai', '--yes'])).exitCode).toBe(0)
  app = join(sandbox.dir, 'app')
})
afterEach(async () => {
  await sandbox.cleanup()
})

/** A secret value must never appear in anything a command prints. */
function expectNoLeak(result: CliResult, value = SECRET): void {
  for (const form of [value, Buffer.from(value).toString('base64')]) {
    expect(result.stdout).not.toContain(form)
    expect(result.stderr).not.toContain(form)
  }
}

const storePath = () => join(app, '.centrali/secrets.json')

describe('centrali secrets', () => {
  it('set from stdin stores the value encrypted, with the key outside the project', async () => {
    const result = await sandbox.run(['secrets', 'set', 'OPENAI_API_KEY', '--json'], {
      cwd: app,
      input: `${SECRET}\n`,
    })
    expect(result.exitCode).toBe(0)
    expectNoLeak(result)
    expect(result.json()).toMatchObject({
      name: 'OPENAI_API_KEY',
      replaced: false,
      usedBy: [{ trigger: 'openai-chat', param: 'openaiKey' }],
    })

    const store = await readFile(storePath(), 'utf8')
    expect(store).not.toContain(SECRET)
    expect(store).not.toContain(Buffer.from(SECRET).toString('base64'))
    const parsed = JSON.parse(store)
    expect(parsed.version).toBe(1)
    expect(parsed.secrets.OPENAI_API_KEY).toMatchObject({ v: 1, alg: 'aes-256-gcm' })
    expect(Buffer.from(parsed.secrets.OPENAI_API_KEY.iv, 'base64')).toHaveLength(12)
    expect((await stat(storePath())).mode & 0o777).toBe(0o600)

    const keyFile = join(sandbox.configHome, 'centrali/secrets.key')
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600)
    expect(Buffer.from((await readFile(keyFile, 'utf8')).trim(), 'base64')).toHaveLength(32)
  })

  it('list shows names, users and missing secrets, never values', async () => {
    const before = await sandbox.run(['secrets', 'list', '--json'], { cwd: app })
    expect(before.json()).toEqual({
      secrets: [],
      missing: [
        {
          name: 'OPENAI_API_KEY',
          usedBy: [{ trigger: 'openai-chat', param: 'openaiKey' }],
          command: 'centrali secrets set OPENAI_API_KEY',
        },
      ],
    })
    await sandbox.run(['secrets', 'set', 'OPENAI_API_KEY', '--value', SECRET], { cwd: app })
    await sandbox.run(['secrets', 'set', 'SPARE_KEY'], { cwd: app, input: 'another-value' })
    const after = await sandbox.run(['secrets', 'list', '--json'], { cwd: app })
    expectNoLeak(after)
    const listing = after.json<{ secrets: { name: string; usedBy: unknown[] }[]; missing: unknown[] }>()
    expect(listing.secrets.map((secret) => [secret.name, secret.usedBy.length])).toEqual([
      ['OPENAI_API_KEY', 1],
      ['SPARE_KEY', 0],
    ])
    expect(listing.missing).toEqual([])
    const human = await sandbox.run(['secrets', 'list'], { cwd: app })
    expect(human.stdout).toContain('OPENAI_API_KEY')
    expect(human.stdout).toContain('used by openai-chat.openaiKey')
    expectNoLeak(human)
  })

  it('replacing a value says so; remove takes it out', async () => {
    await sandbox.run(['secrets', 'set', 'OPENAI_API_KEY', '--value', 'first'], { cwd: app })
    const replaced = await sandbox.run(['secrets', 'set', 'OPENAI_API_KEY', '--json'], {
      cwd: app,
      input: SECRET,
    })
    expect(replaced.json()).toMatchObject({ replaced: true })
    const removed = await sandbox.run(['secrets', 'remove', 'OPENAI_API_KEY'], { cwd: app })
    expect(removed.exitCode).toBe(0)
    expect(removed.stderr).toContain('still refers to OPENAI_API_KEY')
    expect(JSON.parse(await readFile(storePath(), 'utf8')).secrets).toEqual({})
    const again = await sandbox.run(['secrets', 'remove', 'OPENAI_API_KEY', '--json'], { cwd: app })
    expect(again.exitCode).toBe(1)
    expect(again.json<{ error: { code: string } }>().error.code).toBe('SECRET_NOT_FOUND')
  })

  it('refuses bad names and empty values', async () => {
    const badName = await sandbox.run(['secrets', 'set', 'openai-key', '--value', 'x', '--json'], {
      cwd: app,
    })
    expect(badName.exitCode).toBe(1)
    expect(badName.json<{ error: { code: string } }>().error.code).toBe('SECRET_NAME_INVALID')
    const empty = await sandbox.run(['secrets', 'set', 'OPENAI_API_KEY', '--json'], { cwd: app, input: '' })
    expect(empty.exitCode).toBe(1)
    expect(empty.json<{ error: { code: string } }>().error.code).toBe('SECRET_VALUE_EMPTY')
  })

  it('a value too short to be redacted (under 6 characters) is stored with a warning saying so', async () => {
    const result = await sandbox.run(['secrets', 'set', 'PIN', '--json'], { cwd: app, input: 'pin42\n' })
    expect(result.exitCode, result.stderr).toBe(0)
    expect(result.stderr).toContain(
      'PIN is shorter than 6 characters: too short to tell from other text, it is not redacted from results and logs.',
    )
    expect(result.stderr).not.toContain('pin42')
  })

  it('import takes a dotenv file, all or nothing', async () => {
    await writeFile(join(app, '.env'), `# keys\nexport OPENAI_API_KEY="${SECRET}"\nOTHER_TOKEN='tok en'\n`)
    const result = await sandbox.run(['secrets', 'import', '.env', '--json'], { cwd: app })
    expect(result.exitCode).toBe(0)
    expectNoLeak(result)
    expect(result.json<{ imported: { name: string }[] }>().imported.map((entry) => entry.name)).toEqual([
      'OPENAI_API_KEY',
      'OTHER_TOKEN',
    ])
    expect(result.stderr).toContain('No trigger refers to OTHER_TOKEN')
    // 'tok en' is 6 characters: long enough to be redacted.
    expect(result.stderr).not.toContain('is shorter than')

    await writeFile(join(app, 'bad.env'), 'GOOD=1\nthis line is wrong\nlower=2\n')
    const before = await readFile(storePath(), 'utf8')
    const bad = await sandbox.run(['secrets', 'import', 'bad.env', '--json'], { cwd: app })
    expect(bad.exitCode).toBe(1)
    const { error } = bad.json<{ error: { code: string; message: string } }>()
    expect(error.code).toBe('DOTENV_INVALID')
    expect(error.message).toContain('bad.env:2: expected NAME=value')
    expect(error.message).toContain('bad.env:3: not a valid secret name')
    expect(error.message).not.toContain('lower')
    expect(await readFile(storePath(), 'utf8')).toBe(before)
  })

  it('a damaged value is left as it is when another secret is set', async () => {
    await sandbox.run(['secrets', 'set', 'OPENAI_API_KEY', '--value', SECRET], { cwd: app })
    const store = JSON.parse(await readFile(storePath(), 'utf8'))
    const data = Buffer.from(store.secrets.OPENAI_API_KEY.data, 'base64')
    data[0] = data[0]! ^ 1
    store.secrets.OPENAI_API_KEY.data = data.toString('base64')
    await writeFile(storePath(), JSON.stringify(store))
    // Setting another secret reuses the key but does not decrypt or overwrite the damaged one.
    const other = await sandbox.run(['secrets', 'set', 'SPARE_KEY', '--value', 'x'], { cwd: app })
    expect(other.exitCode).toBe(0)
    expect(JSON.parse(await readFile(storePath(), 'utf8')).secrets.OPENAI_API_KEY.data).toBe(
      store.secrets.OPENAI_API_KEY.data,
    )
  })

  it('a truncated store is reported and never overwritten', async () => {
    await sandbox.run(['secrets', 'set', 'OPENAI_API_KEY', '--value', SECRET], { cwd: app })
    const text = await readFile(storePath(), 'utf8')
    await writeFile(storePath(), text.slice(0, text.length / 2))
    const result = await sandbox.run(['secrets', 'set', 'SPARE_KEY', '--value', 'x', '--json'], { cwd: app })
    expect(result.exitCode).toBe(1)
    expect(result.json<{ error: { code: string; message: string } }>().error).toMatchObject({
      code: 'SECRETS_STORE_CORRUPT',
      message: expect.stringContaining('.centrali/secrets.json'),
    })
    expect(await readFile(storePath(), 'utf8')).toBe(text.slice(0, text.length / 2))
  })

  it('a store made with another key is refused with the fix, not overwritten', async () => {
    await sandbox.run(['secrets', 'set', 'OPENAI_API_KEY', '--value', SECRET], { cwd: app })
    const before = await readFile(storePath(), 'utf8')
    const otherKey = Buffer.alloc(32, 7).toString('base64')
    const result = await sandbox.run(['secrets', 'set', 'SPARE_KEY', '--value', 'x', '--json'], {
      cwd: app,
      env: { CENTRALI_SECRETS_KEY: otherKey },
    })
    expect(result.exitCode).toBe(1)
    const { error } = result.json<{ error: { code: string; hint: string } }>()
    expect(error.code).toBe('SECRETS_WRONG_KEY')
    expect(error.hint).toContain('CENTRALI_SECRETS_KEY')
    expect(result.stdout).not.toContain(otherKey)
    expect(await readFile(storePath(), 'utf8')).toBe(before)
  })

  it('CENTRALI_SECRETS_KEY replaces the key file', async () => {
    const key = Buffer.alloc(32, 9).toString('base64')
    const result = await sandbox.run(['secrets', 'set', 'OPENAI_API_KEY', '--value', SECRET], {
      cwd: app,
      env: { CENTRALI_SECRETS_KEY: key },
    })
    expect(result.exitCode).toBe(0)
    await expect(stat(join(sandbox.configHome, 'centrali/secrets.key'))).rejects.toThrow()
    const invalid = await sandbox.run(['secrets', 'set', 'OPENAI_API_KEY', '--value', SECRET, '--json'], {
      cwd: app,
      env: { CENTRALI_SECRETS_KEY: 'too-short' },
    })
    expect(invalid.json<{ error: { code: string; message: string } }>().error).toMatchObject({
      code: 'SECRETS_KEY_INVALID',
    })
    expect(invalid.stdout).not.toContain('too-short')
  })
})

describe('centrali secrets, careful input', () => {
  it('a value given as a second argument is refused without echoing it (exit 2)', async () => {
    const result = await sandbox.run(['secrets', 'set', 'OPENAI_API_KEY', SECRET, '--json'], { cwd: app })
    expect(result.exitCode).toBe(2)
    expect(result.json<{ error: { code: string } }>().error.code).toBe('VALUE_AS_ARGUMENT')
    expectNoLeak(result)
    await expect(stat(storePath())).rejects.toThrow()
  })

  it('a bad name is refused and the piped value never echoed', async () => {
    const result = await sandbox.run(['secrets', 'set', 'bad-name'], { cwd: app, input: SECRET })
    expect(result.exitCode).toBe(1)
    expect(result.stderr).toContain('SECRET_NAME_INVALID')
    expectNoLeak(result)
  })

  it('import takes an absolute path', async () => {
    const file = join(sandbox.dir, 'abs.env')
    await writeFile(file, `OPENAI_API_KEY=${SECRET}\n`)
    const result = await sandbox.run(['secrets', 'import', file], { cwd: app })
    expect(result.exitCode).toBe(0)
    expect(JSON.parse(await readFile(storePath(), 'utf8')).secrets).toHaveProperty('OPENAI_API_KEY')
  })

  it('import never echoes a bad line, which may be a pasted key', async () => {
    await writeFile(join(app, 'pasted.env'), `${SECRET}=\nsk-proj-ABCDEF123456=x\n`)
    const result = await sandbox.run(['secrets', 'import', 'pasted.env'], { cwd: app })
    expect(result.exitCode).toBe(1)
    expectNoLeak(result)
    expect(result.stderr).not.toContain('sk-proj-ABCDEF123456')
  })

  it('a store whose key fingerprint was removed is refused, not re-keyed', async () => {
    await sandbox.run(['secrets', 'set', 'OPENAI_API_KEY', '--value', SECRET], { cwd: app })
    const store = JSON.parse(await readFile(storePath(), 'utf8'))
    delete store.keyId
    await writeFile(storePath(), JSON.stringify(store))
    const result = await sandbox.run(['secrets', 'set', 'OTHER', '--value', 'x', '--json'], {
      cwd: app,
      env: { CENTRALI_SECRETS_KEY: Buffer.alloc(32, 3).toString('base64') },
    })
    expect(result.exitCode).toBe(1)
    expect(result.json<{ error: { code: string } }>().error.code).toBe('SECRETS_STORE_CORRUPT')
  })
})

describe('centrali functions new', () => {
  it('adds a function, its trigger and its domains, keeping the file as written', async () => {
    const configPath = join(app, 'centrali.json')
    const text = await readFile(configPath, 'utf8')
    await writeFile(configPath, text.replace('{\n', '{\n  // hand-written comment\n'))
    const result = await sandbox.run(
      ['functions', 'new', 'checkout', '--template', 'stripe', '--trigger', 'pay', '--json'],
      { cwd: app },
    )
    expect(result.exitCode).toBe(0)
    expect(result.json()).toMatchObject({
      function: 'checkout',
      trigger: 'pay',
      file: 'functions/checkout.ts',
      domainsAdded: ['api.stripe.com'],
      secrets: [{ name: 'STRIPE_SECRET_KEY', command: 'centrali secrets set STRIPE_SECRET_KEY' }],
    })
    const updated = await readFile(configPath, 'utf8')
    expect(updated).toContain('// hand-written comment')
    // The template's example payload, which dev's curl line and `centrali invoke pay` send.
    const triggers = (parseJsonc(updated) as { triggers: Record<string, { examplePayload?: unknown }> })
      .triggers
    expect(triggers.pay?.examplePayload).toEqual({ priceId: 'price_123', quantity: 1 })
    const list = await sandbox.run(['domains', 'list', '--json'], { cwd: app })
    expect(list.json<{ domains: { domain: string; functions: string[] }[] }>().domains).toEqual([
      { domain: 'api.openai.com', functions: ['openai-proxy'], templates: ['openai'] },
      { domain: 'api.stripe.com', functions: ['checkout'], templates: ['stripe'] },
    ])
    expect(await readFile(join(app, 'functions/checkout.ts'), 'utf8')).toContain(
      "'https://api.stripe.com/v1/checkout/sessions'",
    )
  })

  it('says how to try the new trigger', async () => {
    const result = await sandbox.run(['functions', 'new', 'extra', '--template', 'generic'], { cwd: app })
    expect(result.exitCode, result.stderr).toBe(0)
    expect(`${result.stdout}${result.stderr}`).toContain(
      'Try it: centrali invoke extra   (sends its examplePayload from centrali.json)',
    )
  })

  it('refuses an existing function, trigger or file, and changes nothing', async () => {
    const before = await readFile(join(app, 'centrali.json'), 'utf8')
    const sameFunction = await sandbox.run(
      ['functions', 'new', 'openai-proxy', '--template', 'openai', '--json'],
      { cwd: app },
    )
    expect(sameFunction.json<{ error: { code: string } }>().error.code).toBe('FUNCTION_EXISTS')
    const sameTrigger = await sandbox.run(
      ['functions', 'new', 'x', '--template', 'openai', '--trigger', 'openai-chat', '--json'],
      { cwd: app },
    )
    expect(sameTrigger.json<{ error: { code: string; hint: string } }>().error).toMatchObject({
      code: 'TRIGGER_EXISTS',
      hint: expect.stringContaining('--trigger'),
    })
    await writeFile(join(app, 'functions/mine.ts'), 'keep me')
    const sameFile = await sandbox.run(['functions', 'new', 'mine', '--template', 'generic', '--json'], {
      cwd: app,
    })
    expect(sameFile.exitCode).toBe(1)
    expect(sameFile.json<{ error: { code: string } }>().error.code).toBe('FILE_EXISTS')
    expect(await readFile(join(app, 'functions/mine.ts'), 'utf8')).toBe('keep me')
    expect(await readFile(join(app, 'centrali.json'), 'utf8')).toBe(before)
  })

  it('without a terminal, a missing --template is a usage error', async () => {
    const result = await sandbox.run(['functions', 'new', 'x', '--json'], { cwd: app })
    expect(result.exitCode).toBe(2)
    expect(result.json<{ error: { message: string } }>().error.message).toContain('--template')
  })
})
