import { sha256Hex } from '../shared/hash.js'
import { mkdir, readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createFileExclusive, FileExistsError, writeFileAtomic } from '../shared/atomic-write.js'
import { CentraliError } from '../shared/errors.js'
import { ApiError } from './errors.js'
import { createSerialQueue, readTextIfExists, removeTemporaryFiles, type SerialQueue } from './files.js'
import { parseStoredManifest, parseUploadRequest } from './manifest.js'
import type { Manifest } from './protocol.js'

/**
 * The deployments of `centrali serve`, as plain files in the data dir:
 *
 *   bundles/<sha256>.js       a function's bundle, named by the SHA-256 of its bytes (shared by versions)
 *   bundles/<sha256>.js.map   its source map, if the upload had one (kept, never served)
 *   versions/v<N>.json        one immutable version: its manifest, when it was made, its size
 *   active.json               which version serves: the one pointer that activation replaces
 *
 * Every file lands whole (temporary file, fsync, then link or rename), so a crash leaves the files
 * as they were before the write or after it; the temporary files it leaves are never read.
 * Uploads run one at a time: ids are assigned in order and never reused.
 */
export const BUNDLES_DIR = 'bundles'
export const VERSIONS_DIR = 'versions'
export const ACTIVE_FILE = 'active.json'

const FORMAT = 1
const VERSION_FILE = /^v([1-9]\d{0,8})\.json$/

/**
 * Named points where a test may stop the server (see `CENTRALI_RUNTIME_TEST_PAUSE` in server.ts) to
 * kill it mid-write: after an upload's bundles are written, once its version file is written under
 * its temporary name, and just before `active.json` is replaced.
 */
export type TestPausePoint = 'upload-bundles' | 'upload-version' | 'activate-pointer'
export const TEST_PAUSE_POINTS: readonly TestPausePoint[] = [
  'upload-bundles',
  'upload-version',
  'activate-pointer',
]

export interface StoredVersion {
  id: string
  createdAt: string
  /** Bytes of its distinct bundles. */
  size: number
  manifest: Manifest
}

/** A version whose every bundle was read from disk and matched its hash: what a server can run. */
export interface VerifiedVersion extends StoredVersion {
  /** SHA-256 → bundle text. */
  bundles: ReadonlyMap<string, string>
}

export interface ActivePointer {
  version: string
  previous: string | null
  activatedAt: string
}

export interface DeploymentStoreOptions {
  dataDir: string
  pause?: (point: TestPausePoint) => Promise<void>
}

export class DeploymentStore {
  private readonly versions = new Map<string, StoredVersion>()
  private nextNumber = 1
  private readonly serial: SerialQueue = createSerialQueue()
  /** Version files that could not be read at start-up (their ids stay taken). */
  readonly problems: string[] = []

  private constructor(private readonly options: DeploymentStoreOptions) {}

  static async open(options: DeploymentStoreOptions): Promise<DeploymentStore> {
    const store = new DeploymentStore(options)
    await store.scan()
    return store
  }

  private get dataDir(): string {
    return this.options.dataDir
  }

  private bundlePath(hash: string): string {
    return join(this.dataDir, BUNDLES_DIR, `${hash}.js`)
  }

  private async pause(point: TestPausePoint): Promise<void> {
    await this.options.pause?.(point)
  }

  private async scan(): Promise<void> {
    for (const folder of [BUNDLES_DIR, VERSIONS_DIR])
      await mkdir(join(this.dataDir, folder), { recursive: true, mode: 0o700 })
    // Whatever a crash left half written is not any file's real name; tidy it away.
    await Promise.all(
      ['', BUNDLES_DIR, VERSIONS_DIR].map((folder) => removeTemporaryFiles(join(this.dataDir, folder))),
    )
    for (const name of await readdir(join(this.dataDir, VERSIONS_DIR))) {
      const number = VERSION_FILE.exec(name)?.[1]
      if (number === undefined) continue
      this.nextNumber = Math.max(this.nextNumber, Number(number) + 1)
      const id = `v${number}`
      const version = parseVersionFile(await readFile(join(this.dataDir, VERSIONS_DIR, name), 'utf8'), id)
      if (version) this.versions.set(id, version)
      else
        this.problems.push(`${VERSIONS_DIR}/${name} is damaged; version ${id} cannot be listed or activated.`)
    }
  }

