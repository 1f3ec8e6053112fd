import { randomBytes } from 'node:crypto'
import { open, rename, stat, unlink } from 'node:fs/promises'
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
  const folder = dirname(path)
  const temporary = join(folder, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  const mode = options.mode ?? (await existingMode(path)) ?? 0o644
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
  try {
    await rename(temporary, path)
  } catch (error) {
    await unlink(temporary).catch(() => undefined)
    throw error
  }
  await syncFolder(folder)
}

async function existingMode(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).mode & 0o777
  } catch {
    return undefined
  }
}

/** Makes the rename itself durable; some file systems refuse fsync on a folder, which is fine. */
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
