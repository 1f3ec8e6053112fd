import { stat } from 'node:fs/promises'

/**
 * Whether a file was written since it was last looked at, told by its size and modification time.
 *
 * A file's modification time comes from the kernel's coarse clock, which lags `Date.now()` by up
 * to a tick: a write made 2 ms after a `Date.now()` can carry a time 2 ms before it (4 ms measured
 * on these machines). So a file seen before is judged by its stamp changing, never by a clock,
 * and only a file not seen before is judged by the clock, with that lag allowed.
 */
export interface FileStamp {
  size: number
  mtimeMs: number
}

/** Each path's stamp, `undefined` for a file that is not there. */
export type FileStamps = ReadonlyMap<string, FileStamp | undefined>

/** Longer than a tick of a 100 Hz kernel clock (10 ms), the coarsest in use. */
const CLOCK_LAG_MS = 20

export async function stampFiles(paths: Iterable<string>): Promise<FileStamps> {
  const files = [...paths]
  const stamps = await Promise.all(
    files.map((path) =>
      stat(path).then(
        (info): FileStamp => ({ size: info.size, mtimeMs: info.mtimeMs }),
        () => undefined,
      ),
    ),
  )
  return new Map(files.map((path, index) => [path, stamps[index]]))
}

export function sameStamp(a: FileStamp | undefined, b: FileStamp | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && a.size === b.size && a.mtimeMs === b.mtimeMs)
}

/**
 * The first file of `now` that changed since `before` was taken at `since` (ms): its stamp differs,
 * or, when `before` does not hold it, it was written within the clock's lag of `since` or after.
 */
export function firstChanged(before: FileStamps, now: FileStamps, since: number): string | undefined {
  for (const [path, stamp] of now) {
    const changed = before.has(path)
      ? !sameStamp(before.get(path), stamp)
      : stamp !== undefined && stamp.mtimeMs > since - CLOCK_LAG_MS
    if (changed) return path
  }
  return undefined
}
