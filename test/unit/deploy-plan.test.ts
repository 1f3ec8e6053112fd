import { describe, expect, it } from 'vitest'
import { createRuntimeClient } from '../../src/deploy/api-client.js'
import { deployManifest } from '../../src/deploy/bundle.js'
import { computePlan, renderPlan, type DeployPlan } from '../../src/deploy/plan.js'
import { resolveRuntimeTarget } from '../../src/deploy/target.js'
import type { ProjectConfig } from '../../src/project/schema.js'
import type { Manifest } from '../../src/runtime/protocol.js'
import { CentraliError } from '../../src/shared/errors.js'

const config = (targets: ProjectConfig['targets']): ProjectConfig => ({
  functions: { proxy: { entry: 'functions/proxy.ts' } },
  triggers: {
    chat: { type: 'endpoint', function: 'proxy', params: { key: { secret: 'API_KEY' }, model: 'a' } },
  },
  domains: ['api.example.com'],
  targets,
})

function errorCode(run: () => unknown): string | undefined {
  try {
    run()
  } catch (error) {
    return error instanceof CentraliError ? `${error.code}:${error.exitCode}` : 'not a CentraliError'
  }
  return undefined
}

describe('resolveRuntimeTarget', () => {
  const env = { CENTRALI_TOKEN: 'token' }

  it('takes plain http only to loopback, and trims a trailing slash', () => {
    for (const url of [
      'http://127.0.0.1:8788',
      'http://127.0.0.2',
      'http://[::1]:8788/',
      'http://localhost:1/',
    ]) {
      const target = resolveRuntimeTarget(config({ default: { type: 'runtime', url } }), undefined, env)
      expect(target.url.endsWith('/')).toBe(false)
    }
    for (const url of [
      'http://10.0.0.1:8788',
      'http://example.com',
      'http://127.0.0.1.nip.io',
      'http://[::2]',
    ]) {
      expect(
        errorCode(() => resolveRuntimeTarget(config({ d: { type: 'runtime', url } }), undefined, env)),
      ).toBe('TARGET_URL_INSECURE:1')
    }
    const https = resolveRuntimeTarget(
      config({ default: { type: 'runtime', url: 'https://rt.example.com/base/' } }),
      undefined,
      env,
    )
    expect(https).toMatchObject({
      url: 'https://rt.example.com/base',
      tokenEnv: 'CENTRALI_TOKEN',
      token: 'token',
    })
  })

  it('trims the token, and refuses one with characters a header cannot carry without echoing it', () => {
    const runtime = config({ default: { type: 'runtime', url: 'https://rt.example.com' } })
    expect(resolveRuntimeTarget(runtime, undefined, { CENTRALI_TOKEN: ' \ttoken-1\n' }).token).toBe('token-1')
    for (const token of [
      'tok\nen-SECRETPART',
      'tok en-SECRETPART',
      'tök-SECRETPART',
      'tok\u0000-SECRETPART',
    ]) {
      let error: unknown
      try {
        resolveRuntimeTarget(runtime, undefined, { CENTRALI_TOKEN: token })
      } catch (caught) {
        error = caught
      }
      expect(error).toBeInstanceOf(CentraliError)
      expect((error as CentraliError).code).toBe('DEPLOY_TOKEN_INVALID')
      expect(JSON.stringify(error) + String((error as Error).message)).not.toContain('SECRETPART')
    }
  })

  it("a failed request is reported by URL and error code, never by the error's message (fetch quotes header values)", async () => {
    const target = resolveRuntimeTarget(
      config({ default: { type: 'runtime', url: 'https://rt.example.com' } }),
      undefined,
      env,
    )
    const failing = (error: unknown) =>
      createRuntimeClient({ target, fetch: () => Promise.reject(error) })
        .versions()
        .then(
          () => undefined,
          (reason: unknown) => reason as CentraliError,
        )
    const invalid = await failing(
      new TypeError('Headers.append: "Bearer SECRETPART\nx" is an invalid header value.'),
    )
    expect(invalid).toMatchObject({ code: 'RUNTIME_UNREACHABLE' })
    expect(invalid!.message).toBe(
      'Could not reach the runtime at https://rt.example.com/v1/versions: the request failed (TypeError).',
    )
    const cause = Object.assign(new Error('connect EWEIRD 10.0.0.1:443 SECRETPART'), { code: 'EWEIRD' })
    const coded = await failing(new TypeError('fetch failed SECRETPART', { cause }))
    expect(coded!.message).toBe(
      'Could not reach the runtime at https://rt.example.com/v1/versions: the request failed (EWEIRD).',
    )
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })
    expect((await failing(new TypeError('fetch failed', { cause: refused })))!.message).toContain(
      'the connection was refused',
    )
  })

  it('picks --target, else "default", else the only one; names the token variable when it is unset', () => {
    const runtime = { type: 'runtime' as const, url: 'https://rt.example.com' }
    expect(resolveRuntimeTarget(config({ a: runtime, default: runtime }), undefined, env).name).toBe(
      'default',
    )
    expect(resolveRuntimeTarget(config({ only: runtime }), undefined, env).name).toBe('only')
    expect(resolveRuntimeTarget(config({ a: runtime, b: runtime }), 'b', env).name).toBe('b')
    expect(errorCode(() => resolveRuntimeTarget(config({ a: runtime, b: runtime }), undefined, env))).toBe(
      'TARGET_REQUIRED:2',
    )
    expect(errorCode(() => resolveRuntimeTarget(config({ a: runtime }), 'constructor', env))).toBe(
      'TARGET_NOT_FOUND:2',
    )
    expect(errorCode(() => resolveRuntimeTarget(config(undefined), undefined, env))).toBe('NO_TARGETS:1')
    expect(
      errorCode(() =>
        resolveRuntimeTarget(config({ edge: { type: 'cloudflare', name: 'worker' } }), undefined, env),
      ),
    ).toBe('TARGET_UNSUPPORTED:1')
    expect(() =>
      resolveRuntimeTarget(config({ a: { ...runtime, tokenEnv: 'MY_TOKEN' } }), undefined, { MY_TOKEN: '' }),
    ).toThrow(/MY_TOKEN is not set/)
  })
})

