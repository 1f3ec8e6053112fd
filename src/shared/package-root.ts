import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

let cached: string | undefined

/**
 * The folder of the installed centrali package (where package.json, templates/ and dist/ are).
 * Found by walking up from this module, so it holds for the sources, the bundle and its chunks
 * alike, wherever the bundler put this code.
 */
export function packageRoot(): string {
  if (cached !== undefined) return cached
  let folder = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    const manifest = join(folder, 'package.json')
    if (
      existsSync(manifest) &&
      (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'centrali'
    ) {
      cached = folder
      return folder
    }
    const parent = dirname(folder)
    if (parent === folder)
      throw new Error(`cannot find the centrali package above ${fileURLToPath(import.meta.url)}`)
    folder = parent
  }
}
