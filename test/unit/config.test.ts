import { readdir } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { applyJsonEdits } from '../../src/project/edit.js'
import { formatJsonPath, parseProjectConfig } from '../../src/project/load.js'
import { secretReferences } from '../../src/project/schema.js'
import { toJsonSchema } from '../../src/project/schema-file.js'
import { BUILTIN_TEMPLATES, TEMPLATES_DIR, loadAllTemplates } from '../../src/project/templates.js'
import { ConfigError, type ConfigProblem } from '../../src/shared/errors.js'

const VALID = {
  $schema: '.centrali/centrali.schema.json',
  functions: { 'openai-proxy': { entry: 'functions/openai-proxy.ts' } },
  triggers: {
    'openai-chat': {
      type: 'endpoint',
      function: 'openai-proxy',
      params: {
        openaiKey: { secret: 'OPENAI_API_KEY' },
        model: 'gpt-4o-mini',
        retries: 2,
        verbose: false,
        extra: null,
      },
      timeoutMs: 30000,
      memoryMb: 128,
      cors: { origins: ['http://localhost:5173'], headers: ['x-app'], credentials: true, maxAgeSeconds: 600 },
    },
  },
  domains: ['api.openai.com', '*.stripe.com', 'api.partner.io:8443'],
  targets: {
    default: { type: 'runtime', url: 'http://127.0.0.1:8788' },
    edge: {
      type: 'cloudflare',
      name: 'my-worker',
      accountIdEnv: 'CF_ACCOUNT',
      compatibilityDate: '2026-01-01',
    },
  },
  dev: { port: 8787, map: { 'api.openai.com': 'http://127.0.0.1:9000' } },
}

function problemsOf(text: string): ConfigProblem[] {
  try {
    parseProjectConfig(text, 'centrali.json')
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return [...(error as ConfigError).problems]
  }
  throw new Error('expected the config to be refused')
}

const withTrigger = (trigger: Record<string, unknown>) =>
  JSON.stringify(
    { ...VALID, triggers: { t: { type: 'endpoint', function: 'openai-proxy', ...trigger } } },
    null,
    2,
  )

