import { SourceMap } from 'node:module'
import type { CodeFrame } from '../sandbox/protocol.js'
import type { FunctionBuild } from './bundle.js'

/** A position in one of the project's files (1-based), the file relative to the project's root. */
export interface SourceFrame {
  name?: string
  file: string
  line: number
  column: number
}

// Parsed once per build: a function that throws on every request must not parse its map on each.
const parsedMaps = new WeakMap<FunctionBuild, SourceMap>()

/**
 * Where the frames of a thrown error's stack (positions in the code the worker ran) are in the
 * project's files, through the build's source map. Frames in code no file of the project wrote
 * (esbuild's helpers) are left out; so is everything when the build has no map.
 */
export function mapCodeFrames(build: FunctionBuild, frames: readonly CodeFrame[]): SourceFrame[] {
  if (build.sourceMap === undefined) return []
  let map = parsedMaps.get(build)
  if (map === undefined) {
    map = new SourceMap(JSON.parse(build.sourceMap) as ConstructorParameters<typeof SourceMap>[0])
    parsedMaps.set(build, map)
  }
  const mapped: SourceFrame[] = []
  for (const frame of frames) {
    const entry = map.findEntry(frame.line - 1, frame.column - 1)
    if (!('originalSource' in entry) || !entry.originalSource) continue
    mapped.push({
      ...(frame.name === undefined ? {} : { name: frame.name }),
      file: fileOfSource(entry.originalSource),
      line: entry.originalLine + 1,
      column: entry.originalColumn + 1,
    })
  }
  return mapped
}

/**
 * A source map names its files as URLs: esbuild writes `<` as %3C, `ü` as %C3%BC, `%` as %25. The
 * file as it is named on disk is what a person looks for.
 */
function fileOfSource(source: string): string {
  try {
    return decodeURIComponent(source)
  } catch {
    return source
  }
}

/**
 * A thrown error's frames as Node prints them (`at name (file:line:column)`), in the project's
 * files; `shown` names a file (given relative to the project's root) as the user should read it.
 */
export function stackLines(
  build: FunctionBuild,
  frames: readonly CodeFrame[],
  shown: (file: string) => string,
): string[] {
  return mapCodeFrames(build, frames).map(({ name, file, line, column }) => {
    const where = `${shown(file)}:${line}:${column}`
    return name === undefined ? `at ${where}` : `at ${name} (${where})`
  })
}
