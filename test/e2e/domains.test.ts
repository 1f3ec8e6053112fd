import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createSandbox, type Sandbox } from '../helpers/cli.js'

let sandbox: Sandbox
let app: string
beforeEach(async () => {
  sandbox = await createSandbox()
  app = join(sandbox.dir, 'app')
  await mkdir(join(app, 'functions'), { recursive: true })
  // Hand-written, with comments and tabs: every edit must keep them.
  await writeFile(
    join(app, 'centrali.json'),
    `{
\t// my functions
\t"functions": { "proxy": { "entry": "functions/proxy.ts" } },
\t"triggers": {},
\t"domains": [
\t\t"api.openai.com" // the model
\t]
}
`,
  )
  await writeFile(
    join(app, 'functions/proxy.ts'),
    "export async function run() { return api.httpGet('https://api.openai.com/v1/models') && api.httpGet('https://hooks.partner.io/x') }\n",
  )
})
afterEach(async () => {
  await sandbox.cleanup()
})

const config = async () => readFile(join(app, 'centrali.json'), 'utf8')

describe('centrali domains', () => {
  it('add normalises, keeps comments and formatting, and writes the canonical form', async () => {
    const result = await sandbox.run(
      [
        'domains',
        'add',
        'HTTPS://API.Stripe.com/v1/charges',
        '*.Partner.io',
        'api.partner.io:8443',
        '--json',
      ],
      { cwd: app },
    )
    expect(result.exitCode).toBe(0)
    const output = result.json<{ added: string[]; notes: string[] }>()
    expect(output.added).toEqual(['api.stripe.com', '*.partner.io', 'api.partner.io:8443'])
    expect(output.notes.join('\n')).toContain('/v1/charges')
    const text = await config()
    expect(text).toContain('// my functions')
    expect(text).toContain('"api.openai.com", // the model')
    expect(text).toMatch(/\n\t\t"api.stripe.com"/)
    expect(text).toContain('"*.partner.io"')
  })

  it('adding an existing entry is a no-op that says so', async () => {
    const before = await config()
    const result = await sandbox.run(['domains', 'add', 'API.OPENAI.COM'], { cwd: app })
    expect(result.exitCode).toBe(0)
    expect(result.stderr).toContain('api.openai.com is already allowed')
    expect(await config()).toBe(before)
  })

  it('refuses what cannot be meant, with a reason for each, and writes nothing', async () => {
    const before = await config()
    const result = await sandbox.run(
      [
        'domains',
        'add',
        '*',
        '*.com',
        'co.uk',
        'a.*.example.com',
        'localhost',
        '10.0.0.5',
        'x.com:99999',
        '--json',
      ],
      {
        cwd: app,
      },
    )
    expect(result.exitCode).toBe(1)
    const { error } = result.json<{ error: { code: string; message: string } }>()
    expect(error.code).toBe('DOMAIN_INVALID')
    for (const input of [
      '*:',
      '*.com:',
      'co.uk:',
      'a.*.example.com:',
      'localhost:',
      '10.0.0.5:',
      'x.com:99999:',
    ]) {
      expect(error.message).toContain(input)
    }
    expect(error.message).toContain('--ip')
    expect(await config()).toBe(before)
  })

  it('compares hand-written entries in their normal form', async () => {
    await writeFile(
      join(app, 'centrali.json'),
      '{ "functions": {}, "domains": ["API.OpenAI.com", "b.example.com"] }',
    )
    const again = await sandbox.run(['domains', 'add', 'api.openai.com', '--json'], { cwd: app })
    expect(again.json<{ added: string[]; existing: string[] }>()).toMatchObject({
      added: [],
      existing: ['api.openai.com'],
    })
    const removed = await sandbox.run(['domains', 'remove', 'api.openai.com'], { cwd: app })
    expect(removed.exitCode).toBe(0)
    expect(await config()).toBe('{ "functions": {}, "domains": ["b.example.com"] }')
  })

  it('refuses an address the egress guard always blocks, even with --ip', async () => {
    const result = await sandbox.run(
      ['domains', 'add', '127.0.0.1', '10.0.0.5:8443', '[::1]', '--ip', '--json'],
      { cwd: app },
    )
    expect(result.exitCode).toBe(1)
    const { error } = result.json<{ error: { message: string } }>()
    for (const input of ['127.0.0.1:', '10.0.0.5:8443:', '[::1]:']) expect(error.message).toContain(input)
    expect(error.message).toContain('--map')
  })

  it('accepts an IP address with --ip', async () => {
    const result = await sandbox.run(['domains', 'add', '93.184.216.34:8443', '--ip'], { cwd: app })
    expect(result.exitCode).toBe(0)
    expect(JSON.parse((await config()).replace(/\/\/.*$/gm, '')).domains).toContain('93.184.216.34:8443')
  })

  it('list shows entries, who needs them, and hosts the code calls that are not allowed', async () => {
    const result = await sandbox.run(['domains', 'list', '--json'], { cwd: app })
    expect(result.exitCode).toBe(0)
    expect(result.json()).toEqual({
      domains: [{ domain: 'api.openai.com', functions: ['proxy'], templates: ['openai'] }],
      notAllowed: [{ host: 'hooks.partner.io', functions: ['proxy'] }],
    })
    const human = await sandbox.run(['domains', 'list'], { cwd: app })
    expect(human.stdout).toContain('api.openai.com')
    expect(human.stderr).toContain('centrali domains add hooks.partner.io')
  })

  it("the generic template pointed at one's own API: list names no host its comments or messages mention", async () => {
    expect((await sandbox.run(['init', 'mine', '--template', 'generic', '--yes'])).exitCode).toBe(0)
    const project = join(sandbox.dir, 'mine')
    const file = join(project, 'centrali.json')
    const text = (await readFile(file, 'utf8')).replace('"https://api.example.com"', '"https://api.mine.dev"')
    await writeFile(file, text)
    expect((await sandbox.run(['domains', 'remove', 'api.example.com'], { cwd: project })).exitCode).toBe(0)
    expect((await sandbox.run(['domains', 'add', 'api.mine.dev'], { cwd: project })).exitCode).toBe(0)
    const result = await sandbox.run(['domains', 'list', '--json'], { cwd: project })
    expect(result.json()).toMatchObject({
      domains: [{ domain: 'api.mine.dev', functions: ['api-proxy'] }],
      notAllowed: [],
    })
  })

  it('remove takes the entry out, keeps the rest of the file, and refuses unknown entries', async () => {
    await sandbox.run(['domains', 'add', 'api.stripe.com'], { cwd: app })
    const removed = await sandbox.run(['domains', 'remove', 'API.STRIPE.COM', '--json'], { cwd: app })
    expect(removed.exitCode).toBe(0)
    expect(removed.json<{ domains: string[] }>().domains).toEqual(['api.openai.com'])
    expect(await config()).toContain('// my functions')
    expect(await config()).not.toContain('api.stripe.com')

    const missing = await sandbox.run(['domains', 'remove', 'nope.example.com', '--json'], { cwd: app })
    expect(missing.exitCode).toBe(1)
    expect(missing.json<{ error: { code: string; hint: string } }>().error).toMatchObject({
      code: 'DOMAIN_NOT_FOUND',
      hint: expect.stringContaining('api.openai.com'),
    })
  })

  it('finds centrali.json from a subfolder and with --cwd', async () => {
    const fromSubfolder = await sandbox.run(['domains', 'list', '--json'], { cwd: join(app, 'functions') })
    expect(fromSubfolder.exitCode).toBe(0)
    const withCwd = await sandbox.run(['domains', 'add', 'api.stripe.com', '--cwd', app])
    expect(withCwd.exitCode).toBe(0)
    expect(await config()).toContain('api.stripe.com')
  })
})

