import { createHash, randomBytes } from 'node:crypto'
import { link, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

/**
 * File primitives of the data dir. Every file is written whole to a temporary name, flushed, and
 * only then given its real name, so a crash leaves either nothing or a whole file under that name.
 * Temporary names (`.<name>.<hex>.tmp`, as `writeFileAtomic` makes them) are never read.
 */

export function sha256Hex(content: string | Uint8Array): string {
  return createHash('sha256').update(content).digest('hex')
}

/** The text of a file, or undefined when there is none. */
export async function readTextIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

export class FileExistsError extends Error {
  constructor(readonly path: string) {
    super(`${path} already exists`)
  }
}

/**
 * Creates `path` atomically and never replaces an existing file (versions are immutable): the
 * temporary file is hard-linked to its name, which fails if the name is taken. `beforeCommit` runs
 * once the content is on disk under the temporary name (a test pauses there).
 */
export async function createFileExclusive(
  path: string,
  content: string,
  options: { mode?: number; beforeCommit?: () => Promise<void> } = {},
): Promise<void> {
  const folder = dirname(path)
  const temporary = join(folder, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  const handle = await open(temporary, 'wx', options.mode ?? 0o644)
  try {
    await handle.writeFile(content)
    await handle.sync()
  } catch (error) {
    await handle.close()
    await unlink(temporary).catch(() => undefined)
    throw error
  }
  await handle.close()
  try {
    await options.beforeCommit?.()
    await linkOrRename(temporary, path)
  } finally {
    await unlink(temporary).catch(() => undefined)
  }
  await syncFolder(folder)
}

async function linkOrRename(temporary: string, path: string): Promise<void> {
  try {
    await link(temporary, path)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'EEXIST') throw new FileExistsError(path)
    // A file system without hard links: check, then rename (callers hold the store's queue).
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS') throw error
    const taken = await stat(path).then(
      () => true,
      () => false,
    )
    if (taken) throw new FileExistsError(path)
    await rename(temporary, path)
  }
}

async function syncFolder(folder: string): Promise<void> {
  try {
    const handle = await open(folder, 'r')
    try {
      await handle.sync()
    } finally {
      await handle.close()
    }
  } catch {
    // Not supported here: the link is still atomic, only not yet durable.
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