describe('centrali.json schema', () => {
  it('accepts the full example from the design', () => {
    const { config, warnings } = parseProjectConfig(JSON.stringify(VALID), 'centrali.json')
    expect(warnings).toEqual([])
    expect(config.triggers['openai-chat']?.timeoutMs).toBe(30000)
    expect(secretReferences(config)).toEqual([
      { secret: 'OPENAI_API_KEY', trigger: 'openai-chat', param: 'openaiKey' },
    ])
  })

  it('fills defaults for an empty project', () => {
    expect(parseProjectConfig('{}', 'centrali.json').config).toEqual({
      functions: {},
      triggers: {},
      domains: [],
    })
  })

  it('accepts comments and trailing commas', () => {
    const { config } = parseProjectConfig(
      '{\n  // note\n  "domains": ["api.openai.com",],\n}',
      'centrali.json',
    )
    expect(config.domains).toEqual(['api.openai.com'])
  })

  it.each([
    [{ timeoutMs: 300001 }, 'triggers.t.timeoutMs', 'at most 300000'],
    [{ timeoutMs: 0 }, 'triggers.t.timeoutMs', 'at least 1'],
    [{ timeoutMs: 1.5 }, 'triggers.t.timeoutMs', 'whole number'],
    [{ timeoutMs: '30s' }, 'triggers.t.timeoutMs', 'whole number'],
    [{ memoryMb: 8 }, 'triggers.t.memoryMb', 'at least 16'],
    [{ function: 'nope' }, 'triggers.t.function', 'no function named "nope" (known: openai-proxy)'],
    [{ type: 'cron' }, 'triggers.t.type', '"endpoint"'],
    [{ params: { key: { secret: 'lower' } } }, 'triggers.t.params.key.secret', 'capital letters'],
    [{ params: { key: { secret: '1ABC' } } }, 'triggers.t.params.key.secret', 'capital letters'],
    [
      { params: { key: [1, 2] } },
      'triggers.t.params.key',
      'string, number, boolean, null or { "secret": "NAME" }',
    ],
    [{ cors: { origins: 'http://x' } }, 'triggers.t.cors.origins', 'expected array'],
  ])('refuses trigger %j at %s', (trigger, path, message) => {
    const problems = problemsOf(withTrigger(trigger))
    expect(problems).toContainEqual(
      expect.objectContaining({ path, message: expect.stringContaining(message) }),
    )
  })

  it('refuses "*" among the origins of a trigger that allows credentials, at its cors', () => {
    for (const origins of [['*'], ['http://localhost:5173', '*']]) {
      const text = withTrigger({ cors: { origins, credentials: true } })
      const problems = problemsOf(text)
      expect(problems, origins.join()).toEqual([
        expect.objectContaining({
          file: 'centrali.json',
          path: 'triggers.t.cors',
          message: expect.stringContaining(
            'expected the origins listed explicitly when "credentials" is true',
          ),
        }),
      ])
      const lineText = text.split('\n')[problems[0]!.line! - 1]!
      expect(lineText.slice(problems[0]!.column! - 1)).toMatch(/^"cors"/)
    }
    // "*" without credentials, and credentials with named origins, are fine.
    for (const cors of [{ origins: ['*'] }, { origins: ['*'], credentials: false }]) {
      expect(() => parseProjectConfig(withTrigger({ cors }), 'centrali.json')).not.toThrow()
    }
  })

  it('refuses bad names, domains and targets with their paths', () => {
    const problems = problemsOf(
      JSON.stringify({
        functions: { 'Bad Name': { entry: 'x.ts' }, ok: {} },
        domains: ['*', 'localhost', 42],
        targets: { prod: { type: 'ftp' }, local: { type: 'runtime', url: 'not a url' } },
      }),
    )
    const paths = problems.map((problem) => problem.path)
    expect(paths).toEqual(
      expect.arrayContaining([
        'functions["Bad Name"]',
        'functions.ok.entry',
        'domains[0]',
        'domains[1]',
        'domains[2]',
        'targets.prod.type',
        'targets.local.url',
      ]),
    )
    expect(problems.find((problem) => problem.path === 'functions.ok.entry')?.message).toBe(
      'missing: expected the path of the function file, such as "functions/proxy.ts"',
    )
    expect(problems.find((problem) => problem.path === 'domains[1]')?.message).toContain('localhost')
  })

  it('reports every problem at once, each with line and column', () => {
    const text = withTrigger({ timeoutMs: 999999, function: 'nope' })
    const problems = problemsOf(text)
    expect(problems).toHaveLength(2)
    for (const problem of problems) {
      expect(problem.file).toBe('centrali.json')
      const lineText = text.split('\n')[problem.line! - 1]!
      expect(lineText.slice(problem.column! - 1)).toMatch(/^"(timeoutMs|function)"/)
    }
  })

  it('turns unknown keys into warnings and drops them', () => {
    const { config, warnings } = parseProjectConfig(
      JSON.stringify(
        {
          ...VALID,
          colour: 'blue',
          triggers: { t: { type: 'endpoint', function: 'openai-proxy', tiemoutMs: 5 } },
        },
        null,
        2,
      ),
      'centrali.json',
    )
    expect(warnings.map((warning) => warning.path)).toEqual(['triggers.t.tiemoutMs', 'colour'])
    expect(warnings.every((warning) => warning.line !== undefined)).toBe(true)
    expect(config.triggers.t).toEqual({ type: 'endpoint', function: 'openai-proxy' })
    expect(config).not.toHaveProperty('colour')
  })

  it('gives the line and column of a syntax error', () => {
    const problems = problemsOf('{\n  "domains": [\n    "a.com"\n    "b.com"\n  ]\n}')
    expect(problems[0]).toMatchObject({ line: 4, column: 5, message: 'JSON syntax error: expected ","' })
  })

  it('says a file cut short once, not again for each brace left open', () => {
    expect(problemsOf('{"functions":{"f":{"entry":"functions/f.ts"}')).toEqual([
      expect.objectContaining({ line: 1, column: 45, message: 'JSON syntax error: expected "}"' }),
    ])
    expect(problemsOf('{"functions": ')).toEqual([
      expect.objectContaining({ line: 1, column: 15, message: 'JSON syntax error: expected a value' }),
    ])
    // Two mistakes in different places are both said.
    expect(problemsOf('{\n  "domains": ["a.com" "b.com"],\n  "x": }').map((problem) => problem.line)).toEqual(
      [2, 3],
    )
  })

  it('refuses a file that is not an object', () => {
    expect(problemsOf('[]')[0]?.message).toContain('expected an object')
  })

  it('says an empty file is empty (an editor truncates before it writes), not that a value is expected at 1:1', () => {
    for (const text of ['', '  \n\t\n'])
      expect(problemsOf(text)).toEqual([
        {
          file: 'centrali.json',
          path: '',
          message: 'the file is empty; expected an object such as { "functions": {}, "triggers": {} }',
        },
      ])
  })

  it('formats JSON paths readably', () => {
    expect(formatJsonPath(['triggers', 'openai-chat', 'timeoutMs'])).toBe('triggers.openai-chat.timeoutMs')
    expect(formatJsonPath(['domains', 2])).toBe('domains[2]')
    expect(formatJsonPath(['functions', 'a.b'])).toBe('functions["a.b"]')
  })

  it('generates a JSON Schema editors can use, from the same schema', () => {
    const schema = toJsonSchema() as {
      $schema: string
      properties: Record<
        string,
        { additionalProperties?: { properties?: Record<string, { maximum?: number; description?: string }> } }
      >
      additionalProperties: boolean
    }
    expect(schema.$schema).toContain('draft-07')
    expect(schema.additionalProperties).toBe(false)
    const trigger = schema.properties.triggers?.additionalProperties?.properties
    expect(trigger?.timeoutMs?.maximum).toBe(300000)
    expect(trigger?.timeoutMs?.description).toContain('Time budget')
    expect(Object.keys(schema.properties)).toEqual([
      '$schema',
      'functions',
      'triggers',
      'domains',
      'targets',
      'dev',
    ])
  })
})

