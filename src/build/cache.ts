import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from '../shared/atomic-write.js'
import {
  firstChanged,
  sameStamp,
  stampFiles,
  type FileStamp,
  type FileStamps,
} from '../shared/file-stamps.js'
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
  inputs: ({ path: string } & FileStamp)[]
  build: FunctionBuild
}

/**
 * Raised when what a build holds changes (2: `run` handed over by a call, not an export; 3: a
 * source map, for where a thrown error came from; 4: a file holding secrets is refused, so a build
 * that bundled one is not served again).
 */
const CACHE_VERSION = 4

export async function buildFunctionCached(
  options: BuildOptions & { cacheDir: string },
): Promise<FunctionBuild> {
  const cached = await readCachedBuild(options)
  if (cached) return cached
  const startedAt = Date.now()
  const build = await buildFunction(options)
  const inputs = await stampFiles(build.inputs)
  // A file written while esbuild ran may have been read before the write: such a build is not kept.
  if (firstChanged(new Map(), inputs, startedAt) === undefined) await writeCachedBuild(options, build, inputs)
  return build
}

/** The cached build of this entry, if every file it was built from is unchanged. */
export async function readCachedBuild(
  options: BuildOptions & { cacheDir: string },
): Promise<FunctionBuild | undefined> {
  const cached = await readEntry(cacheFile(options))
  return cached && (await unchanged(cached.inputs)) ? cached.build : undefined
}

/**
 * Keeps `build`, valid while its inputs keep the stamps in `inputs`: stamps the caller took after
 * the build and knows to be of the content esbuild read.
 */
export async function writeCachedBuild(
  options: BuildOptions & { cacheDir: string },
  build: FunctionBuild,
  inputs: FileStamps,
): Promise<void> {
  const entries: CacheEntry['inputs'] = []
  for (const path of build.inputs) {
    const stamp = inputs.get(path)
    if (stamp === undefined) return // gone since: nothing to keep
    entries.push({ path, ...stamp })
  }
  await mkdir(options.cacheDir, { recursive: true })
  await writeFileAtomic(
    cacheFile(options),
    JSON.stringify({ version: CACHE_VERSION, inputs: entries, build } satisfies CacheEntry),
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
  const current = await stampFiles(inputs.map((input) => input.path))
  return inputs.every((input) => sameStamp(current.get(input.path), input))
}
