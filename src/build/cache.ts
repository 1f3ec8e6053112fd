import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { mkdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from '../shared/atomic-write.js'
import { packageRoot } from '../shared/package-root.js'
import { buildFunction, type BuildOptions, type FunctionBuild } from './bundle.js'

/**
 * Builds kept in `.centrali/build-cache/`, one file per function entry, valid while every input
 * file (local modules and node_modules alike) has the size and modification time it had when it
 * was built. Starting esbuild costs more than a small function's whole invocation, so a repeated
 * `centrali invoke` of unchanged code skips it.
 */
interface CacheEntry {
  version: typeof CACHE_VERSION
  inputs: { path: string; size: number; mtimeMs: number }[]
  build: FunctionBuild
}

/**
 * Raised when what a build holds changes (2: `run` handed over by a call, not an export; 3: a
 * source map, for where a thrown error came from).
 */
const CACHE_VERSION = 3

export async function buildFunctionCached(
  options: BuildOptions & { cacheDir: string },
): Promise<FunctionBuild> {
  const cached = await readCachedBuild(options)
  if (cached) return cached
  const startedAt = Date.now()
  const build = await buildFunction(options)
  await writeCachedBuild(options, build, startedAt)
  return build
}

/** The cached build of this entry, if every file it was built from is unchanged. */
export async function readCachedBuild(
  options: BuildOptions & { cacheDir: string },
): Promise<FunctionBuild | undefined> {
  const cached = await readEntry(cacheFile(options))
  return cached && (await unchanged(cached.inputs)) ? cached.build : undefined
}

/** Nothing is written if an input changed after `startedAt` (ms): the build may predate it. */
export async function writeCachedBuild(
  options: BuildOptions & { cacheDir: string },
  build: FunctionBuild,
  startedAt = Infinity,
): Promise<void> {
  const inputs = await Promise.all(
    build.inputs.map(async (path) => {
      const info = await stat(path)
      return { path, size: info.size, mtimeMs: info.mtimeMs }
    }),
  )
  if (inputs.some((input) => input.mtimeMs > startedAt)) return
  await mkdir(options.cacheDir, { recursive: true })
  await writeFileAtomic(
    cacheFile(options),
    JSON.stringify({ version: CACHE_VERSION, inputs, build } satisfies CacheEntry),
  )
}

function cacheFile(options: BuildOptions & { cacheDir: string }): string {
  // The versions are in the key: a new centrali or esbuild may build differently (the factory
  // wrapper the sandbox's isolation relies on included), so its builds never reuse older ones.
  const key = createHash('sha256')
    .update(JSON.stringify([options.entry, options.minify ?? false, ...toolVersions()]))
    .digest('hex')
    .slice(0, 16)
  return join(options.cacheDir, `${key}.json`)
}

let versions: string[] | undefined
/** centrali's and esbuild's versions, read from their package.json (importing esbuild costs more). */
function toolVersions(): string[] {
  const versionOf = (path: string) => (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version
  versions ??= [
    versionOf(join(packageRoot(), 'package.json')),
    versionOf(createRequire(import.meta.url).resolve('esbuild/package.json')),
  ]
  return versions
}

async function readEntry(file: string): Promise<CacheEntry | undefined> {
  try {
    const entry = JSON.parse(await readFile(file, 'utf8')) as CacheEntry
    return entry.version === CACHE_VERSION ? entry : undefined
  } catch {
    return undefined // missing or damaged: build again
  }
}

async function unchanged(inputs: CacheEntry['inputs']): Promise<boolean> {
  try {
    const current = await Promise.all(inputs.map((input) => stat(input.path)))
    return current.every(
      (info, index) => info.size === inputs[index]!.size && info.mtimeMs === inputs[index]!.mtimeMs,
    )
  } catch {
    return false
  }
}
