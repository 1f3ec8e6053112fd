import { describe, expect, it } from 'vitest'
import { buildSources, createTestPool, invoke, LIMITS } from '../helpers/sandbox.js'

const fn = (body: string) => buildSources({ 'fn.js': `async function run() {\n${body}\n}` })

describe('limits', () => {
  it('a promise that never settles times out (504) without disturbing others on the same worker', async () => {
    const pool = createTestPool(undefined, { size: 1 })
    try {
      const [stuck, fine] = await Promise.all([
        invoke(pool, await fn('await new Promise(() => {})'), null, {}, { timeoutMs: 300 }),
        invoke(
          pool,
          await fn('await new Promise((resolve) => setTimeout(resolve, 600)); return "done"'),
          null,
          {},
          { timeoutMs: 5000 },
        ),
      ])
      expect(stuck.error).toMatchObject({
        code: 'FUNCTION_TIMEOUT',
        status: 504,
        message: expect.stringContaining('300 ms'),
      })
      expect(fine).toMatchObject({ ok: true, value: 'done' })
    } finally {
      await pool.close()
    }
  })

  it('a synchronous loop times out; the worker is replaced and others caught on it fail at once with a code', async () => {
    const pool = createTestPool(undefined, { size: 1 })
    try {
      const waiting = invoke(
        pool,
        await fn('await new Promise((resolve) => setTimeout(resolve, 10000)); return 1'),
        null,
        {},
        { timeoutMs: 20000 },
      )
      const started = Date.now()
      const loop = await invoke(pool, await fn('while (true) {}'), null, {}, { timeoutMs: 300 })
      expect(loop.error).toMatchObject({ code: 'FUNCTION_TIMEOUT', status: 504 })
      const other = await waiting
      expect(other.error).toMatchObject({ code: 'FUNCTION_INTERRUPTED', status: 503 })
      expect(Date.now() - started).toBeLessThan(5000)
      // The pool keeps serving with a fresh worker.
      expect(await invoke(pool, await fn('return "alive"'))).toMatchObject({ ok: true, value: 'alive' })
    } finally {
      await pool.close()
    }
  })

  it('an invocation that finishes is answered even when one sent with it then blocks the worker', async () => {
    const pool = createTestPool(undefined, { size: 1 })
    try {
      const [quick, loopFn] = await Promise.all([fn('return "quick"'), fn('while (true) {}')])
      // Both loaded first, so the two invocations below are sent in the same turn and reach the
      // worker together: the first must not wait on the second.
      await Promise.all([pool.preload(quick, LIMITS.memoryMb), pool.preload(loopFn, LIMITS.memoryMb)])
      const [done, loop] = await Promise.all([
        invoke(pool, quick),
        invoke(pool, loopFn, null, {}, { timeoutMs: 300 }),
      ])
      expect(done).toMatchObject({ ok: true, value: 'quick' })
      expect(loop.error).toMatchObject({ code: 'FUNCTION_TIMEOUT' })
    } finally {
      await pool.close()
    }
  })

  it('an allocation loop ends with FUNCTION_OUT_OF_MEMORY and the pool keeps serving', async () => {
    const pool = createTestPool(undefined, { size: 1 })
    try {
      const outcome = await invoke(
        pool,
        await fn('const hoard = []; while (true) hoard.push(new Array(100000).fill(Math.random()))'),
        null,
        {},
        {
          memoryMb: 32,
          timeoutMs: 20000,
        },
      )
      expect(outcome.error).toMatchObject({
        code: 'FUNCTION_OUT_OF_MEMORY',
        status: 500,
        message: expect.stringContaining('32 MiB'),
      })
      expect(await invoke(pool, await fn('return "alive"'), null, {}, { memoryMb: 32 })).toMatchObject({
        ok: true,
        value: 'alive',
      })
    } finally {
      await pool.close()
    }
  }, 30000)

  it('a payload too deep for a structured clone fails its own invocation (400), not the pool nor the others sent with it', async () => {
    const pool = createTestPool(undefined, { size: 1 })
    try {
      const echo = await fn('return executionParams.payload')
      const depth = 100_000
      const [deep, sentAlongside] = await Promise.all([
        invoke(pool, echo, JSON.parse(`${'['.repeat(depth)}${']'.repeat(depth)}`)),
        invoke(pool, echo, 'beside'),
      ])
      expect(deep.error).toMatchObject({ code: 'PAYLOAD_TOO_DEEP', status: 400 })
      expect(sentAlongside).toMatchObject({ ok: true, value: 'beside' })
      // A payload the clone can carry is still handed over whole.
      const nested = JSON.parse(`${'['.repeat(1000)}1${']'.repeat(1000)}`) as unknown
      expect(await invoke(pool, echo, nested)).toMatchObject({ ok: true, value: nested })
    } finally {
      await pool.close()
    }
  })

  it('stops outbound calls past the per-invocation limit', async () => {
    const pool = createTestPool()
    try {
      const outcome = await invoke(
        pool,
        await fn("for (let i = 0; i < 10; i++) await api.httpGet('https://a.example/' + i); return 'no'"),
        null,
        {},
        { maxCalls: 3 },
      )
      expect(outcome.error).toMatchObject({
        code: 'FUNCTION_CALL_LIMIT',
        message: expect.stringContaining('at most 3'),
      })
      expect(outcome.calls).toHaveLength(4)
      const caught = await invoke(
        pool,
        await fn(
          "try { for (let i = 0; i < 10; i++) await api.httpGet('https://a.example/'); } catch (e) { return e.code }",
        ),
        null,
        {},
        { maxCalls: 2 },
      )
      expect(caught.value).toBe('FUNCTION_CALL_LIMIT')
    } finally {
      await pool.close()
    }
  })

  it('aborts in-flight outbound calls when the invocation times out, and bounds each call by the time left', async () => {
    const seen: { deadline: number; calledAt: number; aborted: boolean }[] = []
    const pool = createTestPool()
    // A pool whose upstream never answers until aborted.
    const slow = new (await import('../../src/sandbox/pool.js')).SandboxPool({
      size: 1,
      handleCall: (_request, { deadline, signal }) =>
        new Promise((_resolve, reject) => {
          const record = { deadline, calledAt: Date.now(), aborted: false }
          seen.push(record)
          signal.addEventListener('abort', () => {
            record.aborted = true
            reject(Object.assign(new Error('aborted'), { code: 'EGRESS_ABORTED' }))
          })
        }),
    })
    try {
      const outcome = await invoke(
        slow,
        await fn("await api.httpGet('https://a.example/slow', { timeoutMs: 60000 })"),
        null,
        {},
        { timeoutMs: 400 },
      )
      expect(outcome.error?.code).toBe('FUNCTION_TIMEOUT')
      expect(seen).toHaveLength(1)
      expect(seen[0]!.aborted).toBe(true)
      // The call's own 60 s was cut to what was left of the invocation's 400 ms (plus the small
      // slack that lets the invocation's timeout fire first).
      expect(seen[0]!.deadline - seen[0]!.calledAt).toBeLessThanOrEqual(550)
    } finally {
      await Promise.all([slow.close(), pool.close()])
    }
  })

  it('clears an invocation’s timers when it ends', async () => {
    const pool = createTestPool()
    try {
      const outcome = await invoke(
        pool,
        await fn(
          "setInterval(() => api.log('tick'), 5); setTimeout(() => api.log('late'), 50); return 'early'",
        ),
      )
      expect(outcome.value).toBe('early')
      await new Promise((resolve) => setTimeout(resolve, 120))
      expect(outcome.logs).toEqual([])
    } finally {
      await pool.close()
    }
  })
})
