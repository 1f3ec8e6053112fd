import { readdir, stat } from 'node:fs/promises'
import { dirname, join, sep } from 'node:path'
import type { FSWatcher, watch as chokidarWatch } from 'chokidar'
import { sameStamp, stampFiles, type FileStamp } from '../shared/file-stamps.js'

/** What the project watch asks of dev, and hands on to it. */
export interface ProjectWatchHandlers {
  /** The files dev needs now: the functions' inputs, centrali.json, the secrets store. */
  neededFiles(): ReadonlySet<string>
  /** A file dev needs was written or deleted. */
  onNeeded(path: string): void
  /** Any other file was written, or a directory made, where dev watches. */
  onOther(path: string): void
  /** Whether some function does not build: only then do new directories matter. */
  someBuildFails(): boolean
}

export interface ProjectWatch {
  /** Watches the directory `file` is in: at once if the watch has started, else from `start`. */
  watchDirectoryOf(file: string): void
  /** Starts watching every directory asked for so far; resolves once chokidar has read them. */
  start(chokidar: { watch: typeof chokidarWatch }): Promise<void>
  close(): Promise<void>
}

/**
 * dev's watch of the project's files. chokidar loses a file it watches by itself once that file is
 * deleted: made again at the same path (a git checkout, an editor that saves by deleting and
 * writing anew), it is never seen again, and neither is any later edit. A watched directory sees
 * its files come and go, so dev watches the directory of each file it needs, one level deep, and
 * tells the events for those files from the rest.
 */
export function createProjectWatch(handlers: ProjectWatchHandlers): ProjectWatch {
  let watcher: FSWatcher | undefined
  const directories = new Set<string>()
  function watchDirectory(directory: string): void {
    // Node modules change with installs, not edits; they are rebuilt on the next save of the function.
    if (directories.has(directory) || `${directory}${sep}`.includes(`${sep}node_modules${sep}`)) return
    directories.add(directory)
    watcher?.add(directory)
  }
  const needs = (path: string) => handlers.neededFiles().has(path)

  // chokidar drops a 'change' that comes within 50 ms of the previous one for the same file (a
  // formatter rewriting on save does exactly that), so each event for a file is checked again a
  // little later: if the file moved on since, it is handled again, as what it is by then (a file
  // written just before centrali.json named it, then edited at once, is a function's by then).
  const handledStamp = new Map<string, FileStamp | undefined>()
  const trailing = new Map<string, ReturnType<typeof setTimeout>>()
  /** Runs `check` TRAILING_CHECK_MS from now, in place of one already waiting for this path. */
  const trailingCheck = (path: string, check: () => void) => {
    clearTimeout(trailing.get(path))
    trailing.set(
      path,
      setTimeout(() => {
        trailing.delete(path)
        check()
      }, TRAILING_CHECK_MS),
    )
  }
  const stampOf = async (path: string) => (await stampFiles([path])).get(path)
  const checkAgainLater = (path: string) => {
    void stampOf(path).then((stamp) => handledStamp.set(path, stamp))
    trailingCheck(path, () => {
      void stampOf(path).then((stamp) => {
        const movedOn = !sameStamp(stamp, handledStamp.get(path))
        handledStamp.delete(path)
        if (movedOn) onWritten(path)
      })
    })
  }
  const onNeededChange = (path: string) => {
    handlers.onNeeded(path)
    checkAgainLater(path)
  }
  const onWritten = (path: string): void => {
    if (needs(path)) return onNeededChange(path)
    handlers.onOther(path)
    checkAgainLater(path)
  }
  // A new directory where dev watches, while a function does not build, may be where the module
  // it imports is about to be written (`./lib/util` before `lib/` existed): it is watched too, and
  // handed on now and once more a moment later, in case the file came before the watch. So are
  // the directories made in it before its watch began (`mkdir -p lib/a`).
  const onNewDirectory = (directory: string, depth = 0) => {
    if (!handlers.someBuildFails()) return
    watchDirectory(directory)
    if (depth < NEW_DIRECTORY_DEPTH) {
      void readdir(directory, { withFileTypes: true }).then(
        (entries) => {
          for (const entry of entries) {
            if (entry.isDirectory() && !entry.name.startsWith('.') && entry.name !== 'node_modules')
              onNewDirectory(join(directory, entry.name), depth + 1)
          }
        },
        () => undefined, // gone again
      )
    }
    handlers.onOther(directory)
    trailingCheck(directory, () => handlers.onOther(directory))
  }
  // A watched directory deleted and made again (seen where its parent is watched, as the project's
  // root is) is watched anew, and the files dev needs that are already back in it are handled.
  const onDirectoryAdded = (directory: string) => {
    if (!directories.has(directory)) return onNewDirectory(directory)
    watcher!.unwatch(directory)
    watcher!.add(directory)
    for (const file of handlers.neededFiles()) {
      if (dirname(file) === directory)
        void stat(file).then(
          () => onNeededChange(file),
          () => undefined,
        )
    }
  }

  return {
    watchDirectoryOf: (file) => watchDirectory(dirname(file)),
    async start(chokidar) {
      const started = chokidar.watch([...directories], { ignoreInitial: true, depth: 0 })
      watcher = started
      started
        .on('change', onWritten)
        .on('add', onWritten)
        .on('unlink', (path) => needs(path) && onNeededChange(path))
        .on('addDir', onDirectoryAdded)
      await new Promise<void>((resolve) => started.once('ready', () => resolve()))
    },
    async close() {
      for (const timer of trailing.values()) clearTimeout(timer)
      await watcher?.close()
    },
  }
}

/** How long after a file's event it is looked at again (longer than chokidar's 50 ms throttle). */
const TRAILING_CHECK_MS = 80
/** How deep the directories already inside a new directory are watched (`mkdir -p lib/a/b`). */
const NEW_DIRECTORY_DEPTH = 4
