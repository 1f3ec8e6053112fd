import type { TriggerConfig } from '../project/schema.js'

/**
 * The deploy API of `centrali serve` (DESIGN §8), spoken by `centrali deploy`, `versions`,
 * `rollback` and `secrets push`. JSON over HTTP under `/v1`; every request carries
 * `Authorization: Bearer <token>`. Errors are the HTTP contract's `{ "error": { code, message } }`.
 *
 *   POST   /v1/deployments             UploadRequest → 201 { version: VersionInfo } (not active yet)
 *   GET    /v1/versions                → VersionList
 *   POST   /v1/versions/<id>/activate  [ActivateRequest] → { active: string, previous: string | null }
 *   GET    /v1/manifest                → { version: VersionInfo, manifest: Manifest }; 404 NO_ACTIVE_VERSION
 *   GET    /v1/secrets                 → { secrets: { name: string; updatedAt: string }[] } (names only)
 *   PUT    /v1/secrets/<NAME>          { value: string } → { name, updatedAt }
 *   DELETE /v1/secrets/<NAME>          → { name, deleted: true }; 404 SECRET_NOT_FOUND
 *
 * Activation loads every function in the sandbox before it switches: code that does not load is
 * refused (422) and the active version keeps serving. Secret names are at most 128 characters.
 *
 * Error codes: UNAUTHORIZED (401), NOT_FOUND (404), VERSION_NOT_FOUND (404), NO_ACTIVE_VERSION (404),
 * BAD_REQUEST / BAD_JSON (400; BAD_JSON says where the body stops being JSON, never its text),
 * BUNDLE_HASH_MISMATCH (400), BUNDLE_MISSING (400), VERSION_UNREADABLE (409: a bundle of it is
 * missing or corrupted on disk), ACTIVE_CHANGED (409: `expectedActive` is not what serves now; the
 * message names what does), VERSION_CANNOT_LOAD (422: a function of it does not load in the sandbox;
 * the message names it and says why), PAYLOAD_TOO_LARGE (413).
 */
export const API_PREFIX = '/v1'

/** What a version runs: the deployable part of centrali.json, with bundles named by their SHA-256. */
export interface Manifest {
  /** `size`: the bundle's bytes. The server sets it from the stored bundle; what a client sends is ignored. */
  functions: Record<string, { bundle: string; size: number }>
  /** As in centrali.json: params keep their `{ "secret": NAME }` refs; values live on the server. */
  triggers: Record<string, TriggerConfig>
  domains: string[]
}

export interface UploadRequest {
  manifest: Manifest
  /** SHA-256 (hex, of the UTF-8 bytes) → bundle text. The server verifies every hash. */
  bundles: Record<string, string>
  /** Optional source maps, by the same hash: stored beside the bundle, never served. */
  sourceMaps?: Record<string, string>
}

export interface VersionList {
  /** The version serving now; null before the first activation (or when it cannot run). */
  active: string | null
  /** The version active before the current one (what `centrali rollback` goes back to); null if none. */
  previous: string | null
  /** Newest first. */
  versions: VersionInfo[]
}

/**
 * The optional JSON body of an activation. With `expectedActive` (a version id, or null for "none"),
 * the server activates only if that is what serves now, else answers 409 ACTIVE_CHANGED: two
 * deploys planned against the same version cannot both switch to theirs unseen.
 */
export interface ActivateRequest {
  expectedActive?: string | null
}

export interface VersionInfo {
  /** `v1`, `v2`, …: assigned by the server in upload order. */
  id: string
  createdAt: string
  /** Total bundle bytes. */
  size: number
  functions: string[]
  triggers: string[]
  active: boolean
}

/** The largest deploy API request body (bundles included). */
export const MAX_UPLOAD_BYTES = 50 * 1024 * 1024

/** How long an upload may take: the client waits this long, and the server gives a request as long. */
export const UPLOAD_TIMEOUT_MS = 300_000