  /** Newest first. */
  list(): StoredVersion[] {
    return [...this.versions.values()].sort((a, b) => versionNumber(b.id) - versionNumber(a.id))
  }

  get(id: string): StoredVersion | undefined {
    return this.versions.get(id)
  }

  /**
   * Stores an upload as the next version (not active). Every bundle sent is checked against its
   * hash, every bundle the manifest names must be sent or already stored intact.
   */
  async upload(body: unknown): Promise<StoredVersion> {
    const upload = parseUploadRequest(body)
    for (const [hash, text] of Object.entries(upload.bundles)) {
      const actual = sha256Hex(text)
      if (actual !== hash) {
        throw new ApiError(
          400,
          'BUNDLE_HASH_MISMATCH',
          `The bundle sent as ${hash} has SHA-256 ${actual}; nothing was stored.`,
          'The upload was altered or built wrongly; deploy again.',
        )
      }
    }
    const needed = new Map<string, string[]>()
    for (const [name, fn] of Object.entries(upload.manifest.functions))
      needed.set(fn.bundle, [...(needed.get(fn.bundle) ?? []), name])

    return this.serial(async () => {
      const sizes = new Map<string, number>()
      for (const [hash, functions] of needed) {
        const sent = Object.hasOwn(upload.bundles, hash) ? upload.bundles[hash] : undefined
        if (sent !== undefined) {
          sizes.set(hash, Buffer.byteLength(sent))
          continue
        }
        const stored = await this.readBundle(hash)
        if (stored.ok) {
          sizes.set(hash, Buffer.byteLength(stored.text))
          continue
        }
        throw new ApiError(
          400,
          'BUNDLE_MISSING',
          `The bundle ${hash} of function ${functions.join(', ')} was not uploaded${stored.reason === 'missing' ? ' and is not stored' : `, and the stored copy ${stored.reason}`}; nothing was stored.`,
          'Include every bundle the manifest names in "bundles", as `centrali deploy` does; deploy again.',
        )
      }
      for (const hash of needed.keys()) {
        const sent = Object.hasOwn(upload.bundles, hash) ? upload.bundles[hash] : undefined
        // Content-addressed: an intact stored copy is this very bundle; a damaged one is replaced.
        if (sent !== undefined && !(await this.readBundle(hash)).ok)
          await writeFileAtomic(this.bundlePath(hash), sent, { mode: 0o600 })
        const map =
          upload.sourceMaps && Object.hasOwn(upload.sourceMaps, hash) ? upload.sourceMaps[hash] : undefined
        if (map !== undefined) await writeFileAtomic(`${this.bundlePath(hash)}.map`, map, { mode: 0o600 })
      }
      await this.pause('upload-bundles')

      const createdAt = new Date().toISOString()
      const size = [...sizes.values()].reduce((total, bytes) => total + bytes, 0)
      // Each function's size is its stored bundle's, whatever the client said.
      const manifest: Manifest = {
        ...upload.manifest,
        functions: Object.fromEntries(
          Object.entries(upload.manifest.functions).map(([name, fn]) => [
            name,
            { bundle: fn.bundle, size: sizes.get(fn.bundle)! },
          ]),
        ),
      }
      for (;;) {
        const id = `v${this.nextNumber}`
        const version: StoredVersion = { id, createdAt, size, manifest }
        try {
          await createFileExclusive(
            join(this.dataDir, VERSIONS_DIR, `${id}.json`),
            `${JSON.stringify({ format: FORMAT, ...version }, null, 2)}\n`,
            { mode: 0o600, beforeCommit: () => this.pause('upload-version') },
          )
        } catch (error) {
          // Taken by a file this process did not write (another server on the same data dir):
          // versions are never replaced, so take the next id.
          if (!(error instanceof FileExistsError)) throw error
          this.nextNumber++
          continue
        }
        this.nextNumber++
        this.versions.set(id, version)
        return version
      }
    })
  }

