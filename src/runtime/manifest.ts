import * as z from 'zod/mini'
import { parseStoredDomainEntry } from '../egress/domain-entry.js'
import { formatJsonPath } from '../project/load.js'
import { NAME_PATTERN, triggerSchema } from '../project/schema.js'
import { ApiError } from './errors.js'
import type { Manifest, UploadRequest } from './protocol.js'

/**
 * Validation of what `centrali deploy` uploads: the same trigger and domain rules as `centrali.json`
 * (one schema for both), bundles named by a SHA-256, and every trigger pointing at a function of the
 * manifest. A refusal names the JSON path of each problem.
 */
export const BUNDLE_HASH_PATTERN = /^[0-9a-f]{64}$/

const bundleHash = z
  .string()
  .check(
    z.regex(BUNDLE_HASH_PATTERN, { error: 'expected the SHA-256 of a bundle (64 lowercase hex digits)' }),
  )

const name = (what: string) =>
  z.string().check(
    z.regex(NAME_PATTERN, {
      error: `expected a ${what} name of lowercase letters, digits, "-" or "_" (at most 63)`,
    }),
  )

const domainEntry = z.string().check(
  z.superRefine((value, context) => {
    const parsed = parseStoredDomainEntry(value)
    if (!parsed.ok) context.addIssue({ code: 'custom', message: parsed.reason })
  }),
)

const manifestSchema = z
  .strictObject({
    functions: z.record(
      name('function'),
      z.strictObject({ bundle: bundleHash, size: z.int().check(z.minimum(0)) }),
    ),
    triggers: z.record(name('trigger'), triggerSchema),
    domains: z.array(domainEntry),
  })
  .check(
    z.superRefine((manifest, context) => {
      for (const [triggerName, trigger] of Object.entries(manifest.triggers)) {
        if (!Object.hasOwn(manifest.functions, trigger.function)) {
          context.addIssue({
            code: 'custom',
            path: ['triggers', triggerName, 'function'],
            message: `no function named "${trigger.function}" in manifest.functions`,
          })
        }
      }
    }),
  )

const uploadSchema = z.strictObject({
  manifest: manifestSchema,
  bundles: z.record(bundleHash, z.string()),
  sourceMaps: z.optional(z.record(bundleHash, z.string())),
})

/** Checks an upload's shape; throws 400 BAD_REQUEST listing each problem with its JSON path. */
export function parseUploadRequest(body: unknown): UploadRequest {
  const result = uploadSchema.safeParse(body)
  if (!result.success) {
    const problems = result.error.issues.flatMap(describeIssue).slice(0, 20)
    throw new ApiError(
      400,
      'BAD_REQUEST',
      `The upload is not valid: ${problems.map(({ path, message }) => (path === '' ? message : `${path}: ${message}`)).join('; ')}.`,
      'Deploy with `centrali deploy`, which builds the manifest from centrali.json.',
    )
  }
  const upload = result.data
  // Stored in their normal form, as centrali.json's are: the egress guard compares against it.
  upload.manifest.domains = upload.manifest.domains.map((entry) => {
    const parsed = parseStoredDomainEntry(entry)
    return parsed.ok ? parsed.text : entry
  })
  return upload
}

/** A manifest read back from a version file: the same rules, so a hand-edited file is caught. */
export function parseStoredManifest(data: unknown): Manifest | undefined {
  const result = manifestSchema.safeParse(data)
  return result.success ? result.data : undefined
}

function describeIssue(issue: z.core.$ZodIssue): { path: string; message: string }[] {
  if (issue.code === 'invalid_key') {
    return issue.issues.map((inner) => ({
      path: formatJsonPath(issue.path),
      message: `invalid key: ${inner.message}`,
    }))
  }
  if (
    issue.code === 'invalid_union' &&
    issue.errors.length > 0 &&
    issue.message.startsWith('Invalid input')
  ) {
    // Every branch failed, with no message of its own: the closest branch's problems say the most.
    const closest = issue.errors.reduce((best, errors) => (errors.length < best.length ? errors : best))
    return closest.flatMap((inner) => describeIssue({ ...inner, path: [...issue.path, ...inner.path] }))
  }
  const message =
    issue.code === 'invalid_type' && issue.input === undefined
      ? `missing: expected ${issue.expected}`
      : issue.message
  return [{ path: formatJsonPath(issue.path), message }]
}