describe('templates', () => {
  it('the built-in list matches the templates folder, and each template is complete', async () => {
    const folders = (await readdir(TEMPLATES_DIR, { withFileTypes: true }))
      .filter((entry) => entry.isDirectory() && !entry.name.startsWith('_'))
      .map((entry) => entry.name)
      .sort()
    expect(folders).toEqual([...BUILTIN_TEMPLATES])
    for (const template of await loadAllTemplates()) {
      expect(template.source).toContain('export async function run()')
      const secretNames = Object.values(template.params).flatMap((value) =>
        typeof value === 'object' && value !== null ? [value.secret] : [],
      )
      expect(Object.keys(template.secrets)).toEqual(secretNames)
      // A template's function only calls hosts its own domains allow.
      for (const [, host] of template.source.matchAll(/https:\/\/([a-z0-9.-]+)/g))
        expect(template.domains).toContain(host)
    }
  })
})

describe('editing centrali.json', () => {
  const original =
    '{\n    // keep me\n    "functions": {},\n    "domains": [\n        "a.com" /* first */\n    ]\n}\n'

  it('appends after a trailing comment and keeps indentation', () => {
    const text = applyJsonEdits(original, [
      { append: 'domains', value: 'b.com' },
      { append: 'domains', value: 'c.com' },
    ])
    expect(text).toBe(
      '{\n    // keep me\n    "functions": {},\n    "domains": [\n        "a.com", /* first */\n        "b.com",\n        "c.com"\n    ]\n}\n',
    )
  })

  it('creates the array when missing, and sets nested values', () => {
    const text = applyJsonEdits('{\n  // c\n  "functions": {}\n}', [
      { append: 'domains', value: 'a.com' },
      { path: ['functions', 'x'], value: { entry: 'functions/x.ts' } },
    ])
    expect(text).toBe(
      '{\n  // c\n  "functions": {\n    "x": {\n      "entry": "functions/x.ts"\n    }\n  },\n  "domains": [\n    "a.com"\n  ]\n}',
    )
    expect(parseProjectConfig(text, 'centrali.json').config).toMatchObject({
      domains: ['a.com'],
      functions: { x: { entry: 'functions/x.ts' } },
    })
  })

  it('keeps CRLF line endings', () => {
    const text = applyJsonEdits(original.replaceAll('\n', '\r\n'), [{ append: 'domains', value: 'b.com' }])
    expect(text).toBe(
      '{\r\n    // keep me\r\n    "functions": {},\r\n    "domains": [\r\n        "a.com", /* first */\r\n        "b.com"\r\n    ]\r\n}\r\n',
    )
  })
})