describe('deployManifest', () => {
  it("leaves out a trigger's examplePayload, so a change to it alone is no change to deploy", () => {
    const bundles = [
      {
        function: 'proxy',
        entry: 'functions/proxy.ts',
        hash: 'aaa',
        code: '',
        size: 0,
        sourceMap: undefined,
      },
    ]
    const plain = config(undefined)
    const withExample: ProjectConfig = {
      ...plain,
      triggers: { chat: { ...plain.triggers.chat!, examplePayload: { messages: ['hi'] } } },
    }
    const manifest = deployManifest(withExample, bundles)
    expect(manifest.triggers).toEqual(plain.triggers)
    expect(JSON.stringify(manifest)).not.toContain('examplePayload')
    // The project's own config is left as it was.
    expect(withExample.triggers.chat!.examplePayload).toEqual({ messages: ['hi'] })
    const plan = computePlan({
      target: { name: 'default', url: 'https://rt.example.com' },
      config: withExample,
      manifest,
      active: {
        version: {
          id: 'v1',
          createdAt: '2030-01-01T00:00:00.000Z',
          size: 0,
          functions: [],
          triggers: [],
          active: true,
        },
        manifest: deployManifest(plain, bundles),
      },
      remoteSecrets: [{ name: 'API_KEY', updatedAt: '2030-01-01T00:00:00.000Z' }],
    })
    expect(plan.changed).toBe(false)
  })
})

describe('computePlan', () => {
  const manifest = (functions: Manifest['functions'], extra: Partial<Manifest> = {}): Manifest => ({
    functions,
    triggers: config(undefined).triggers,
    domains: ['api.example.com'],
    ...extra,
  })
  const target = { name: 'default', url: 'https://rt.example.com' }
  const version = {
    id: 'v4',
    createdAt: '2030-01-01T00:00:00.000Z',
    size: 10,
    functions: [],
    triggers: [],
    active: true,
  }

  it('compares by bundle hash and reports trigger fields, domains and secrets on the target', () => {
    const before = manifest(
      { proxy: { bundle: 'aaa', size: 100 }, old: { bundle: 'ccc', size: 50 } },
      {
        triggers: {
          chat: { type: 'endpoint', function: 'proxy', params: { model: 'a', key: { secret: 'API_KEY' } } },
        },
        domains: ['api.example.com', 'gone.example.com'],
      },
    )
    const plan: DeployPlan = computePlan({
      target,
      config: config(undefined),
      manifest: manifest({ proxy: { bundle: 'bbb', size: 120 } }),
      active: { version, manifest: before },
      remoteSecrets: [],
    })
    expect(plan.active).toBe('v4')
    expect(plan.functions).toEqual([
      { name: 'proxy', change: 'changed', size: 120, hash: 'bbb', previousSize: 100, previousHash: 'aaa' },
      { name: 'old', change: 'removed', size: null, hash: null, previousSize: 50, previousHash: 'ccc' },
    ])
    // Same params in another key order: unchanged.
    expect(plan.triggers).toEqual([{ name: 'chat', change: 'unchanged', function: 'proxy', fields: [] }])
    expect(plan.domains).toEqual([
      { domain: 'api.example.com', change: 'unchanged' },
      { domain: 'gone.example.com', change: 'removed' },
    ])
    expect(plan.missingSecrets).toEqual(['API_KEY'])
    const text = renderPlan(plan, (_style, value) => value).join('\n')
    expect(text).toContain('~ proxy  100 B → 120 B (+20 B)  changed')
    expect(text).toContain('centrali secrets push --target default API_KEY')
  })

  it('a first deploy has everything new and counts as a change', () => {
    const plan = computePlan({
      target,
      config: config(undefined),
      manifest: manifest({ proxy: { bundle: 'aaa', size: 100 } }),
      active: null,
      remoteSecrets: [{ name: 'API_KEY', updatedAt: '2030-01-01T00:00:00.000Z' }],
    })
    expect(plan).toMatchObject({ active: null, changed: true, missingSecrets: [], totalSize: 100 })
    expect(plan.functions[0]!.change).toBe('new')
    expect(plan.triggers[0]!.change).toBe('added')
    expect(plan.secrets).toEqual([
      { name: 'API_KEY', usedBy: [{ trigger: 'chat', param: 'key' }], onTarget: true },
    ])
  })
})
