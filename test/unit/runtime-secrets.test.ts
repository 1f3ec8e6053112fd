import { createHash } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { resolveToken } from '../../src/runtime/auth.js'
import { RuntimeMetrics } from '../../src/runtime/metrics.js'
import { resolveMasterKey, RuntimeSecrets } from '../../src/runtime/secrets.js'
import { assertSecretName } from '../../src/secrets/store.js'

/** The server's token, master key, encrypted secrets and metrics, on a real temp folder. */

let dataDir: string

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'centrali-runtime-'))
})
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true })
})

describe('token', () => {
  it('generates one on first use, keeps only its SHA-256, and accepts only it', async () => {
    const first = await resolveToken(dataDir, {})
    const token = first.generated!
    expect(token).toMatch(/^crt_[A-Za-z0-9_-]{43}$/)
    const file = await readFile(join(dataDir, 'token.json'), 'utf8')
    expect(file).not.toContain(token)
    expect(file).toContain(createHash('sha256').update(token).digest('hex'))
    expect((await stat(join(dataDir, 'token.json'))).mode & 0o777).toBe(0o600)

    const again = await resolveToken(dataDir, {})
    expect(again.generated).toBeUndefined()
    expect(again.accepts(`Bearer ${token}`)).toBe(true)
    expect(again.accepts(`bearer   ${token}`)).toBe(true)
    for (const header of [
      undefined,
      '',
      token,
      `Bearer ${token}x`,
      `Bearer ${token.slice(0, -1)}`,
      `Basic ${token}`,
    ])
      expect(again.accepts(header)).toBe(false)
  })

  it('CENTRALI_RUNTIME_TOKEN wins, creates nothing, and must not be trivially short', async () => {
    const env = { CENTRALI_RUNTIME_TOKEN: 'a-long-enough-token-123' }
    const check = await resolveToken(dataDir, env)
    expect(check.generated).toBeUndefined()
    expect(check.accepts('Bearer a-long-enough-token-123')).toBe(true)
    await expect(stat(join(dataDir, 'token.json'))).rejects.toThrow()
    await expect(resolveToken(dataDir, { CENTRALI_RUNTIME_TOKEN: 'short' })).rejects.toMatchObject({
      code: 'RUNTIME_TOKEN_WEAK',
    })
  })

  it('a damaged token file stops the start with what to do', async () => {
    await writeFile(join(dataDir, 'token.json'), '{')
    await expect(resolveToken(dataDir, {})).rejects.toMatchObject({ code: 'RUNTIME_TOKEN_FILE_DAMAGED' })
  })
})

