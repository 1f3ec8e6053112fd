import { readFile, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { createFileExclusive, FileExistsError } from '../shared/atomic-write.js'
import { UserError } from '../shared/errors.js'

/**
 * One `centrali serve` per data dir: `serve.lock` holds the pid of the server using it, created
 * exclusively (whole or not at all) at start and removed on a clean exit. A lock whose process is
 * gone (a crash, a SIGKILL) is taken over.
 */
export const LOCK_FILE = 'serve.lock'

export interface DataDirLock {
  release(): Promise<void>
}

export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  const path = join(dataDir, LOCK_FILE)
  const release = () => unlink(path).catch(() => undefined)
  // A few rounds: another start may take over the same stale lock between our read and our create.
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      await createFileExclusive(path, `${process.pid}\n`, { mode: 0o600 })
      return { release }
    } catch (error) {
      if (!(error instanceof FileExistsError)) throw error
    }
    const text = await readFile(path, 'utf8').catch(() => undefined)
    if (text === undefined) continue
    const pid = Number(text.trim())
    if (Number.isSafeInteger(pid) && pid > 0 && isAlive(pid)) {
      throw new UserError(
        'DATA_DIR_IN_USE',
        `The data dir ${dataDir} is in use by another centrali serve (pid ${pid}).`,
        {
          hint: `Stop that server, or pass another --data-dir. If pid ${pid} is not a centrali serve, remove ${path}.`,
        },
      )
    }
    // Its process is gone: the lock is stale.
    await unlink(path).catch(() => undefined)
  }
  throw new UserError('DATA_DIR_IN_USE', `Could not lock the data dir ${dataDir}: ${path} keeps changing.`, {
    hint: 'Another centrali serve is starting there; start only one.',
  })
}

function isAlive(pid: number): boolean {
  // This very process: a restart that got the pid of the server it replaces (pid 1 in a container).
  if (pid === process.pid) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
