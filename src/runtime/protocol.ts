import type { TriggerConfig } from '../project/schema.js'

/**
 * The deploy API of `centrali serve` (DESIGN §8), spoken by `centrali deploy`, `versions`,
 * `rollback` and `secrets push`. JSON over HTTP under `/v1`; every request carries
 * `Authorization: Bearer <token>`. Errors are the HTTP contract's `{ "error": { code, message } }`.
 *
 *   POST   /v1/deployments             UploadRequest → 201 { version: VersionInfo } (not active yet)
 *   GET    /v1/versions                → { active: string | null, versions: VersionInfo[] } (newest first)
 *   POST   /v1/versions/<id>/activate  → { active: string, previous: string | null }
 *   GET    /v1/manifest                → { version: VersionInfo, manifest: Manifest }; 404 NO_ACTIVE_VERSION
 *   GET    /v1/secrets                 → { secrets: { name: string; updatedAt: string }[] } (names only)
 *   PUT    /v1/secrets/<NAME>          { value: string } → { name, updatedAt }
 *   DELETE /v1/secrets/<NAME>          → { name, deleted: true }; 404 SECRET_NOT_FOUND
 *
 * Error codes: UNAUTHORIZED (401), NOT_FOUND (404), VERSION_NOT_FOUND (404), NO_ACTIVE_VERSION (404),
 * BAD_REQUEST / BAD_JSON (400), BUNDLE_HASH_MISMATCH (400), BUNDLE_MISSING (400),
 * VERSION_UNREADABLE (409: a bundle of it is missing or corrupted on disk), PAYLOAD_TOO_LARGE (413).
 */
export const API_PREFIX = '/v1'

/** What a version runs: the deployable part of centrali.json, with bundles named by their SHA-256. */
export interface Manifest {
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
