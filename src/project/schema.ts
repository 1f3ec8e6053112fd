import { z } from 'zod'
import { parseStoredDomainEntry } from '../egress/domain-entry.js'
import { SECRET_NAME_PATTERN } from '../secrets/store.js'

/**
 * The one truth about `centrali.json`: TypeScript types, runtime validation, error messages and the
 * published JSON Schema (scripts/build-assets.js) all come from here. Objects are strict so the
 * JSON Schema tells editors about misspelt keys; the loader turns unknown keys into warnings.
 */

export const NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/
export const MAX_TIMEOUT_MS = 300_000
export const DEFAULT_TIMEOUT_MS = 30_000
export const DEFAULT_MEMORY_MB = 128

const name = (what: string) =>
  z.string().regex(NAME_PATTERN, {
    error: `expected a ${what} name of lowercase letters, digits, "-" or "_" (at most 63, starting with a letter or digit)`,
  })

export const secretNameSchema = z.string().regex(SECRET_NAME_PATTERN, {
  error:
    'expected a secret name of capital letters, digits and "_" that does not start with a digit, such as OPENAI_API_KEY',
})

export const secretRefSchema = z
  .strictObject({ secret: secretNameSchema })
  .describe('A secret from the encrypted store, decrypted only for the invocation that needs it.')

export const paramValueSchema = z.union([z.string(), z.number(), z.boolean(), z.null(), secretRefSchema], {
  error: 'expected a string, number, boolean, null or { "secret": "NAME" }',
})

const corsSchema = z
  .strictObject({
    origins: z
      .array(z.string().min(1))
      .describe(
        'Origins allowed to call the endpoint from a browser, such as "http://localhost:5173", or "*".',
      ),
    headers: z.array(z.string().min(1)).optional().describe('Request headers a browser may send.'),
    credentials: z.boolean().optional().describe('Allow cookies and HTTP auth from the browser.'),
    maxAgeSeconds: z
      .int()
      .min(0)
      .max(86_400)
      .optional()
      .describe('How long a browser may cache a preflight.'),
  })
  .describe('Cross-origin access for browsers.')

export const triggerSchema = z.strictObject({
  type: z.literal('endpoint', { error: 'expected "endpoint"' }),
  function: z.string({ error: 'expected the name of a function in "functions"' }),
  params: z
    .record(z.string().min(1), paramValueSchema)
    .optional()
    .describe('Static values and secret references handed to the function as triggerParams.'),
  timeoutMs: z
    .int({ error: 'expected a whole number of milliseconds' })
    .min(1, { error: 'expected at least 1 ms' })
    .max(MAX_TIMEOUT_MS, { error: `expected at most ${MAX_TIMEOUT_MS} ms (5 minutes)` })
    .optional()
    .describe(`Time budget for one invocation, outbound calls included (default ${DEFAULT_TIMEOUT_MS}).`),
  memoryMb: z
    .int({ error: 'expected a whole number of MiB' })
    .min(16, { error: 'expected at least 16 MiB' })
    .max(4096, { error: 'expected at most 4096 MiB' })
    .optional()
    .describe(`Heap limit of the sandbox worker (default ${DEFAULT_MEMORY_MB}).`),
  cors: corsSchema.optional(),
})

const functionSchema = z.strictObject({
  entry: z
    .string({ error: 'expected the path of the function file, such as "functions/proxy.ts"' })
    .min(1)
    .describe('Path of the function file, relative to centrali.json.'),
})

const runtimeTargetSchema = z.strictObject({
  type: z.literal('runtime'),
  url: z.url({ error: 'expected the URL of a centrali runtime, such as "http://127.0.0.1:8788"' }),
  tokenEnv: z
    .string()
    .optional()
    .describe('Environment variable holding the deploy token (default CENTRALI_TOKEN).'),
})

const cloudflareTargetSchema = z.strictObject({
  type: z.literal('cloudflare'),
  name: z.string().min(1).describe('Worker name.'),
  accountIdEnv: z.string().optional(),
  compatibilityDate: z.string().optional(),
})

const targetSchema = z.discriminatedUnion('type', [runtimeTargetSchema, cloudflareTargetSchema], {
  error: 'expected a target with "type": "runtime" or "cloudflare"',
})

const domainSchema = z.string().superRefine((value, context) => {
  const result = parseStoredDomainEntry(value)
  if (!result.ok)
    context.addIssue({ code: 'custom', message: `${result.reason} (see \`centrali domains add\`)` })
})

const devSchema = z.strictObject({
  port: z.int().min(0).max(65_535).optional(),
  map: z
    .record(z.string().min(1), z.url({ error: 'expected an origin such as "http://127.0.0.1:9000"' }))
    .optional()
    .describe(
      'Send calls for a host to a local origin, for tests and staging: { "api.openai.com": "http://127.0.0.1:9000" }',
    ),
})

export const projectConfigSchema = z
  .strictObject({
    $schema: z.string().optional(),
    functions: z.record(name('function'), functionSchema).default({}),
    triggers: z.record(name('trigger'), triggerSchema).default({}),
    domains: z
      .array(domainSchema)
      .default([])
      .describe('Hosts functions may call: "api.openai.com", "*.stripe.com".'),
    targets: z.record(name('target'), targetSchema).optional(),
    dev: devSchema.optional(),
  })
  .superRefine((config, context) => {
    for (const [triggerName, trigger] of Object.entries(config.triggers)) {
      if (!(trigger.function in config.functions)) {
        const known = Object.keys(config.functions)
        context.addIssue({
          code: 'custom',
          path: ['triggers', triggerName, 'function'],
          message: `no function named "${trigger.function}" (${known.length === 0 ? 'no functions are defined' : `known: ${known.join(', ')}`})`,
        })
      }
    }
  })

export type ProjectConfig = z.output<typeof projectConfigSchema>
export type TriggerConfig = z.output<typeof triggerSchema>
export type ParamValue = z.output<typeof paramValueSchema>
export type SecretRef = z.output<typeof secretRefSchema>

export function isSecretRef(value: ParamValue): value is SecretRef {
  return typeof value === 'object' && value !== null
}

/** Every secret a trigger refers to, with the param that refers to it. */
export function secretReferences(
  config: ProjectConfig,
): { secret: string; trigger: string; param: string }[] {
  const references: { secret: string; trigger: string; param: string }[] = []
  for (const [trigger, { params = {} }] of Object.entries(config.triggers)) {
    for (const [param, value] of Object.entries(params)) {
      if (isSecretRef(value)) references.push({ secret: value.secret, trigger, param })
    }
  }
  return references
}

export function toJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(projectConfigSchema, { target: 'draft-7', io: 'input' }),
    title: 'centrali.json',
    description: 'A centrali project: functions, endpoint triggers, allowed domains and deploy targets.',
  }
}
