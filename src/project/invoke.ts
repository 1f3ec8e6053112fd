import { randomUUID } from 'node:crypto'
import { join, relative } from 'node:path'
import { buildFunctionCached } from '../build/cache.js'
import { stackLines } from '../build/source-map.js'
import { formatBuildProblem } from '../build/bundle.js'
import { createLazyEgressClient } from '../egress/lazy.js'
import { createCallHandler } from '../sandbox/bridge.js'
import { resultOf, runInvocation, type InvocationReport } from '../sandbox/engine.js'
import { SandboxPool } from '../sandbox/pool.js'
import { UsageError, UserError } from '../shared/errors.js'
import { loadProject, type LoadOptions, type Project } from './load.js'
import { DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_MS, type TriggerConfig } from './schema.js'
import { resolveTriggerParams } from './secrets.js'
import { STATE_DIR } from '../shared/state-dir.js'

/** DESIGN §2 limits that are not per-trigger settings (yet). */
export const MAX_PAYLOAD_BYTES = 1024 * 1024
export const MAX_OUTBOUND_CALLS = 50
export const BUILD_CACHE_DIR = `${STATE_DIR}/build-cache`

export interface InvokeTriggerOptions extends LoadOptions {
  env: NodeJS.ProcessEnv
  trigger: string
  /** Undefined when none was given: the trigger's `examplePayload` goes, else null. */
  payload: unknown
  /** `host=origin` mappings from the command line, over `dev.map` in centrali.json. */
  map?: Readonly<Record<string, string>>
}

export interface InvokeTriggerResult extends Omit<InvocationReport, 'resultJson' | 'error'> {
  /** What run() returned (when ok). */
  result?: unknown
  /** What the build found worth saying (a `console.log` call), as printed. */
  warnings?: string[]
  /** Why it failed; `stack`: where a thrown error came from, in the project's files. */
  error?: { code: string; message: string; status: number; stack?: string[] }
  trigger: string
  requestId: string
  /** No payload was given, and the trigger's `examplePayload` was sent. */
  examplePayload?: true
}

/** One invocation of a trigger, outside any server: `centrali invoke`. Same sandbox as dev and serve. */
export async function invokeTrigger(options: InvokeTriggerOptions): Promise<InvokeTriggerResult> {
  const project = await loadProject(options)
  const trigger = requireTrigger(project, options.trigger)
  const fn = project.config.functions[trigger.function]!
  const fromExample = options.payload === undefined && trigger.examplePayload !== undefined
  const payload = fromExample ? trigger.examplePayload : (options.payload ?? null)
  const payloadBytes = Buffer.byteLength(JSON.stringify(payload))
  if (payloadBytes > MAX_PAYLOAD_BYTES) {
    const limit = `an invocation takes at most ${MAX_PAYLOAD_BYTES} (1 MiB)`
    // With no payload given, the one that is too large is the example: the message says which.
    throw fromExample
      ? new UserError(
          'PAYLOAD_TOO_LARGE',
          `The examplePayload of ${options.trigger} in centrali.json is ${payloadBytes} bytes; ${limit}.`,
          { hint: 'Shorten the example, or give a payload with --payload.' },
        )
      : new UserError('PAYLOAD_TOO_LARGE', `The payload is ${payloadBytes} bytes; ${limit}.`)
  }
  const limits = {
    timeoutMs: trigger.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    memoryMb: trigger.memoryMb ?? DEFAULT_MEMORY_MB,
    maxCalls: MAX_OUTBOUND_CALLS,
  }

  const egress = createLazyEgressClient({
    domains: project.config.domains,
    map: { ...project.config.dev?.map, ...options.map },
  })
  const pool = new SandboxPool({ handleCall: createCallHandler(egress), size: 1 })
  try {
    // Start the worker while the function builds and its secrets are read.
    const [build, params] = await Promise.all([
      buildFunctionCached({
        root: project.root,
        entry: fn.entry,
        cacheDir: join(project.root, BUILD_CACHE_DIR),
        sourceMap: true,
      }),
      resolveTriggerParams({
        root: project.root,
        cwd: options.cwd,
        env: options.env,
        triggerName: options.trigger,
        trigger,
      }),
      pool.warm(limits.memoryMb),
    ])
    const requestId = randomUUID()
    const report = await runInvocation({
      pool,
      build,
      trigger: options.trigger,
      executionParams: {
        payload,
        method: 'POST',
        path: `/endpoints/${options.trigger}`,
        query: {},
        headers: {},
        requestId,
      },
      triggerParams: params.values,
      secrets: params.secrets,
      limits,
    })
    // Printed and returned (--json) as a value; the JSON text is for servers.
    const { resultJson, error, ...rest } = report
    const stack = error?.frames
      ? stackLines(build, error.frames, (file) => relative(options.cwd, join(project.root, file)) || file)
      : []
    return {
      ...rest,
      ...(build.warnings
        ? { warnings: build.warnings.map((warning) => formatBuildProblem(warning).trimStart()) }
        : {}),
      ...(error === undefined
        ? {}
        : {
            error: {
              code: error.code,
              message: error.message,
              status: error.status,
              ...(stack.length > 0 ? { stack } : {}),
            },
          }),
      ...(resultJson === undefined ? {} : { result: resultOf({ resultJson }) }),
      trigger: options.trigger,
      requestId,
      ...(fromExample ? { examplePayload: true as const } : {}),
    }
  } finally {
    await Promise.all([pool.close(), egress.close()])
  }
}

function requireTrigger(project: Project, name: string): TriggerConfig {
  const trigger = project.config.triggers[name]
  if (trigger !== undefined && Object.hasOwn(project.config.triggers, name)) return trigger
  const known = Object.keys(project.config.triggers)
  throw new UserError('TRIGGER_NOT_FOUND', `There is no trigger named "${name}".`, {
    hint:
      known.length === 0
        ? 'The project has no triggers; add one with `centrali functions new`.'
        : `Known triggers: ${known.join(', ')}.`,
  })
}

/** Parses `--map host=origin` flags. */
export function parseMapFlags(flags: readonly string[]): Record<string, string> {
  const map: Record<string, string> = {}
  for (const flag of flags) {
    const index = flag.indexOf('=')
    const host = flag.slice(0, index).trim().toLowerCase()
    const origin = flag.slice(index + 1).trim()
    let url: URL | undefined
    try {
      url = new URL(origin)
    } catch {
      url = undefined
    }
    if (
      index <= 0 ||
      url === undefined ||
      !/^https?:$/.test(url.protocol) ||
      (url.pathname !== '/' && url.pathname !== '')
    ) {
      throw new UsageError(
        'MAP_INVALID',
        `--map ${flag}: expected host=origin, such as api.openai.com=http://127.0.0.1:9000.`,
      )
    }
    map[host] = url.origin
  }
  return map
}
