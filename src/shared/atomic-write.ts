import { randomBytes } from 'node:crypto'
import { link, open, rename, stat, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

export interface AtomicWriteOptions {
  /** File mode for a new file; an existing file keeps its mode unless this is given. */
  mode?: number
}

/**
 * Writes `path` so that a reader (or a crash) sees either the old file or the new one, never half:
 * the content goes to a temporary file in the same folder (same file system, so rename is atomic),
 * is flushed to disk, then renamed over the target.
 */
export async function writeFileAtomic(
  path: string,
  content: string | Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const mode = options.mode ?? (await existingMode(path)) ?? 0o644
  const temporary = await writeTemporary(path, content, mode)
  try {
    await rename(temporary, path)
  } catch (error) {
    await unlink(temporary).catch(() => undefined)
    throw error
  }
  await syncFolder(dirname(path))
}

export class FileExistsError extends Error {
  constructor(readonly path: string) {
    super(`${path} already exists`)
  }
}

/**
 * Creates `path` atomically and never replaces an existing file (a version, a key, a lock): the
 * content is written and flushed under a temporary name, then hard-linked to its name, which fails
 * with a `FileExistsError` if the name is taken. A reader sees no file or the whole file, never a
 * part of it. `beforeCommit` runs once the content is on disk under the temporary name (a test
 * pauses there).
 */
export async function createFileExclusive(
  path: string,
  content: string | Uint8Array,
  options: { mode?: number; beforeCommit?: () => Promise<void> } = {},
): Promise<void> {
  const temporary = await writeTemporary(path, content, options.mode ?? 0o644)
  try {
    await options.beforeCommit?.()
    await linkOrRename(temporary, path)
  } finally {
    await unlink(temporary).catch(() => undefined)
  }
  await syncFolder(dirname(path))
}

/** `.<name>.<12 hex>.tmp` beside `path`, with `content` flushed to disk; removed again on failure. */
async function writeTemporary(path: string, content: string | Uint8Array, mode: number): Promise<string> {
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  const handle = await open(temporary, 'wx', mode)
  try {
    // open() applies the umask; chmod does not, so an existing 0664 file stays 0664.
    await handle.chmod(mode)
    await handle.writeFile(content)
    await handle.sync()
  } catch (error) {
    await handle.close()
    await unlink(temporary).catch(() => undefined)
    throw error
  }
  await handle.close()
  return temporary
}

async function linkOrRename(temporary: string, path: string): Promise<void> {
  try {
    await link(temporary, path)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'EEXIST') throw new FileExistsError(path)
    // A file system without hard links: check, then rename (not atomic against another writer;
    // callers that race serialise their writes).
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS') throw error
    const taken = await stat(path).then(
      () => true,
      () => false,
    )
    if (taken) throw new FileExistsError(path)
    await rename(temporary, path)
  }
}

async function existingMode(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).mode & 0o777
  } catch {
    return undefined
  }
}

/** Makes the rename or link itself durable; some file systems refuse fsync on a folder, which is fine. */
async function syncFolder(folder: string): Promise<void> {
  try {
    const handle = await open(folder, 'r')
    try {
      await handle.sync()
    } finally {
      await handle.close()
    }
  } catch {
    // Not supported here: the rename is still atomic, only not yet durable.
  }
}
