import { createHash } from 'node:crypto'
import { appendFile, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ApiError } from '../../src/runtime/errors.js'
import type { UploadRequest } from '../../src/runtime/protocol.js'
import { DeploymentStore } from '../../src/runtime/store.js'

/** The deployment store on a real temp folder: validation, content addressing, ids, damage. */

let dataDir: string

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'centrali-store-'))
})
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true })
})

const sha = (text: string) => createHash('sha256').update(text).digest('hex')

function uploadOf(code: string, extra: Partial<UploadRequest['manifest']> = {}): UploadRequest {
  const hash = sha(code)
  return {
    manifest: {
      functions: { fn: { bundle: hash, size: Buffer.byteLength(code) } },
      triggers: { hello: { type: 'endpoint', function: 'fn' } },
      domains: [],
      ...extra,
    },
    bundles: { [hash]: code },
  }
}

async function refusal(promise: Promise<unknown>): Promise<ApiError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  )
  expect(error).toBeInstanceOf(ApiError)
  return error as ApiError
}

describe('uploads', () => {
  it('stores bundles by hash and versions in order, immutable, mode 0600', async () => {
    const store = await DeploymentStore.open({ dataDir })
    const first = await store.upload(uploadOf('one'))
    const second = await store.upload(uploadOf('two'))
    expect([first.id, second.id]).toEqual(['v1', 'v2'])
    expect(first.size).toBe(3)
    expect(await readFile(join(dataDir, 'bundles', `${sha('one')}.js`), 'utf8')).toBe('one')
    expect((await stat(join(dataDir, 'versions', 'v1.json'))).mode & 0o777).toBe(0o600)
    expect(store.list().map((version) => version.id)).toEqual(['v2', 'v1'])
    // Reopened: the same versions, and ids go on.
    const reopened = await DeploymentStore.open({ dataDir })
    expect(reopened.list()).toEqual(store.list())
    expect((await reopened.upload(uploadOf('three'))).id).toBe('v3')
  })

  it("keeps each function's size as its stored bundle's, not what the client said", async () => {
    const store = await DeploymentStore.open({ dataDir })
    const upload = uploadOf('twelve bytes')
    upload.manifest.functions.fn!.size = 999_999
    const version = await store.upload(upload)
    expect(version.manifest.functions.fn!.size).toBe(12)
    expect(version.size).toBe(12)
    // So is a bundle already stored and not sent again.
    const again = await store.upload({ ...uploadOf('twelve bytes'), bundles: {} })
    expect(again.manifest.functions.fn!.size).toBe(12)
    const reopened = await DeploymentStore.open({ dataDir })
    expect(reopened.get(version.id)!.manifest.functions.fn!.size).toBe(12)
  })

  it('gives concurrent uploads distinct ids in a row', async () => {
    const store = await DeploymentStore.open({ dataDir })
    const ids = await Promise.all(Array.from({ length: 20 }, (_, i) => store.upload(uploadOf(`code ${i}`))))
    expect(new Set(ids.map((version) => version.id)).size).toBe(20)
    expect((await readdir(join(dataDir, 'versions'))).length).toBe(20)
    for (const version of ids) expect((await store.load(version.id)).bundles.size).toBe(1)
  })

  it('normalises domains and rejects what centrali.json would, with the JSON path', async () => {
    const store = await DeploymentStore.open({ dataDir })
    const version = await store.upload(uploadOf('x', { domains: ['API.Example.COM.', '*.stripe.com'] }))
    expect(version.manifest.domains).toEqual(['api.example.com', '*.stripe.com'])
    const cases: [unknown, string][] = [
      [{ ...uploadOf('x'), extra: 1 }, 'extra'],
      [
        { ...uploadOf('x'), manifest: { ...uploadOf('x').manifest, domains: ['localhost'] } },
        'manifest.domains[0]',
      ],
      [
        {
          ...uploadOf('x'),
          manifest: {
            ...uploadOf('x').manifest,
            triggers: { 'Bad Name': { type: 'endpoint', function: 'fn' } },
          },
        },
        'manifest.triggers',
      ],
      [
        {
          ...uploadOf('x'),
          manifest: {
            ...uploadOf('x').manifest,
            triggers: { hello: { type: 'endpoint', function: 'fn', params: { key: { secret: 'lower' } } } },
          },
        },
        'manifest.triggers.hello.params.key.secret',
      ],
      [{ ...uploadOf('x'), bundles: { NOT_A_HASH: 'x' } }, 'bundles'],
      ['not an object', 'expected object'],
    ]
    for (const [body, expected] of cases) {
      const error = await refusal(store.upload(body))
      expect(error.code).toBe('BAD_REQUEST')
      expect(error.status).toBe(400)
      expect(error.message).toContain(expected)
    }
    expect(store.list()).toHaveLength(1)
  })

  it('refuses a wrong hash and a missing bundle before writing anything', async () => {
    const store = await DeploymentStore.open({ dataDir })
    const good = uploadOf('code')
    const mismatch = await refusal(store.upload({ ...good, bundles: { [sha('code')]: 'other' } }))
    expect([mismatch.status, mismatch.code]).toEqual([400, 'BUNDLE_HASH_MISMATCH'])
    const missing = await refusal(store.upload({ ...good, bundles: {} }))
    expect([missing.status, missing.code]).toEqual([400, 'BUNDLE_MISSING'])
    expect(await readdir(join(dataDir, 'bundles'))).toEqual([])
    expect(await readdir(join(dataDir, 'versions'))).toEqual([])
  })

  it('reuses an intact stored bundle, treats a damaged one as missing, and an upload repairs it', async () => {
    const store = await DeploymentStore.open({ dataDir })
    const good = uploadOf('code')
    await store.upload(good)
    expect((await store.upload({ ...good, bundles: {} })).id).toBe('v2')
    await appendFile(join(dataDir, 'bundles', `${sha('code')}.js`), 'x')
    const missing = await refusal(store.upload({ ...good, bundles: {} }))
    expect(missing.code).toBe('BUNDLE_MISSING')
    expect(missing.message).toContain('corrupted')
    await store.upload(good)
    expect((await store.load('v1')).bundles.get(sha('code'))).toBe('code')
  })

  it('keeps source maps beside their bundle', async () => {
    const store = await DeploymentStore.open({ dataDir })
    await store.upload({ ...uploadOf('code'), sourceMaps: { [sha('code')]: '{"version":3}' } })
    expect(await readFile(join(dataDir, 'bundles', `${sha('code')}.js.map`), 'utf8')).toBe('{"version":3}')
  })
})