describe('master key and secrets', () => {
  it('creates master.key 0600 once; reads hex or base64 from CENTRALI_MASTER_KEY; refuses anything else', async () => {
    const created = await resolveMasterKey(dataDir, {})
    expect((await stat(join(dataDir, 'master.key'))).mode & 0o777).toBe(0o600)
    expect((await resolveMasterKey(dataDir, {})).key.equals(created.key)).toBe(true)
    const key = Buffer.alloc(32, 3)
    for (const text of [key.toString('hex'), key.toString('base64')])
      expect((await resolveMasterKey(dataDir, { CENTRALI_MASTER_KEY: text })).key.equals(key)).toBe(true)
    for (const text of ['abc', Buffer.alloc(16).toString('base64'), `${key.toString('base64')}!`]) {
      await expect(resolveMasterKey(dataDir, { CENTRALI_MASTER_KEY: text })).rejects.toMatchObject({
        code: 'MASTER_KEY_INVALID',
      })
    }
  })

  it('a generated master.key is whole or absent: concurrent first starts all get the one key, and say it was generated once', async () => {
    const starts = await Promise.all(Array.from({ length: 12 }, () => resolveMasterKey(dataDir, {})))
    const key = starts[0]!.key
    expect(starts.every((start) => start.key.equals(key))).toBe(true)
    expect(starts.filter((start) => start.generated === true)).toHaveLength(1)
    expect(await readFile(join(dataDir, 'master.key'), 'utf8')).toBe(`${key.toString('base64')}\n`)
    expect((await stat(join(dataDir, 'master.key'))).mode & 0o777).toBe(0o600)
    expect((await readdir(dataDir)).filter((name) => name.endsWith('.tmp'))).toEqual([])
    expect((await resolveMasterKey(dataDir, {})).generated).toBeUndefined()
  })

  it('secret names: up to 128 characters, as the local store allows', async () => {
    const secrets = await RuntimeSecrets.open(dataDir, await resolveMasterKey(dataDir, {}))
    const longest = `A${'B'.repeat(127)}`
    await expect(secrets.set(longest, 'x')).resolves.toMatchObject({ name: longest })
    expect(() => assertSecretName(longest)).not.toThrow()
    expect(() => secrets.set(`${longest}C`, 'x')).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }))
    expect(() => assertSecretName(`${longest}C`)).toThrow(
      expect.objectContaining({ code: 'SECRET_NAME_INVALID' }),
    )
  })

  it('stores values encrypted, reveals them per call, rotates, removes, and lists names only', async () => {
    const master = await resolveMasterKey(dataDir, {})
    const secrets = await RuntimeSecrets.open(dataDir, master)
    expect(secrets.reveal('API_KEY')).toBeUndefined()
    await secrets.set('API_KEY', 'sk-one-secret-value')
    expect(secrets.reveal('API_KEY')).toBe('sk-one-secret-value')
    await secrets.set('API_KEY', 'sk-two-secret-value')
    expect(secrets.reveal('API_KEY')).toBe('sk-two-secret-value')
    expect(secrets.list()).toEqual([{ name: 'API_KEY', updatedAt: expect.any(String) }])

    const text = await readFile(join(dataDir, 'secrets.json'), 'utf8')
    for (const value of ['sk-one-secret-value', 'sk-two-secret-value'])
      for (const form of [value, Buffer.from(value).toString('base64')]) expect(text).not.toContain(form)
    expect((await stat(join(dataDir, 'secrets.json'))).mode & 0o777).toBe(0o600)

    // Read back by a new start.
    expect((await RuntimeSecrets.open(dataDir, master)).reveal('API_KEY')).toBe('sk-two-secret-value')
    await expect(secrets.remove('API_KEY')).resolves.toEqual({ name: 'API_KEY', deleted: true })
    await expect(secrets.remove('API_KEY')).rejects.toMatchObject({ code: 'SECRET_NOT_FOUND', status: 404 })
    expect(() => secrets.set('lower', 'x')).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }))
    expect(() => secrets.set('EMPTY', '')).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }))
  })

  it('another master key, a tampered value or a damaged file are each reported, never written over', async () => {
    const master = await resolveMasterKey(dataDir, {})
    const secrets = await RuntimeSecrets.open(dataDir, master)
    await secrets.set('API_KEY', 'value-1')
    await expect(
      RuntimeSecrets.open(dataDir, { key: Buffer.alloc(32, 9), source: 'test' }),
    ).rejects.toMatchObject({ code: 'MASTER_KEY_WRONG' })

    const path = join(dataDir, 'secrets.json')
    const file = JSON.parse(await readFile(path, 'utf8')) as { secrets: { API_KEY: { data: string } } }
    file.secrets.API_KEY.data = Buffer.from('tampered').toString('base64')
    await writeFile(path, JSON.stringify(file))
    const tampered = await RuntimeSecrets.open(dataDir, master)
    expect(() => tampered.reveal('API_KEY')).toThrow(expect.objectContaining({ code: 'SECRET_UNREADABLE' }))

    await writeFile(path, '{"version":1,"secr')
    await expect(RuntimeSecrets.open(dataDir, master)).rejects.toMatchObject({
      code: 'SECRETS_STORE_CORRUPT',
    })
    expect(await readFile(path, 'utf8')).toBe('{"version":1,"secr')
  })
})

describe('metrics', () => {
  it('renders counters, a cumulative histogram and escaped labels in the Prometheus text format', () => {
    const metrics = new RuntimeMetrics()
    metrics.record({ trigger: 'chat', status: 200, durationMs: 20, blockedHosts: [] })
    metrics.record({ trigger: 'chat', status: 200, durationMs: 700, blockedHosts: [] })
    metrics.record({
      trigger: 'chat',
      status: 502,
      durationMs: 3,
      errorCode: 'EGRESS_HOST_DENIED',
      blockedHosts: ['evil"host\\x'],
    })
    metrics.record({ status: 503, durationMs: 0, errorCode: 'NO_ACTIVE_VERSION', blockedHosts: [] })
    const text = metrics.render('v4')
    expect(text).toContain('centrali_invocations_total{trigger="chat",status="200"} 2\n')
    expect(text).toContain('centrali_invocations_total{trigger="chat",status="502"} 1\n')
    expect(text).not.toContain('status="503"')
    expect(text).toContain('centrali_invocation_errors_total{code="NO_ACTIVE_VERSION"} 1\n')
    expect(text).toContain('centrali_invocation_duration_seconds_bucket{trigger="chat",le="0.005"} 1\n')
    expect(text).toContain('centrali_invocation_duration_seconds_bucket{trigger="chat",le="0.025"} 2\n')
    expect(text).toContain('centrali_invocation_duration_seconds_bucket{trigger="chat",le="1"} 3\n')
    expect(text).toContain('centrali_invocation_duration_seconds_bucket{trigger="chat",le="+Inf"} 3\n')
    expect(text).toContain('centrali_invocation_duration_seconds_sum{trigger="chat"} 0.723\n')
    expect(text).toContain('centrali_egress_blocked_total{host="evil\\"host\\\\x"} 1\n')
    expect(text).toContain('centrali_active_version_info{version="v4"} 1\n')
    for (const line of text.trim().split('\n'))
      expect(line).toMatch(/^(# (HELP|TYPE) \w+ .+|\w+\{[^}]*\} [\d.e+-]+)$/)
  })
})