  /** Reads a version and every bundle it runs, each checked against its hash. */
  async load(id: string): Promise<VerifiedVersion> {
    const version = this.versions.get(id)
    if (version === undefined) {
      throw new ApiError(
        404,
        'VERSION_NOT_FOUND',
        `There is no version ${id}.`,
        'List them with `centrali versions`.',
      )
    }
    const bundles = new Map<string, string>()
    for (const [name, fn] of Object.entries(version.manifest.functions)) {
      if (bundles.has(fn.bundle)) continue
      const read = await this.readBundle(fn.bundle)
      if (!read.ok) {
        throw new ApiError(
          409,
          'VERSION_UNREADABLE',
          `Version ${id} cannot run: the bundle of function ${name} (${BUNDLES_DIR}/${fn.bundle}.js) ${read.reason}.`,
          'Deploy again: the upload restores the bundle; or activate another version.',
        )
      }
      bundles.set(fn.bundle, read.text)
    }
    return { ...version, bundles }
  }

  private async readBundle(
    hash: string,
  ): Promise<{ ok: true; text: string } | { ok: false; reason: string }> {
    let bytes: Buffer
    try {
      bytes = await readFile(this.bundlePath(hash))
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { ok: false, reason: 'missing' }
      return { ok: false, reason: `cannot be read (${(error as Error).message})` }
    }
    const actual = sha256Hex(bytes)
    if (actual !== hash) return { ok: false, reason: `is corrupted (its SHA-256 is now ${actual})` }
    return { ok: true, text: bytes.toString('utf8') }
  }

  /** The pointer to the serving version; undefined before the first activation. */
  async readActive(): Promise<ActivePointer | undefined> {
    const text = await readTextIfExists(join(this.dataDir, ACTIVE_FILE))
    if (text === undefined) return undefined
    let data: unknown
    try {
      data = JSON.parse(text)
    } catch {
      throw new CentraliError(
        'ACTIVE_POINTER_DAMAGED',
        `${ACTIVE_FILE} in the data dir is not complete JSON.`,
      )
    }
    const { version, previous, activatedAt } = (data ?? {}) as Record<string, unknown>
    if (typeof version !== 'string' || !VERSION_FILE.test(`${version}.json`)) {
      throw new CentraliError('ACTIVE_POINTER_DAMAGED', `${ACTIVE_FILE} in the data dir names no version.`)
    }
    return {
      version,
      previous: typeof previous === 'string' ? previous : null,
      activatedAt: typeof activatedAt === 'string' ? activatedAt : '',
    }
  }

  /** Switches the serving version on disk: one atomic replace of `active.json`. */
  async writeActive(pointer: ActivePointer): Promise<void> {
    await this.pause('activate-pointer')
    await writeFileAtomic(
      join(this.dataDir, ACTIVE_FILE),
      `${JSON.stringify({ format: FORMAT, ...pointer }, null, 2)}\n`,
      { mode: 0o600 },
    )
  }
}

function versionNumber(id: string): number {
  return Number(id.slice(1))
}

function parseVersionFile(text: string, id: string): StoredVersion | undefined {
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof data !== 'object' || data === null) return undefined
  const { format, id: storedId, createdAt, size, manifest } = data as Record<string, unknown>
  const parsed = parseStoredManifest(manifest)
  if (
    format !== FORMAT ||
    storedId !== id ||
    typeof createdAt !== 'string' ||
    typeof size !== 'number' ||
    !parsed
  )
    return undefined
  return { id, createdAt, size, manifest: parsed }
}