describe('loading and damage', () => {
  it('load() verifies every bundle: missing or altered → 409 VERSION_UNREADABLE; unknown → 404', async () => {
    const store = await DeploymentStore.open({ dataDir })
    await store.upload(uploadOf('code'))
    const path = join(dataDir, 'bundles', `${sha('code')}.js`)
    await writeFile(path, 'c0de')
    const altered = await refusal(store.load('v1'))
    expect([altered.status, altered.code]).toEqual([409, 'VERSION_UNREADABLE'])
    expect(altered.message).toContain('corrupted')
    await rm(path)
    expect((await refusal(store.load('v1'))).message).toContain('missing')
    expect((await refusal(store.load('v7'))).code).toBe('VERSION_NOT_FOUND')
  })

  it('ignores and removes temporary files; a damaged version file is reported and its id never reused', async () => {
    const store = await DeploymentStore.open({ dataDir })
    await store.upload(uploadOf('one'))
    await store.upload(uploadOf('two'))
    await writeFile(join(dataDir, 'versions', 'v2.json'), '{"format":1,"id":"v2"')
    await writeFile(join(dataDir, 'versions', '.v3.json.0123456789ab.tmp'), '{"format":1')
    await writeFile(join(dataDir, '.active.json.0123456789ab.tmp'), '{')
    const reopened = await DeploymentStore.open({ dataDir })
    expect(reopened.list().map((version) => version.id)).toEqual(['v1'])
    expect(reopened.problems).toEqual([expect.stringContaining('versions/v2.json is damaged')])
    expect((await reopened.upload(uploadOf('three'))).id).toBe('v3')
    expect((await readdir(dataDir)).filter((name) => name.endsWith('.tmp'))).toEqual([])
  })

  it('the active pointer: absent, written atomically, damaged', async () => {
    const store = await DeploymentStore.open({ dataDir })
    expect(await store.readActive()).toBeUndefined()
    await store.writeActive({ version: 'v1', previous: null, activatedAt: '2025-01-01T00:00:00.000Z' })
    expect(await store.readActive()).toEqual({
      version: 'v1',
      previous: null,
      activatedAt: '2025-01-01T00:00:00.000Z',
    })
    await writeFile(join(dataDir, 'active.json'), '{"version": 3}')
    await expect(store.readActive()).rejects.toMatchObject({ code: 'ACTIVE_POINTER_DAMAGED' })
  })
})
