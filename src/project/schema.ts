import * as z from 'zod/mini'
import { en } from 'zod/locales'
import { parseStoredDomainEntry } from '../egress/domain-entry.js'
import { MAX_SECRET_NAME_LENGTH, SECRET_NAME_PATTERN } from '../secrets/names.js'

/**
 * The one truth about `centrali.json`: TypeScript types, runtime validation, error messages and the
 * published JSON Schema (written by the build) all come from here. Objects are strict so the JSON
 * Schema tells editors about misspelt keys; the loader turns unknown keys into warnings.
 * `zod/mini` because it tree-shakes: the full zod adds ~100 ms to every command's cold start.
 */
z.config(en())

export const NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/
export const MAX_TIMEOUT_MS = 300_000
export const DEFAULT_TIMEOUT_MS = 30_000
export const DEFAULT_MEMORY_MB = 128

const described = <T extends z.ZodMiniType>(schema: T, description: string): T =>
  schema.check(z.describe(description)) as T

const name = (what: string) =>
  z.string().check(
    z.regex(NAME_PATTERN, {
      error: `expected a ${what} name of lowercase letters, digits, "-" or "_" (at most 63, starting with a letter or digit)`,
    }),
  )

export const secretNameSchema = z.string().check(
  z.regex(SECRET_NAME_PATTERN, {
    error: `expected a secret name of capital letters, digits and "_" that does not start with a digit (at most ${MAX_SECRET_NAME_LENGTH}), such as OPENAI_API_KEY`,
  }),
)

export const secretRefSchema = described(
  z.strictObject({ secret: secretNameSchema }),
  'A secret from the encrypted store, decrypted only for the invocation that needs it.',
)

export const paramValueSchema = z.union([z.string(), z.number(), z.boolean(), z.null(), secretRefSchema], {
  error: 'expected a string, number, boolean, null or { "secret": "NAME" }',
})

const wholeNumber = (unit: string, min: number, max: number, maxLabel = `${max} ${unit}`) =>
  z
    .int({ error: `expected a whole number of ${unit}` })
    .check(
      z.minimum(min, { error: `expected at least ${min} ${unit}` }),
      z.maximum(max, { error: `expected at most ${maxLabel}` }),
    )

const corsSchema = described(
  z.strictObject({
    origins: described(
      z.array(z.string().check(z.minLength(1))),
      'Origins allowed to call the endpoint from a browser, such as "http://localhost:5173", or "*".',
    ),
    headers: z.optional(
      described(z.array(z.string().check(z.minLength(1))), 'Request headers a browser may send.'),
    ),
    credentials: z.optional(described(z.boolean(), 'Allow cookies and HTTP auth from the browser.')),
    maxAgeSeconds: z.optional(
      described(wholeNumber('seconds', 0, 86_400), 'How long a browser may cache a preflight.'),
    ),
  }),
  'Cross-origin access for browsers.',
)

export const triggerSchema = z.strictObject({
  type: z.literal('endpoint', { error: 'expected "endpoint"' }),
  function: z.string({ error: 'expected the name of a function in "functions"' }),
  params: z.optional(
    described(
      z.record(z.string().check(z.minLength(1)), paramValueSchema),
      'Static values and secret references handed to the function as triggerParams.',
    ),
  ),
  timeoutMs: z.optional(
    described(
      wholeNumber('ms', 1, MAX_TIMEOUT_MS, `${MAX_TIMEOUT_MS} ms (5 minutes)`),
      `Time budget for one invocation, outbound calls included (default ${DEFAULT_TIMEOUT_MS}).`,
    ),
  ),
  memoryMb: z.optional(
    described(
      wholeNumber('MiB', 16, 4096),
      `Heap limit of the sandbox worker (default ${DEFAULT_MEMORY_MB}).`,
    ),
  ),
  cors: z.optional(corsSchema),
  examplePayload: z.optional(
    described(
      z.json(),
      "A payload to try the endpoint with: the curl that `centrali dev` prints, the dev console's form, and `centrali invoke` given no payload send it. Not deployed.",
    ),
  ),
})

