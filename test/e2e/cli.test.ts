import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSandbox, type Sandbox } from '../helpers/cli.js'

let sandbox: Sandbox
beforeAll(async () => {
  sandbox = await createSandbox()
})
afterAll(async () => {
  await sandbox.cleanup()
})

const COMMANDS = [
  'init',
  'invoke',
  'functions new',
  'domains add',
  'domains remove',
  'domains list',
  'secrets set',
  'secrets list',
  'secrets remove',
  'secrets import',
]

describe('the centrali command line', () => {
  it('--help lists every command and topic', async () => {
    const result = await sandbox.run(['--help'])
    expect(result.exitCode).toBe(0)
    for (const word of ['init', 'domains', 'secrets', 'functions', 'autocomplete'])
      expect(result.stdout).toContain(word)
  })

  it.each(COMMANDS)('`%s --help` shows examples and the --json flag', async (command) => {
    const result = await sandbox.run([...command.split(' '), '--help'])
    expect(result.exitCode).toBe(0)
    expect(result.stdout).toContain('EXAMPLES')
    expect(result.stdout).toContain(`$ centrali ${command}`)
    expect(result.stdout).toContain('--json')
  })

  it('suggests the closest command for a typo and exits 2', async () => {
    const result = await sandbox.run(['domain', 'lst'])
    expect(result.exitCode).toBe(2)
    expect(result.stderr).toContain('is not a centrali command')
    expect(result.stderr).toContain('Did you mean `centrali domains list`?')
    const json = await sandbox.run(['secret', 'set', 'X', '--json'])
    expect(json.exitCode).toBe(2)
    expect(json.json()).toEqual({
      error: {
        code: 'COMMAND_NOT_FOUND',
        message: '"secret set X" is not a centrali command.',
        hint: 'Did you mean `centrali secrets set`?',
      },
    })
  })

  it('an unknown flag is a usage error: exit 2, JSON error on stdout with --json', async () => {
    const human = await sandbox.run(['domains', 'list', '--bogus'])
    expect(human.exitCode).toBe(2)
    expect(human.stderr).toContain('Nonexistent flag: --bogus')
    expect(human.stderr).toContain('USAGE_ERROR')
    const json = await sandbox.run(['domains', 'list', '--bogus', '--json'])
    expect(json.exitCode).toBe(2)
    expect(json.json<{ error: { code: string } }>().error.code).toBe('USAGE_ERROR')
  })

  it('a missing argument is a usage error (exit 2)', async () => {
    const result = await sandbox.run(['secrets', 'remove'])
    expect(result.exitCode).toBe(2)
    expect(result.stderr).toMatch(/Missing 1 required arg/)
  })

  it('outside a project, commands that need one exit 1 with a hint to run init', async () => {
    const result = await sandbox.run(['domains', 'list', '--json'])
    expect(result.exitCode).toBe(1)
    const { error } = result.json<{ error: { code: string; message: string; hint: string } }>()
    expect(error.code).toBe('PROJECT_NOT_FOUND')
    expect(error.hint).toContain('centrali init')
    // Only bugs print a stack.
    const human = await sandbox.run(['domains', 'list'])
    expect(human.stderr).not.toMatch(/\n\s+at /)
  })

  it('shell completion is available', async () => {
    const result = await sandbox.run(['autocomplete', 'bash'])
    expect(result.exitCode).toBe(0)
    expect(result.stdout).toMatch(/autocomplete/i)
  })

  it('--version prints the version', async () => {
    const result = await sandbox.run(['--version'])
    expect(result.exitCode).toBe(0)
    expect(result.stdout).toMatch(/^centrali\/\d+\.\d+\.\d+/)
  })
})

describe('interruption', () => {
  it('SIGINT while a command waits exits 130 with "Operation cancelled"', async () => {
    const { execa } = await import('execa')
    const { CLI } = await import('../helpers/cli.js')
    const init = await sandbox.run(['init', 'sig', '--template', 'openai', '--yes'])
    expect(init.exitCode).toBe(0)
    // `secrets set` reads the value from stdin, which stays open: the command waits.
    const child = execa(process.execPath, [CLI, 'secrets', 'set', 'OPENAI_API_KEY'], {
      cwd: `${sandbox.dir}/sig`,
      env: sandbox.env,
      stdin: 'pipe',
      reject: false,
    })
    await new Promise((resolve) => setTimeout(resolve, 3000))
    child.kill('SIGINT')
    const result = await child
    expect(result.exitCode).toBe(130)
    expect(String(result.stderr)).toContain('Operation cancelled')
  })
})

const ESC = String.fromCharCode(27)

describe('output contract', () => {
  it('colour only when asked for, and never with NO_COLOR', async () => {
    const outside = await sandbox.run(['domains', 'list'], { env: { NO_COLOR: undefined, FORCE_COLOR: '1' } })
    expect(outside.stderr).toContain(`${ESC}[31m`)
    const noColor = await sandbox.run(['domains', 'list'], { env: { NO_COLOR: '1', FORCE_COLOR: '1' } })
    expect(noColor.stderr).not.toContain(ESC)
    expect(noColor.stderr).toContain('PROJECT_NOT_FOUND')
  })

  it('--json keeps stdout to one JSON document for every kind of result', async () => {
    const init = await sandbox.run(['init', 'json-app', '--template', 'stripe', '--yes', '--json'])
    const app = `${sandbox.dir}/json-app`
    const runs = [
      init,
      await sandbox.run(['domains', 'add', 'api.partner.io', '--json'], { cwd: app }),
      await sandbox.run(['domains', 'list', '--json'], { cwd: app }),
      await sandbox.run(['domains', 'remove', 'api.partner.io', '--json'], { cwd: app }),
      await sandbox.run(['secrets', 'set', 'STRIPE_SECRET_KEY', '--json'], {
        cwd: app,
        input: 'sk_test_123456',
      }),
      await sandbox.run(['secrets', 'list', '--json'], { cwd: app }),
      await sandbox.run(['secrets', 'remove', 'STRIPE_SECRET_KEY', '--json'], { cwd: app }),
      await sandbox.run(['functions', 'new', 'chat', '--template', 'openai', '--json'], { cwd: app }),
      await sandbox.run(['secrets', 'remove', 'NOPE', '--json'], { cwd: app }),
    ]
    for (const result of runs) {
      expect(() => JSON.parse(result.stdout)).not.toThrow()
      expect(result.stdout).not.toContain(ESC)
    }
    expect(runs.at(-1)!.json<{ error: { code: string } }>().error.code).toBe('SECRET_NOT_FOUND')
  })
})

describe('bin/dev.js', () => {
  it('runs the TypeScript sources without a build', async () => {
    const { execa } = await import('execa')
    const { ROOT } = await import('../helpers/cli.js')
    const result = await execa(
      process.execPath,
      [`${ROOT}bin/dev.js`, 'domains', 'add', 'api.example.com', '--json'],
      {
        cwd: sandbox.dir,
        env: sandbox.env,
        reject: false,
      },
    )
    // Outside a project: the command ran from the sources and answered with its own error.
    expect(result.exitCode).toBe(1)
    expect(JSON.parse(String(result.stdout))).toMatchObject({ error: { code: 'PROJECT_NOT_FOUND' } })
  }, 30000)
})
