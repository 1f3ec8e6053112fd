import { access, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { execa } from 'execa'
import ts from 'typescript'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CentraliError, createClient } from '../../src/client/index.js'
import type { InvocationReport } from '../../src/sandbox/engine.js'
import { startEndpointServer, type EndpointServer } from '../../src/server/http.js'
import { ROOT } from '../helpers/cli.js'

/**
 * The options of `centrali/client` (headers, fetch, signal) against the real endpoint server on
 * 127.0.0.1, and the package's `centrali/client` export as Node and TypeScript resolve it.
 * The basic contract (result, CentraliError, NETWORK_ERROR) is in server.test.ts.
 */
let server: EndpointServer
/** Triggers whose function ran, in order. */
const invoked: string[] = []
/** Releases the `held` invocations still waiting. */
const held: (() => void)[] = []

const result = (value: unknown): InvocationReport => ({
  ok: true,
  logs: [],
  calls: [],
  durationMs: 1,
  redactions: [],
  resultJson: JSON.stringify(value),
})

beforeAll(async () => {
  server = await startEndpointServer({
    host: '127.0.0.1',
    port: 0,
    route: (trigger) => {
      // `headers` answers with the request headers as the function saw them.
      if (trigger === 'headers')
        return {
          invoke: async (params) => {
            invoked.push(trigger)
            return result(params.headers)
          },
        }
      // `held` answers only when the test releases it.
      if (trigger === 'held')
        return {
          invoke: (params) => {
            invoked.push(trigger)
            return new Promise((resolve) => held.push(() => resolve(result({ payload: params.payload }))))
          },
        }
      return undefined
    },
  })
})
afterAll(async () => {
  for (const release of held.splice(0)) release()
  await server.close()
})

/** The request headers as the function saw them. */
type SeenHeaders = Record<string, string>

describe('centrali/client options', () => {
  it('sends the client’s headers with every call', async () => {
    const client = createClient({
      url: server.url,
      headers: { authorization: 'Bearer client-token', 'x-app': 'chat' },
    })
    for (const payload of [1, 2]) {
      const headers = await client.triggers.invokeEndpoint<SeenHeaders>('headers', { payload })
      expect(headers).toMatchObject({
        authorization: 'Bearer client-token',
        'x-app': 'chat',
        'content-type': 'application/json',
      })
    }
  })

  it('merges a call’s headers over the client’s, for that call only', async () => {
    const client = createClient({
      url: server.url,
      headers: { authorization: 'Bearer client-token', 'x-app': 'chat' },
    })
    const overridden = await client.triggers.invokeEndpoint<SeenHeaders>('headers', {
      headers: { authorization: 'Bearer call-token', 'x-trace': 'abc' },
    })
    expect(overridden).toMatchObject({
      authorization: 'Bearer call-token',
      'x-app': 'chat',
      'x-trace': 'abc',
    })
    const next = await client.triggers.invokeEndpoint<SeenHeaders>('headers')
    expect(next).toMatchObject({ authorization: 'Bearer client-token', 'x-app': 'chat' })
    expect(next['x-trace']).toBeUndefined()
  })

  it('matches header names case-insensitively: a call’s x-app replaces the client’s X-App', async () => {
    const client = createClient({
      url: server.url,
      headers: { 'X-App': 'client', 'Content-Type': 'text/plain' },
    })
    const seen = await client.triggers.invokeEndpoint<SeenHeaders>('headers', {
      headers: { 'x-app': 'call' },
    })
    expect(seen['x-app']).toBe('call')
    expect(seen['content-type']).toBe('text/plain')
  })

  it('calls through the fetch it is given instead of the global one', async () => {
    // The client's URL does not resolve: only the given fetch, which maps it to the server, reaches it.
    const asked: { url: string; method: string | undefined }[] = []
    const client = createClient({
      url: 'http://centrali.invalid',
      fetch: (input, init) => {
        const url = String(input)
        asked.push({ url, method: init?.method })
        return fetch(url.replace('http://centrali.invalid', server.url), init)
      },
    })
    const before = invoked.length
    const headers = await client.triggers.invokeEndpoint<SeenHeaders>('headers', {
      headers: { 'x-via': 'custom' },
    })
    expect(headers['x-via']).toBe('custom')
    expect(asked).toEqual([{ url: 'http://centrali.invalid/endpoints/headers', method: 'POST' }])
    expect(invoked.slice(before)).toEqual(['headers'])
  })

  it('rejects with the AbortError, not a CentraliError, when the signal is already aborted; nothing is sent', async () => {
    const before = invoked.length
    const error = await createClient({ url: server.url })
      .triggers.invokeEndpoint('headers', { signal: AbortSignal.abort() })
      .then(
        () => undefined,
        (reason: unknown) => reason,
      )
    expect(error).toMatchObject({ name: 'AbortError' })
    expect(error).not.toBeInstanceOf(CentraliError)
    expect(invoked.length).toBe(before)
  })

  it('rejects with the AbortError when the signal aborts while the function runs', async () => {
    const controller = new AbortController()
    const call = createClient({ url: server.url })
      .triggers.invokeEndpoint('held', { payload: 'waiting', signal: controller.signal })
      .then(
        () => 'resolved',
        (reason: unknown) => reason,
      )
    while (held.length === 0) await new Promise((resolve) => setTimeout(resolve, 5))
    controller.abort()
    // Were the signal ignored, releasing the function a little later would resolve the call.
    const late = setTimeout(() => held.splice(0).forEach((release) => release()), 1000)
    try {
      const error = await call
      expect(error).toMatchObject({ name: 'AbortError' })
      expect(error).not.toBeInstanceOf(CentraliError)
    } finally {
      clearTimeout(late)
      for (const release of held.splice(0)) release()
    }
  })
})

describe('the centrali/client export', () => {
  it('resolves from the project root to the built client, and it works', async () => {
    // A separate Node process, as a consumer imports it: by the package's name and subpath.
    const script = `
      const resolved = import.meta.resolve('centrali/client')
      const { createClient, CentraliError } = await import('centrali/client')
      const reply = await createClient({ url: process.argv[1] }).triggers.invokeEndpoint('headers', {
        headers: { 'x-from': 'export' },
      })
      const error = new CentraliError('SOME_CODE', 'message', 500)
      console.log(JSON.stringify({ resolved, xFrom: reply['x-from'], isError: error instanceof Error, code: error.code }))
    `
    const child = await execa(process.execPath, ['--input-type=module', '-e', script, server.url], {
      cwd: ROOT,
      reject: false,
      timeout: 15_000,
    })
    expect(child.stderr).toBe('')
    expect(JSON.parse(String(child.stdout))).toEqual({
      resolved: pathToFileURL(join(ROOT, 'dist/client/index.js')).href,
      xFrom: 'export',
      isError: true,
      code: 'SOME_CODE',
    })
  })

  it('gives TypeScript dist/client/index.d.ts, which declares createClient and CentraliError', async () => {
    const types = join(ROOT, 'dist/client/index.d.ts')
    await access(types)
    const { resolvedModule } = ts.resolveModuleName(
      'centrali/client',
      join(ROOT, 'consumer.ts'),
      { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext },
      ts.sys,
    )
    expect(resolvedModule?.resolvedFileName).toBe(types)
    const declarations = await readFile(types, 'utf8')
    expect(declarations).toMatch(
      /export declare function createClient\(options: ClientOptions\): CentraliClient;/,
    )
    expect(declarations).toMatch(/export declare class CentraliError extends Error \{/)
  })
})
