import type * as Http from 'node:http'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { lockDataDir } from '../../src/runtime/lock.js'
import { startServe } from '../../src/runtime/server.js'
import { startEndpointServer } from '../../src/server/http.js'

/** `centrali serve` in-process: the data dir lock and the HTTP server it starts. */

/** Every HTTP server created, so a test can read the settings it was given. */
const created = vi.hoisted(() => [] as Http.Server[])
vi.mock('node:http', async (importOriginal) => {
  const http = await importOriginal<typeof Http>()
  const createServer = ((...args: Parameters<typeof http.createServer>) => {
    const server = http.createServer(...args)
    created.push(server)
    return server
  }) as typeof http.createServer
  return { ...http, default: { ...http, createServer }, createServer }
})

let dataDir: string

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'centrali-serve-unit-'))
  created.length = 0
})
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true })
})

describe('the data dir lock', () => {
  it('holds the pid; a live holder refuses a second lock, naming it; release removes it', async () => {
    const lock = await lockDataDir(dataDir)
    expect(await readFile(join(dataDir, 'serve.lock'), 'utf8')).toBe(`${process.pid}\n`)
    await lock.release()
    // Another live process holds it: the parent of this test runner.
    await writeFile(join(dataDir, 'serve.lock'), `${process.ppid}\n`)
    await expect(lockDataDir(dataDir)).rejects.toMatchObject({
      code: 'DATA_DIR_IN_USE',
      message: expect.stringContaining(`pid ${process.ppid}`),
    })
    expect(await readFile(join(dataDir, 'serve.lock'), 'utf8')).toBe(`${process.ppid}\n`)
  })

  it('takes over a lock whose process is gone, one that names this very process (a restart as pid 1 in a container), and garbage', async () => {
    for (const stale of ['2147483646', String(process.pid), 'not a pid', '']) {
      await writeFile(join(dataDir, 'serve.lock'), `${stale}\n`)
      const lock = await lockDataDir(dataDir)
      expect(await readFile(join(dataDir, 'serve.lock'), 'utf8')).toBe(`${process.pid}\n`)
      await lock.release()
    }
  })
})

describe('the HTTP server', () => {
  it('serve gives a request as long as deploy waits for an upload (300 s); other servers keep 60 s', async () => {
    const session = await startServe({
      dataDir,
      env: { CENTRALI_RUNTIME_TOKEN: 'a-long-enough-token-123', CENTRALI_MASTER_KEY: '0'.repeat(64) },
      host: '127.0.0.1',
      port: 0,
      map: {},
      onEvent: () => undefined,
    })
    try {
      expect(created).toHaveLength(1)
      expect(created[0]!.requestTimeout).toBe(300_000)
    } finally {
      await session.close()
    }
    const plain = await startEndpointServer({ host: '127.0.0.1', port: 0, route: () => undefined })
    expect(created[1]!.requestTimeout).toBe(60_000)
    await plain.close()
  })
})
