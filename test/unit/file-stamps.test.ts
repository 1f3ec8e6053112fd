import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { mkdtemp, rm, unlink, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { firstChanged, stampFiles } from '../../src/shared/file-stamps.js'

let tmp: string

beforeEach(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'centrali-'))
})

afterEach(async () => {
  await rm(tmp, { recursive: true, force: true })
})

/** Writes `text` to `name` with the given modification time (seconds since the epoch). */
async function writeAt(name: string, text: string, mtimeSeconds: number): Promise<string> {
  const path = join(tmp, name)
  await writeFile(path, text)
  await utimes(path, mtimeSeconds, mtimeSeconds)
  return path
}

describe('firstChanged', () => {
  const longAgo = 1_700_000_000 // seconds
  const since = Date.now()

  it('a file seen before changed when its stamp did, whatever its time says', async () => {
    const file = await writeAt('a.js', 'one', longAgo)
    const before = await stampFiles([file])
    expect(firstChanged(before, await stampFiles([file]), since)).toBeUndefined()

    // Written after `since` with a time before it: the coarse file clock, or `cp -p` from a backup.
    await writeAt('a.js', 'two!', longAgo - 60)
    expect(firstChanged(before, await stampFiles([file]), since)).toBe(file)
  })

  it('the same time with another size is a change', async () => {
    const file = await writeAt('a.js', 'one', longAgo)
    const before = await stampFiles([file])
    await writeAt('a.js', 'three', longAgo)
    expect(firstChanged(before, await stampFiles([file]), since)).toBe(file)
  })

  it('a file deleted, or made where there was none, is a change', async () => {
    const file = await writeAt('a.js', 'one', longAgo)
    const missing = join(tmp, 'b.js')
    const before = await stampFiles([file, missing])
    expect(before.get(missing)).toBeUndefined()

    await unlink(file)
    expect(firstChanged(before, await stampFiles([file, missing]), since)).toBe(file)
    await writeAt('b.js', 'new', longAgo)
    expect(firstChanged(before, await stampFiles([missing]), since)).toBe(missing)
  })

  it('a file not seen before is judged by its time, allowing for the lag of the file clock', async () => {
    const old = await writeAt('old.js', 'x', longAgo)
    const lagging = await writeAt('lagging.js', 'x', (since - 5) / 1000)
    const none = new Map()
    expect(firstChanged(none, await stampFiles([old]), since)).toBeUndefined()
    expect(firstChanged(none, await stampFiles([old, lagging]), since)).toBe(lagging)
    expect(firstChanged(none, await stampFiles([join(tmp, 'gone.js')]), since)).toBeUndefined()
  })
})
