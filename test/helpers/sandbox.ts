import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { buildFunction, type FunctionBuild } from '../../src/build/bundle.js'
import type { BridgeRequest, BridgeResponse } from '../../src/sandbox/protocol.js'
import { SandboxPool, type InvocationLimits, type InvocationOutcome } from '../../src/sandbox/pool.js'

export const LIMITS: InvocationLimits = { timeoutMs: 2000, memoryMb: 64, maxCalls: 50 }

/** An upstream's answer in a test: the body as the function should see it. */
export interface TestAnswer extends Omit<BridgeResponse, 'text'> {
  body: unknown
}

/** A pool whose outbound calls are answered by `answer` (the egress guard has its own tests). */
export function createTestPool(
  answer: (request: BridgeRequest) => Promise<TestAnswer> | TestAnswer = (request) => ({
    status: 200,
    statusText: 'OK',
    headers: { 'content-type': 'application/json' },
    body: { url: request.url, method: request.method },
  }),
  options: { size?: number; cancelGraceMs?: number } = {},
): SandboxPool {
  return new SandboxPool({
    handleCall: async (request) => asSent(await answer(request)),
    size: options.size ?? 1,
    ...options,
  })
}

/** The answer as the host sends it: text, labelled JSON when it is not a string already. */
function asSent({ body, ...response }: TestAnswer): BridgeResponse {
  if (typeof body === 'string') return { ...response, text: body }
  return {
    ...response,
    headers: { 'content-type': 'application/json', ...response.headers },
    text: JSON.stringify(body),
  }
}

/** Builds function sources written to a temporary project folder. */
export async function buildSources(
  files: Record<string, string>,
  entry = Object.keys(files)[0]!,
  { sourceMap = false } = {},
): Promise<FunctionBuild> {
  const root = await mkdtemp(join(tmpdir(), 'centrali-fn-'))
  try {
    for (const [name, source] of Object.entries(files)) {
      await mkdir(dirname(join(root, name)), { recursive: true })
      await writeFile(join(root, name), source)
    }
    return await buildFunction({ root, entry, sourceMap })
  } finally {
    await rm(root, { recursive: true, force: true })
  }
}

let requestCounter = 0

/** An outcome with run()'s result parsed, as tests read it. */
export type TestOutcome = InvocationOutcome & { value?: unknown }

export async function invoke(
  pool: SandboxPool,
  build: FunctionBuild,
  payload: unknown = null,
  triggerParams: Record<string, string | number | boolean | null> = {},
  limits: Partial<InvocationLimits> = {},
): Promise<TestOutcome> {
  const outcome = await pool.invoke({
    build,
    trigger: 'test',
    executionParams: {
      payload,
      method: 'POST',
      path: '/endpoints/test',
      query: {},
      headers: {},
      requestId: `req-${++requestCounter}`,
    },
    triggerParams,
    limits: { ...LIMITS, ...limits },
  })
  return outcome.json === undefined ? outcome : { ...outcome, value: JSON.parse(outcome.json) as unknown }
}
