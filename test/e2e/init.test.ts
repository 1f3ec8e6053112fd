import { readFile, writeFile, mkdir, stat } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { execa } from 'execa'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ROOT, createSandbox, type Sandbox } from '../helpers/cli.js'
import { drivePty } from '../helpers/pty.js'

let sandbox: Sandbox
beforeEach(async () => {
  sandbox = await createSandbox()
})
afterEach(async () => {
  await sandbox.cleanup()
})

const TEMPLATES = [
  {
    template: 'generic',
    fn: 'api-proxy',
    trigger: 'api-proxy',
    domain: 'api.example.com',
    secret: 'API_KEY',
  },
  {
    template: 'openai',
    fn: 'openai-proxy',
    trigger: 'openai-chat',
    domain: 'api.openai.com',
    secret: 'OPENAI_API_KEY',
  },
  {
    template: 'stripe',
    fn: 'stripe-checkout',
    trigger: 'create-checkout',
    domain: 'api.stripe.com',
    secret: 'STRIPE_SECRET_KEY',
  },
]

describe('centrali init', () => {
  it.each(TEMPLATES)(
    'writes a working $template project with --yes',
    async ({ template, fn, trigger, domain, secret }) => {
      const result = await sandbox.run(['init', 'app', '--template', template, '--yes', '--json'])
      expect(result.exitCode).toBe(0)
      const output = result.json<{
        files: string[]
        secrets: { name: string; command: string }[]
        nextSteps: string[]
      }>()
      expect(output.files).toEqual(
        expect.arrayContaining([
          'centrali.json',
          `functions/${fn}.ts`,
          'centrali-env.d.ts',
          'tsconfig.json',
          '.gitignore',
          'README.md',
          '.centrali/centrali.schema.json',
        ]),
      )
      expect(output.secrets).toEqual([
        { name: secret, description: expect.any(String), command: `centrali secrets set ${secret}` },
      ])
      expect(output.nextSteps).toContain('centrali dev')

      const app = join(sandbox.dir, 'app')
      const config = JSON.parse(await readFile(join(app, 'centrali.json'), 'utf8'))
      expect(config.$schema).toBe('.centrali/centrali.schema.json')
      expect(config.functions).toEqual({ [fn]: { entry: `functions/${fn}.ts` } })
      expect(config.triggers[trigger]).toMatchObject({ type: 'endpoint', function: fn, timeoutMs: 30000 })
      expect(Object.values(config.triggers[trigger].params)).toContainEqual({ secret })
      expect(config.domains).toEqual([domain])
      expect(await readFile(join(app, '.gitignore'), 'utf8')).toMatch(/^\.centrali\/$/m)
      const schema = JSON.parse(await readFile(join(app, '.centrali/centrali.schema.json'), 'utf8'))
      expect(schema.properties.triggers).toBeDefined()

      // The project loads: a command that reads the config accepts it.
      const list = await sandbox.run(['domains', 'list', '--json'], { cwd: app })
      expect(list.exitCode).toBe(0)
      expect(list.json<{ domains: { domain: string; functions: string[] }[] }>().domains).toEqual([
        { domain, functions: [fn], templates: [template] },
      ])
    },
  )

  it('generates functions that type-check against centrali-env.d.ts with no package installed', async () => {
    for (const { template } of TEMPLATES) {
      expect((await sandbox.run(['init', template, '--template', template, '--yes'])).exitCode).toBe(0)
      const tsc = await execa(
        process.execPath,
        [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(sandbox.dir, template)],
        {
          reject: false,
        },
      )
      expect(tsc.stdout + tsc.stderr).toBe('')
      expect(tsc.exitCode).toBe(0)
    }
  })

  it('types the sandbox: fetch and process are errors in a function', async () => {
    await sandbox.run(['init', 'app', '--template', 'generic', '--yes'])
    const file = join(sandbox.dir, 'app/functions/api-proxy.ts')
    await writeFile(
      file,
      `${await readFile(file, 'utf8')}\nexport async function leak() { return [await fetch('x'), process.env] }\n`,
    )
    const tsc = await execa(
      process.execPath,
      [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(sandbox.dir, 'app')],
      {
        reject: false,
      },
    )
    expect(tsc.exitCode).not.toBe(0)
    expect(tsc.stdout).toMatch(/Cannot find name 'fetch'/)
    expect(tsc.stdout).toMatch(/Cannot find name 'process'/)
  })

  it('takes names, extra domains and prints human next steps', async () => {
    const result = await sandbox.run([
      'init',
      'shop',
      '--template',
      'stripe',
      '--name',
      'Shop',
      '--function',
      'checkout',
      '--trigger',
      'pay',
      '--domain',
      'HTTPS://Hooks.Partner.io/x',
      '--domain',
      'api.partner.io:8443',
    ])
    expect(result.exitCode).toBe(0)
    expect(result.stdout).toContain('centrali secrets set STRIPE_SECRET_KEY')
    expect(result.stdout).toContain('cd shop')
    expect(result.stdout).toContain('/endpoints/pay')
    const config = JSON.parse(await readFile(join(sandbox.dir, 'shop/centrali.json'), 'utf8'))
    expect(Object.keys(config.functions)).toEqual(['checkout'])
    expect(config.triggers.pay.function).toBe('checkout')
    expect(config.domains).toEqual(['api.stripe.com', 'hooks.partner.io', 'api.partner.io:8443'])
    expect(await readFile(join(sandbox.dir, 'shop/functions/checkout.ts'), 'utf8')).toContain(
      'checkout: creates a Stripe Checkout Session',
    )
    expect(await readFile(join(sandbox.dir, 'shop/README.md'), 'utf8')).toMatch(/^# Shop$/m)
  })

  it('refuses a non-empty folder without --force and keeps its files', async () => {
    await mkdir(join(sandbox.dir, 'busy'))
    await writeFile(join(sandbox.dir, 'busy/centrali.json'), '{"mine": true}')
    const refused = await sandbox.run(['init', 'busy', '--template', 'openai', '--yes', '--json'])
    expect(refused.exitCode).toBe(1)
    expect(refused.json<{ error: { code: string; hint: string } }>().error).toMatchObject({
      code: 'DIRECTORY_NOT_EMPTY',
      hint: expect.stringContaining('--force'),
    })
    expect(await readFile(join(sandbox.dir, 'busy/centrali.json'), 'utf8')).toBe('{"mine": true}')

    const forced = await sandbox.run(['init', 'busy', '--template', 'openai', '--yes', '--force'])
    expect(forced.exitCode).toBe(0)
    expect(JSON.parse(await readFile(join(sandbox.dir, 'busy/centrali.json'), 'utf8')).domains).toEqual([
      'api.openai.com',
    ])
  })

  it('--force keeps the README and tsconfig you wrote and adds .centrali/ to your .gitignore', async () => {
    const dir = join(sandbox.dir, 'existing')
    await mkdir(dir)
    await writeFile(join(dir, '.gitignore'), 'dist/\n.env')
    await writeFile(join(dir, 'README.md'), '# mine\n')
    await writeFile(join(dir, 'tsconfig.json'), '{ "mine": true }\n')
    const result = await sandbox.run([
      'init',
      'existing',
      '--template',
      'openai',
      '--yes',
      '--force',
      '--json',
    ])
    expect(result.exitCode).toBe(0)
    expect(result.json<{ kept: string[] }>().kept.sort()).toEqual(['README.md', 'tsconfig.json'])
    expect(await readFile(join(dir, '.gitignore'), 'utf8')).toBe('dist/\n.env\n.centrali/\n')
    expect(await readFile(join(dir, 'README.md'), 'utf8')).toBe('# mine\n')
    expect(await readFile(join(dir, 'tsconfig.json'), 'utf8')).toBe('{ "mine": true }\n')
    // Run again: the .gitignore line is not added twice.
    await sandbox.run(['init', 'existing', '--template', 'openai', '--yes', '--force'])
    expect(await readFile(join(dir, '.gitignore'), 'utf8')).toBe('dist/\n.env\n.centrali/\n')
  })

  it('a project name that is a path is refused when it would be the folder', async () => {
    const escape = `../escape-${basename(sandbox.dir)}`
    const result = await sandbox.run(['init', '--name', escape, '--template', 'openai', '--json'])
    expect(result.exitCode).toBe(1)
    expect(result.json<{ error: { code: string } }>().error.code).toBe('NAME_INVALID')
    await expect(stat(join(sandbox.dir, escape))).rejects.toThrow()
  })

  it('without a terminal, names every missing flag in one usage error (exit 2)', async () => {
    const result = await sandbox.run(['init', '--json'])
    expect(result.exitCode).toBe(2)
    const { error } = result.json<{ error: { code: string; message: string; hint: string } }>()
    expect(error.code).toBe('MISSING_FLAGS')
    expect(error.message).toContain('--template')
    expect(error.message).toContain('--name')
    expect(error.hint).toContain('--yes')
    expect(result.stderr).toBe('')
  })

  it('rejects bad names, unknown templates and refused domains before writing anything', async () => {
    const badName = await sandbox.run([
      'init',
      'x',
      '--template',
      'openai',
      '--function',
      'Bad Name',
      '--yes',
      '--json',
    ])
    expect(badName.exitCode).toBe(1)
    expect(badName.json<{ error: { code: string } }>().error.code).toBe('NAME_INVALID')
    const badTemplate = await sandbox.run(['init', 'x', '--template', 'twilio', '--yes'])
    expect(badTemplate.exitCode).toBe(2)
    expect(badTemplate.stderr).toContain('generic, openai, stripe')
    const badDomain = await sandbox.run([
      'init',
      'x',
      '--template',
      'openai',
      '--domain',
      '*.com',
      '--yes',
      '--json',
    ])
    expect(badDomain.exitCode).toBe(1)
    expect(badDomain.json<{ error: { code: string; message: string } }>().error).toMatchObject({
      code: 'DOMAIN_INVALID',
      message: expect.stringContaining('*.com'),
    })
    await expect(stat(join(sandbox.dir, 'x'))).rejects.toThrow()
  })

  it('asks every question on a terminal (driven through a pseudo-terminal)', async () => {
    const answers: [RegExp, string][] = [
      [/Project name/, 'terminal-app\r'],
      [/Template/, '\u001B[B\r'], // arrow down: generic → openai
      [/Function name/, 'chat\r'],
      [/Endpoint trigger name/, '\r'], // accept the template default
      [/Extra allowed domains/, 'api.partner.io\r'],
    ]
    const transcript = await drivePty(sandbox.dir, sandbox.env, ['init'], answers)
    expect(transcript.exitCode).toBe(0)
    const config = JSON.parse(await readFile(join(sandbox.dir, 'terminal-app/centrali.json'), 'utf8'))
    expect(config.functions).toEqual({ chat: { entry: 'functions/chat.ts' } })
    expect(config.triggers['openai-chat'].function).toBe('chat')
    expect(config.domains).toEqual(['api.openai.com', 'api.partner.io'])
  })

  it('secrets set asks for the value without showing it', async () => {
    expect((await sandbox.run(['init', 'app', '--template', 'openai', '--yes'])).exitCode).toBe(0)
    const value = 'sk-typed-at-the-prompt-123'
    const transcript = await drivePty(
      sandbox.dir,
      sandbox.env,
      ['secrets', 'set', 'OPENAI_API_KEY', '--cwd', join(sandbox.dir, 'app')],
      [[/Value for OPENAI_API_KEY/, `${value}\r`]],
    )
    expect(transcript.exitCode).toBe(0)
    expect(transcript.output).toContain('Stored OPENAI_API_KEY')
    expect(transcript.output).not.toContain(value)
    expect(transcript.output).not.toContain('*'.repeat(value.length))
    const list = await sandbox.run(['secrets', 'list', '--json'], { cwd: join(sandbox.dir, 'app') })
    expect(list.json<{ secrets: { name: string }[] }>().secrets.map((secret) => secret.name)).toEqual([
      'OPENAI_API_KEY',
    ])
  })

  it('with CI set, a terminal gets no prompt: a usage error instead', async () => {
    const transcript = await drivePty(sandbox.dir, sandbox.env, ['init'], [], { CI: 'true' })
    expect(transcript.exitCode).toBe(2)
    expect(transcript.output).toContain('--template')
    expect(transcript.output).not.toContain('Project name')
  })

  it('Ctrl-C at a prompt is "Operation cancelled", exit 130, and writes nothing', async () => {
    const transcript = await drivePty(sandbox.dir, sandbox.env, ['init'], [[/Project name/, '\u0003']])
    expect(transcript.exitCode).toBe(130)
    expect(transcript.output).toContain('Operation cancelled')
    expect(transcript.output).not.toMatch(/at .*\.js:\d+/) // no stack
  })
})
