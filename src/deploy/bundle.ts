import { sha256Hex } from '../shared/hash.js'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { buildFunction } from '../build/bundle.js'
import type { ProjectConfig, TriggerConfig } from '../project/schema.js'
import type { Manifest, UploadRequest } from '../runtime/protocol.js'
import { STATE_DIR } from '../shared/state-dir.js'

/** One function as a deploy ships it: the sandbox code, minified, named by its SHA-256. */
export interface DeployBundle {
  function: string
  entry: string
  /** SHA-256 (hex) of the UTF-8 bytes of `code`: the bundle's name on the runtime. */
  hash: string
  code: string
  size: number
  sourceMap: string | undefined
}

/** Builds every function of the project (in parallel: esbuild runs them side by side). */
export async function bundleFunctions(root: string, config: ProjectConfig): Promise<DeployBundle[]> {
  return Promise.all(
    Object.entries(config.functions).map(async ([name, fn]) => {
      const build = await buildFunction({ root, entry: fn.entry, minify: true, sourceMap: true })
      return {
        function: name,
        entry: fn.entry,
        hash: sha256Hex(build.code),
        code: build.code,
        size: Buffer.byteLength(build.code, 'utf8'),
        sourceMap: build.sourceMap,
      }
    }),
  )
}

/**
 * The deployable part of centrali.json. Trigger params go as written: a secret stays a
 * `{ "secret": NAME }` reference, and its value lives only on the runtime (`secrets push`). A
 * trigger's `examplePayload` is for trying it locally, so it is left out (and a change to it is no
 * change to deploy).
 */
export function deployManifest(config: ProjectConfig, bundles: readonly DeployBundle[]): Manifest {
  return {
    functions: Object.fromEntries(
      bundles.map((bundle) => [bundle.function, { bundle: bundle.hash, size: bundle.size }]),
    ),
    triggers: Object.fromEntries(
      Object.entries(config.triggers).map(([name, trigger]) => [name, withoutExample(trigger)]),
    ),
    domains: config.domains,
  }
}

function withoutExample(trigger: TriggerConfig): TriggerConfig {
  const deployed = { ...trigger }
  delete deployed.examplePayload
  return deployed
}

export function uploadRequest(manifest: Manifest, bundles: readonly DeployBundle[]): UploadRequest {
  const sourceMaps: Record<string, string> = {}
  for (const bundle of bundles) if (bundle.sourceMap !== undefined) sourceMaps[bundle.hash] = bundle.sourceMap
  return {
    manifest,
    bundles: Object.fromEntries(bundles.map((bundle) => [bundle.hash, bundle.code])),
    sourceMaps,
  }
}

/** The folder, relative to the project root, where a deploy leaves what it sent. */
export function deployFilesDir(targetName: string): string {
  return join(STATE_DIR, 'deploy', targetName)
}

/**
 * What the deploy sends, for inspection: `manifest.json` and `functions/<name>.js` with its `.js.map`.
 * The folder is emptied first, so nothing in it is left from an earlier deploy.
 */
export async function writeDeployFiles(
  root: string,
  targetName: string,
  manifest: Manifest,
  bundles: readonly DeployBundle[],
): Promise<string> {
  const relativeDir = deployFilesDir(targetName)
  const dir = join(root, relativeDir)
  await rm(dir, { recursive: true, force: true })
  await mkdir(join(dir, 'functions'), { recursive: true })
  await writeFile(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`)
  for (const bundle of bundles) {
    await writeFile(join(dir, 'functions', `${bundle.function}.js`), bundle.code)
    if (bundle.sourceMap !== undefined) {
      await writeFile(join(dir, 'functions', `${bundle.function}.js.map`), bundle.sourceMap)
    }
  }
  return relativeDir
}
