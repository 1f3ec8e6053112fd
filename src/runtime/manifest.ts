import * as z from 'zod/mini'
import { describeIssue, formatJsonPath, normalDomainEntries } from '../project/load.js'
import {
  CREDENTIALED_WILDCARD_MESSAGE,
  domainSchema,
  NAME_PATTERN,
  triggerSchema,
  triggersWithCredentialedWildcard,
} from '../project/schema.js'
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

const manifestSchema = z
  .strictObject({
    functions: z.record(
      name('function'),
      z.strictObject({ bundle: bundleHash, size: z.int().check(z.minimum(0)) }),
    ),
    triggers: z.record(name('trigger'), triggerSchema),
    domains: z.array(domainSchema),
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

const uploadSchema = z
  .strictObject({
    manifest: manifestSchema,
    bundles: z.record(bundleHash, z.string()),
    sourceMaps: z.optional(z.record(bundleHash, z.string())),
  })
  .check(
    // Here rather than in manifestSchema: a version stored before this rule keeps loading (decideCors
    // gives its "*" no credentials), while a new upload is held to centrali.json's rule.
    z.superRefine((upload, context) => {
      for (const triggerName of triggersWithCredentialedWildcard(upload.manifest.triggers)) {
        context.addIssue({
          code: 'custom',
          path: ['manifest', 'triggers', triggerName, 'cors'],
          message: CREDENTIALED_WILDCARD_MESSAGE,
        })
      }
    }),
  )

/** Checks an upload's shape; throws 400 BAD_REQUEST listing each problem with its JSON path. */
export function parseUploadRequest(body: unknown): UploadRequest {
  const result = uploadSchema.safeParse(body)
  if (!result.success) {
    const problems = result.error.issues
      .flatMap((issue) => describeIssue(issue))
      .slice(0, 20)
      .map(({ path, message }) => ({ path: formatJsonPath(path), message }))
    throw new ApiError(
      400,
      'BAD_REQUEST',
      `The upload is not valid: ${problems.map(({ path, message }) => (path === '' ? message : `${path}: ${message}`)).join('; ')}.`,
      'Deploy with `centrali deploy`, which builds the manifest from centrali.json.',
    )
  }
  const upload = result.data
  // Stored in their normal form, as centrali.json's are: the egress guard compares against it.
  upload.manifest.domains = normalDomainEntries(upload.manifest.domains)
  return upload
}

/** A manifest read back from a version file: the same rules, so a hand-edited file is caught. */
export function parseStoredManifest(data: unknown): Manifest | undefined {
  const result = manifestSchema.safeParse(data)
  return result.success ? result.data : undefined
}