describe('an invalid centrali.json', () => {
  it('lists every problem with file, line, column, JSON path and expectation', async () => {
    await writeFile(
      join(app, 'centrali.json'),
      `{
  "functions": { "proxy": { "entry": "functions/proxy.ts" } },
  "triggers": {
    "chat": {
      "type": "endpoint",
      "function": "missing-fn",
      "params": { "key": { "secret": "lower-case" } },
      "timeoutMs": 400000
    }
  },
  "domains": ["*"],
  "colour": "blue"
}
`,
    )
    const result = await sandbox.run(['domains', 'list', '--json'], { cwd: app })
    expect(result.exitCode).toBe(1)
    const { error } = result.json<{
      error: { code: string; problems: { file: string; path: string; line: number; message: string }[] }
    }>()
    expect(error.code).toBe('CONFIG_INVALID')
    const byPath = Object.fromEntries(error.problems.map((problem) => [problem.path, problem]))
    expect(byPath['triggers.chat.timeoutMs']).toMatchObject({
      file: 'centrali.json',
      line: 8,
      message: expect.stringContaining('300000'),
    })
    expect(byPath['triggers.chat.params.key.secret']).toMatchObject({
      line: 7,
      message: expect.stringContaining('capital letters'),
    })
    expect(byPath['triggers.chat.function']).toMatchObject({
      line: 6,
      message: expect.stringContaining('missing-fn'),
    })
    expect(byPath['domains[0]']).toMatchObject({ line: 11, message: expect.stringContaining('every host') })

    const human = await sandbox.run(['domains', 'list'], { cwd: app })
    expect(human.stderr).toContain('centrali.json:8:7: triggers.chat.timeoutMs: expected at most 300000 ms')
  })

  it('an unknown key is a warning, not a failure', async () => {
    await writeFile(join(app, 'centrali.json'), '{ "functions": {}, "colour": "blue", "triggers": { } }')
    const result = await sandbox.run(['domains', 'list'], { cwd: app })
    expect(result.exitCode).toBe(0)
    expect(result.stderr).toMatch(/centrali.json:1:\d+: colour: unknown key, ignored/)
  })

  it('a JSON syntax error gives line and column', async () => {
    await writeFile(join(app, 'centrali.json'), '{\n  "functions": {},\n  "domains": ["a.com" "b.com"]\n}\n')
    const result = await sandbox.run(['domains', 'add', 'c.com'], { cwd: app })
    expect(result.exitCode).toBe(1)
    expect(result.stderr).toContain('centrali.json:3:23: JSON syntax error: expected ","')
  })
})