const functionSchema = z.strictObject({
  entry: described(
    z
      .string({ error: 'expected the path of the function file, such as "functions/proxy.ts"' })
      .check(z.minLength(1)),
    'Path of the function file, relative to centrali.json.',
  ),
})

const runtimeTargetSchema = z.strictObject({
  type: z.literal('runtime'),
  url: z.url({ error: 'expected the URL of a centrali runtime, such as "http://127.0.0.1:8788"' }),
  tokenEnv: z.optional(
    described(z.string(), 'Environment variable holding the deploy token (default CENTRALI_TOKEN).'),
  ),
})

const cloudflareTargetSchema = z.strictObject({
  type: z.literal('cloudflare'),
  name: described(z.string().check(z.minLength(1)), 'Worker name.'),
  accountIdEnv: z.optional(z.string()),
  compatibilityDate: z.optional(z.string()),
})

const targetSchema = z.discriminatedUnion('type', [runtimeTargetSchema, cloudflareTargetSchema], {
  error: 'expected a target with "type": "runtime" or "cloudflare"',
})

export const domainSchema = z.string().check(
  z.superRefine((value, context) => {
    const result = parseStoredDomainEntry(value)
    if (!result.ok)
      context.addIssue({ code: 'custom', message: `${result.reason} (see \`centrali domains add\`)` })
  }),
)

const devSchema = z.strictObject({
  port: z.optional(wholeNumber('port', 0, 65_535)),
  map: z.optional(
    described(
      z.record(
        z.string().check(z.minLength(1)),
        z.url({ error: 'expected an origin such as "http://127.0.0.1:9000"' }),
      ),
      'Send calls for a host to a local origin, for tests and staging: { "api.openai.com": "http://127.0.0.1:9000" }',
    ),
  ),
})

export const projectConfigSchema = z
  .strictObject({
    $schema: z.optional(z.string()),
    functions: z._default(z.record(name('function'), functionSchema), {}),
    triggers: z._default(z.record(name('trigger'), triggerSchema), {}),
    domains: z._default(
      described(z.array(domainSchema), 'Hosts functions may call: "api.openai.com", "*.stripe.com".'),
      [],
    ),
    targets: z.optional(z.record(name('target'), targetSchema)),
    dev: z.optional(devSchema),
  })
  .check(
    z.superRefine((config, context) => {
      for (const [triggerName, trigger] of Object.entries(config.triggers)) {
        if (!Object.hasOwn(config.functions, trigger.function)) {
          const known = Object.keys(config.functions)
          context.addIssue({
            code: 'custom',
            path: ['triggers', triggerName, 'function'],
            message: `no function named "${trigger.function}" (${known.length === 0 ? 'no functions are defined' : `known: ${known.join(', ')}`})`,
          })
        }
      }
      for (const triggerName of triggersWithCredentialedWildcard(config.triggers)) {
        context.addIssue({
          code: 'custom',
          path: ['triggers', triggerName, 'cors'],
          message: CREDENTIALED_WILDCARD_MESSAGE,
        })
      }
    }),
  )

/**
 * `"origins": ["*"]` with `"credentials": true` would reflect any origin with allow-credentials:
 * every site could make credentialed requests and read the answers. Refused wherever triggers come
 * in (centrali.json, an upload to `serve`); `decideCors` never gives "*" credentials either.
 */
export const CREDENTIALED_WILDCARD_MESSAGE =
  'expected the origins listed explicitly when "credentials" is true ("*" with credentials would let any site make credentialed requests and read the answers)'

export function triggersWithCredentialedWildcard(triggers: Record<string, TriggerConfig>): string[] {
  return Object.entries(triggers)
    .filter(([, { cors }]) => cors?.credentials === true && cors.origins.includes('*'))
    .map(([triggerName]) => triggerName)
}

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
