import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { runInvocation } from '../../src/sandbox/engine.js'
import type { SandboxPool } from '../../src/sandbox/pool.js'
import { LIMITS, buildSources, createTestPool, invoke } from '../helpers/sandbox.js'

const fn = (body: string) => buildSources({ 'fn.js': `async function run() {\n${body}\n}` })

let pool: SandboxPool
beforeEach(() => {
  pool = createTestPool((request) =>
    new URL(request.url).pathname === '/fail'
      ? { status: 500, statusText: 'Error', headers: {}, body: 'no' }
      : { status: 200, statusText: 'OK', headers: {}, body: { ok: true } },
  )
})
afterEach(async () => {
  await pool.close()
})

describe('shared state an invocation could reach', () => {
  it('the error classes handed in cannot hijack stack traces for other invocations', async () => {
    const attacker = await fn(`
      let base
      try { await api.httpGet('https://x.example/fail') } catch (e) { base = Object.getPrototypeOf(e.constructor) }
      const seen = []
      try { base.prepareStackTrace = (error) => { seen.push(error.message); return 'hijacked' } } catch {}
      try { base.stackTraceLimit = 0 } catch {}
      await new Promise((resolve) => setTimeout(resolve, 300))
      return seen`)
    const victim = await fn(`
      await new Promise((resolve) => setTimeout(resolve, 100))
      return String(new Error('victim key=' + triggerParams.key).stack)`)
    const [stolen, own] = await Promise.all([
      invoke(pool, attacker),
      invoke(pool, victim, null, { key: 'sk-VICTIM' }),
    ])
    expect(stolen.value).toEqual([])
    expect(own.value).toContain('victim key=sk-VICTIM')
    expect(own.value).not.toBe('hijacked')
    // And nothing sticks for later invocations on the worker.
    const later = await invoke(pool, await fn("return String(new Error('later').stack)"))
    expect(later.value).toContain('later')
  })

  it('a global set on globalThis is its own and readable there', async () => {
    const outcome = await invoke(pool, await fn('globalThis.helper = () => 42; return globalThis.helper()'))
    expect(outcome.value).toBe(42)
  })
})

describe('memory and volume', () => {
  it('ArrayBuffer memory counts against memoryMb', async () => {
    const outcome = await invoke(
      pool,
      await fn(`
        const held = []
        for (let i = 0; i < 40; i++) {
          held.push(new Uint8Array(16 * 1024 * 1024).fill(1))
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
        return held.length`),
      null,
      {},
      { memoryMb: 64, timeoutMs: 20000 },
    )
    expect(outcome.error).toMatchObject({
      code: 'FUNCTION_OUT_OF_MEMORY',
      message: expect.stringContaining('64 MiB'),
    })
    expect(await invoke(pool, await fn('return "alive"'), null, {}, { memoryMb: 64 })).toMatchObject({
      value: 'alive',
    })
  }, 30000)

  it('caps the logs an invocation may leave on the host', async () => {
    const many = await invoke(pool, await fn('for (let i = 0; i < 3000; i++) api.log(i); return 1'))
    expect(many.logs.length).toBe(1001)
    expect(many.logs.at(-1)).toMatchObject({
      level: 'error',
      value: expect.stringContaining('log limit reached'),
    })
    // 1 MiB of logs in all: a record that does not fit is replaced by a note, and a smaller one
    // after it is still kept.
    const heavy = await invoke(
      pool,
      await fn(
        "const s = 'x'.repeat(400000); for (let i = 0; i < 20; i++) api.log(s); api.log('small, after'); api.log('x'.repeat(5 * 1024 * 1024)); api.log('the last'); return 1",
      ),
    )
    const values = heavy.logs.map((record) => record.value)
    expect(values.slice(0, 2)).toEqual(['x'.repeat(400000), 'x'.repeat(400000)])
    expect(values.slice(2, 20)).toEqual(
      Array.from({ length: 18 }, () => expect.stringMatching(/^a log record of 400002 bytes was dropped: /)),
    )
    expect(values.slice(20)).toEqual([
      'small, after',
      expect.stringMatching(/^a log record of 5242882 bytes was dropped: /),
      'the last',
    ])
    expect(JSON.stringify(heavy.logs).length).toBeLessThan(1.3 * 1024 * 1024)
  })

  it('refuses a result over 10 MiB', async () => {
    const outcome = await invoke(pool, await fn("return 'x'.repeat(11 * 1024 * 1024)"))
    expect(outcome.error).toMatchObject({ code: 'FUNCTION_RESULT_TOO_LARGE' })
  })
})

describe('code left running', () => {
  it('a loop started after run() returned gets the worker replaced; the next invocation fails at once, not at its timeout', async () => {
    const orphan = await invoke(
      pool,
      await fn(';(async () => { for (let i = 0; i < 20; i++) await null; for (;;) {} })(); return "done"'),
    )
    expect(orphan.value).toBe('done')
    const started = Date.now()
    const next = await invoke(pool, await fn('return 1'), null, {}, { timeoutMs: 20000 })
    expect(next.error?.code).toBe('FUNCTION_INTERRUPTED')
    expect(Date.now() - started).toBeLessThan(5000)
    expect(await invoke(pool, await fn('return "alive"'))).toMatchObject({ value: 'alive' })
  })
})

describe('builds', () => {
  it('keeps serving a function after many other builds were loaded and evicted', async () => {
    const first = await fn('return "first"')
    expect((await invoke(pool, first)).value).toBe('first')
    for (let i = 0; i < 40; i++) expect((await invoke(pool, await fn(`return ${i}`))).value).toBe(i)
    expect((await invoke(pool, first)).value).toBe('first')
  }, 30000)
})

describe('redaction of what leaves an invocation', () => {
  it('covers call URLs, hosts, form bodies in logs, and deeply nested results', async () => {
    const secret = 'Pa ss!w0rd~x(1)-Secret'
    const build = await fn(`
      await api.httpGet('https://api.example.com/v1/' + triggerParams.key + '/items')
      api.log(new URLSearchParams({ p: triggerParams.key }).toString())
      let deep = { key: triggerParams.key }
      for (let i = 0; i < 3000; i++) deep = { deep }
      return deep`)
    const report = await runInvocation({
      pool,
      build,
      trigger: 't',
      executionParams: { payload: null, method: 'POST', path: '/', query: {}, headers: {}, requestId: 'r' },
      triggerParams: { key: secret },
      secrets: new Map([['KEY', secret]]),
      limits: LIMITS,
    })
    const text = JSON.stringify(report)
    expect(text).not.toContain(secret)
    expect(text).not.toContain(encodeURIComponent(secret))
    expect(text).not.toContain(new URLSearchParams({ p: secret }).toString().slice(2))
    expect(report.calls[0]?.url).toBe('https://api.example.com/v1/[redacted:KEY]/items')
    expect(report.redactions.map((entry) => entry.where).sort()).toEqual(['calls[0]', 'logs[0]', 'result'])
  })
})
