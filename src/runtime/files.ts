import { readdir, readFile, unlink } from 'node:fs/promises'
import { join } from 'node:path'

/**
 * File primitives of the data dir. Every file is written whole to a temporary name, flushed, and
 * only then given its real name (`writeFileAtomic` and `createFileExclusive` in
 * src/shared/atomic-write.ts), so a crash leaves either nothing or a whole file under that name.
 * Temporary names (`.<name>.<hex>.tmp`) are never read.
 */

/** The text of a file, or undefined when there is none. */
export async function readTextIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

/** `.active.json.0a1b2c3d4e5f.tmp`: what a write interrupted by a crash leaves behind. */
const TEMPORARY_NAME = /^\..+\.[0-9a-f]{12}\.tmp$/

/** Removes the temporary files a crash left in `folder`; they are never read, this only tidies. */
export async function removeTemporaryFiles(folder: string): Promise<string[]> {
  const names = await readdir(folder).catch(() => [])
  const leftovers = names.filter((name) => TEMPORARY_NAME.test(name))
  await Promise.all(leftovers.map((name) => unlink(join(folder, name)).catch(() => undefined)))
  return leftovers
}

/**
 * Runs tasks one at a time in the order they were queued, so the writers of one store never
 * interleave (version ids never collide, a file is never written by two tasks at once).
 */
export type SerialQueue = <T>(task: () => Promise<T>) => Promise<T>

export function createSerialQueue(): SerialQueue {
  let tail: Promise<unknown> = Promise.resolve()
  return <T>(task: () => Promise<T>): Promise<T> => {
    const run = tail.then(task, task)
    tail = run.catch(() => undefined)
    return run
  }
}
