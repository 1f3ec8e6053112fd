import { isLoopbackHost } from '../shared/loopback.js'
import { mkdir, unlink } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { isBlockingCode } from '../egress/errors.js'
import { createLazyEgressClient, type LazyEgressClient } from '../egress/lazy.js'
import { MAX_OUTBOUND_CALLS } from '../project/invoke.js'
import { DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_MS, isSecretRef, type TriggerConfig } from '../project/schema.js'
import { createCallHandler } from '../sandbox/bridge.js'
import { runInvocation, type InvocationReport } from '../sandbox/engine.js'
import { SandboxPool, type LoadedCode } from '../sandbox/pool.js'
import type { ExecutionParams, TriggerParamValue } from '../sandbox/protocol.js'
import { policyForUnknownTrigger } from '../server/cors.js'
import { startEndpointServer, type EndpointRoute, type EndpointServer } from '../server/http.js'
import { describeListenError } from '../server/listen-error.js'
import { CentraliError, UserError } from '../shared/errors.js'
import { createApiHandler } from './api.js'
import { resolveToken, TOKEN_FILE } from './auth.js'
import { ApiError } from './errors.js'
import { createSerialQueue } from './files.js'
import { lockDataDir } from './lock.js'
import { RuntimeMetrics } from './metrics.js'
import { UPLOAD_TIMEOUT_MS, type Manifest } from './protocol.js'
import { MASTER_KEY_ENV, MASTER_KEY_FILE, resolveMasterKey, RuntimeSecrets, SECRETS_FILE } from './secrets.js'
import { DeploymentStore, TEST_PAUSE_POINTS, type TestPausePoint, type VerifiedVersion } from './store.js'

/**
 * `centrali serve` (DESIGN §8): the self-hosted runtime. The endpoint server of `dev` (same HTTP
 * contract, sandbox pool, egress guard and limits) over the version that is active, plus the deploy
 * API on the same port. Each request takes the serving version once, when it arrives, and runs
 * wholly on it: activation swaps one pointer, and requests already running finish on the old
 * version, whose workers and egress client close once it is idle.
 */
export const RUNTIME_PORT = 8788
export const DEFAULT_DATA_DIR = '.centrali-runtime'

/**
 * FOR TESTS ONLY: the name of a point in the store (`upload-bundles`, `upload-version`,
 * `activate-pointer`) where the server stops for good, so a test can kill it mid-write. Inert
 * unless set; a server started with it says so on stderr.
 */
export const TEST_PAUSE_ENV = 'CENTRALI_RUNTIME_TEST_PAUSE'

type ServeEventBody =
  | {
      type: 'ready'
      url: string
      dataDir: string
      version: string | null
      /** Only on the start that generated the token: it is never shown again. */
      token?: string
      tokenSource: string
    }
  | {
      type: 'invocation'
      requestId: string
      trigger: string
      version: string | null
      status: number
      durationMs: number
      /** Outbound calls made. */
      calls: number
      /** Calls the egress guard refused. */
      blocked: { host: string; code: string }[]
      error?: { code: string; message: string }
    }
  | {
      type: 'log'
      requestId: string
      trigger: string
      version: string
      level: 'info' | 'error'
      value: unknown
    }
  | { type: 'deploy'; version: string; size: number; functions: string[]; triggers: string[] }
  | { type: 'activate'; version: string; previous: string | null }
  | { type: 'secret'; name: string; action: 'set' | 'removed' }
  | { type: 'warning'; message: string }

export type ServeEvent = ServeEventBody & { time: string }

export interface ServeOptions {
  /** Absolute. */
  dataDir: string
  env: NodeJS.ProcessEnv
  host: string
  port: number
  /** `--map host=origin`: calls for a host go to a local origin (tests, staging). */
  map: Readonly<Record<string, string>>
  onEvent: (event: ServeEvent) => void
}

export interface ServeSession {
  url: string
  /** Stops accepting, lets running requests finish (up to the longest trigger timeout), closes all. */
  close(): Promise<void>
}

/** How long activation waits for the new version's workers before switching anyway. */
const WARM_LIMIT_MS = 5_000
/** The least a shutdown waits for running requests (deploy API uploads have no trigger timeout). */
const MIN_DRAIN_MS = 5_000
/** What the public (an endpoint, /healthz) is told when the active version cannot run; details go to stderr. */
const CANNOT_RUN_MESSAGE = 'The active version cannot run; see the server log.'

/** Locks the data dir (one server per data dir), starts, and unlocks it when closed. */
export async function startServe(options: ServeOptions): Promise<ServeSession> {
  await mkdir(options.dataDir, { recursive: true, mode: 0o700 })
  const lock = await lockDataDir(options.dataDir)
  let session: ServeSession
  try {
    session = await startLocked(options)
  } catch (error) {
    await lock.release()
    throw error
  }
  return {
    url: session.url,
    close: async () => {
      try {
        await session.close()
      } finally {
        await lock.release()
      }
    },
  }
}

async function startLocked(options: ServeOptions): Promise<ServeSession> {
  const emit = (event: ServeEventBody) => options.onEvent({ ...event, time: new Date().toISOString() })
  const warn = (message: string) => emit({ type: 'warning', message })
  const { dataDir } = options

  const pause = testPause(options.env, warn)
  const store = await DeploymentStore.open({ dataDir, ...(pause ? { pause } : {}) })
  for (const problem of store.problems) warn(problem)
  const master = await resolveMasterKey(dataDir, options.env)
  if (master.warning) warn(master.warning)
  if (master.generated) {
    warn(
      `generated the master key in ${master.source}, beside ${SECRETS_FILE}: anyone with a copy of the data dir can read the secrets. In production, set ${MASTER_KEY_ENV} (32 bytes, base64 or hex) and keep no ${MASTER_KEY_FILE} in the data dir.`,
    )
  }
  const secrets = await RuntimeSecrets.open(dataDir, master)
  const token = await resolveToken(dataDir, options.env)
  const metrics = new RuntimeMetrics()

  /** Every version with workers or an egress client open: closed at shutdown. */
  const live = new Set<ServingVersion>()
  const makeVersion = (verified: VerifiedVersion) => new ServingVersion(verified, options.map, live)
  let serving: ServingVersion | undefined
  /** What `active.json` names, even when that version cannot run. */
  let activeOnDisk: string | null = null
  /** The version active before it (what a default rollback goes back to). */
  let previousOnDisk: string | null = null
  /** Set when `active.json` names a version that cannot run: nothing is served. */
  let damaged = false

  try {
    const pointer = await store.readActive()
    if (pointer) {
      activeOnDisk = pointer.version
      previousOnDisk = pointer.previous
      serving = makeVersion(await store.load(pointer.version))
      const id = serving.id
      void serving
        .warm()
        .catch((error: unknown) =>
          warn(
            `the active version ${id} did not start: ${error instanceof Error ? error.message : String(error)}`,
          ),
        )
    }
  } catch (error) {
    if (!(error instanceof CentraliError)) throw error
    damaged = true
    warn(
      `THE ACTIVE VERSION CANNOT RUN, so nothing is served: ${error.message} Endpoints answer 503 NO_ACTIVE_VERSION until a version is activated (centrali rollback <version>, or deploy again).`,
    )
  }

  const activations = createSerialQueue()
  /** `expectedActive` (when given) must be what serves now: a deploy planned against it, not another. */
  const activate = (id: string, expectedActive?: string | null) =>
    activations(async () => {
      const current = serving?.id ?? null
      if (expectedActive !== undefined && expectedActive !== current) {
        throw new ApiError(
          409,
          'ACTIVE_CHANGED',
          `${current ?? 'No version'} is active now, not ${expectedActive ?? 'none'} as the request expected; ${id} was not activated.`,
          'Another deploy or rollback came first: see what is active, then try again.',
        )
      }
      const previous = activeOnDisk
      if (serving?.id === id) return { active: id, previous }
      // Read, checked and loaded in the sandbox before anything changes: a version that cannot run is
      // never switched to.
      const next = makeVersion(await store.load(id))
      try {
        await next.warm()
        await store.writeActive({ version: id, previous, activatedAt: new Date().toISOString() })
      } catch (error) {
        await next.close()
        throw error
      }
      const retired = serving
      serving = next
      activeOnDisk = id
      previousOnDisk = previous
      damaged = false
      void retired?.retire()
      emit({ type: 'activate', version: id, previous })
      return { active: id, previous }
    })

  const route = (trigger: string): EndpointRoute | undefined => {
    // The one read of the serving version for this request: all it runs comes from this snapshot.
    const version = serving
    if (version === undefined) return { invoke: (params) => answerWithoutVersion(trigger, params) }
    const triggerConfig = Object.hasOwn(version.manifest.triggers, trigger)
      ? version.manifest.triggers[trigger]
      : undefined
    if (triggerConfig === undefined) return undefined
    return {
      ...(triggerConfig.cors ? { cors: triggerConfig.cors } : {}),
      invoke: (params) => invoke(version, trigger, triggerConfig, params),
    }
  }

  async function invoke(
    version: ServingVersion,
    trigger: string,
    triggerConfig: TriggerConfig,
    params: ExecutionParams,
  ): Promise<InvocationReport> {
    const started = Date.now()
    const pool = version.acquire()
    let report: InvocationReport
    try {
      const resolved = resolveParams(trigger, triggerConfig)
      report = await runInvocation({
        pool,
        build: version.builds.get(triggerConfig.function)!,
        trigger,
        executionParams: params,
        triggerParams: resolved.values,
        secrets: resolved.secrets,
        limits: {
          timeoutMs: triggerConfig.timeoutMs ?? DEFAULT_TIMEOUT_MS,
          memoryMb: triggerConfig.memoryMb ?? DEFAULT_MEMORY_MB,
          maxCalls: MAX_OUTBOUND_CALLS,
        },
      })
    } catch (error) {
      if (!(error instanceof CentraliError)) throw error
      report = failure(error.code, error.hint ? `${error.message} ${error.hint}` : error.message, 500)
    } finally {
      version.release()
    }
    for (const redaction of report.redactions) {
      warn(
        `the value of secret ${redaction.secret} appeared in ${redaction.where} of ${trigger} (${version.id}); it was replaced with [redacted:${redaction.secret}]`,
      )
    }
    for (const record of report.logs) {
      emit({
        type: 'log',
        requestId: params.requestId,
        trigger,
        version: version.id,
        level: record.level,
        value: record.value,
      })
    }
    record(params.requestId, trigger, version.id, report, Date.now() - started)
    return report
  }

  /** Secret values are decrypted here, per invocation, for this trigger's references only. */
  function resolveParams(
    trigger: string,
    triggerConfig: TriggerConfig,
  ): { values: Record<string, TriggerParamValue>; secrets: Map<string, string> } {
    const values: Record<string, TriggerParamValue> = {}
    const found = new Map<string, string>()
    for (const [param, value] of Object.entries(triggerConfig.params ?? {})) {
      if (!isSecretRef(value)) {
        values[param] = value
        continue
      }
      const secret = secrets.reveal(value.secret)
      if (secret === undefined) {
        throw new UserError(
          'SECRET_MISSING',
          `Trigger ${trigger} needs the secret ${value.secret} (param "${param}"), which is not set on this server.`,
          { hint: 'Push it with `centrali secrets push`; no redeploy is needed.' },
        )
      }
      values[param] = secret
      found.set(value.secret, secret)
    }
    return { values, secrets: found }
  }

  async function answerWithoutVersion(trigger: string, params: ExecutionParams): Promise<InvocationReport> {
    const message = damaged
      ? CANNOT_RUN_MESSAGE
      : 'No version is active on this server yet; deploy one with `centrali deploy`.'
    const report = failure('NO_ACTIVE_VERSION', message, 503)
    record(params.requestId, trigger, null, report, 0)
    return report
  }

  function record(
    requestId: string,
    trigger: string,
    version: string | null,
    report: InvocationReport,
    durationMs: number,
  ): void {
    const status = report.ok ? 200 : report.error!.status
    const blocked = report.calls.flatMap((call) =>
      call.error && isBlockingCode(call.error.code) ? [{ host: call.host, code: call.error.code }] : [],
    )
    metrics.record({
      // A request that ran no version names no trigger of one: no series for whatever was asked.
      ...(version === null ? {} : { trigger }),
      status,
      durationMs,
      ...(report.error ? { errorCode: report.error.code } : {}),
      blockedHosts: blocked.map((call) => call.host),
    })
    emit({
      type: 'invocation',
      requestId,
      trigger,
      version,
      status,
      durationMs,
      calls: report.calls.length,
      blocked,
      ...(report.error ? { error: { code: report.error.code, message: report.error.message } } : {}),
    })
  }

  const api = createApiHandler({
    store,
    secrets,
    token,
    metrics,
    metricsPublic: isLoopbackHost(options.host),
    activeVersion: () => serving?.id ?? null,
    previousVersion: () => previousOnDisk,
    activate,
    // A server with nothing deployed yet is healthy (it must be reachable to be deployed to); one whose
    // active version cannot run is not.
    health: () =>
      damaged
        ? { ok: false, version: null, error: { code: 'NO_ACTIVE_VERSION', message: CANNOT_RUN_MESSAGE } }
        : { ok: true, version: serving?.id ?? null },
    onDeployed: (version) =>
      emit({
        type: 'deploy',
        version: version.id,
        size: version.size,
        functions: Object.keys(version.manifest.functions),
        triggers: Object.keys(version.manifest.triggers),
      }),
    onSecretChanged: (name, action) => emit({ type: 'secret', name, action }),
    onInternalError: (error) => warn(`deploy API: ${error instanceof Error ? error.message : String(error)}`),
  })

  let server: EndpointServer
  try {
    server = await startEndpointServer({
      host: options.host,
      port: options.port,
      route,
      unknownTriggerCors: (origin) =>
        policyForUnknownTrigger(
          Object.values(serving?.manifest.triggers ?? {}).map((trigger) => trigger.cors),
          origin,
        ),
      fallback: api,
      // A 50 MiB upload on a slow link: as long as `centrali deploy` waits for it.
      requestTimeoutMs: UPLOAD_TIMEOUT_MS,
    })
  } catch (error) {
    await Promise.all([...live].map((version) => version.close()))
    // A token no one saw must not stay: the next start generates and shows a new one.
    if (token.generated !== undefined) await unlink(join(dataDir, TOKEN_FILE)).catch(() => undefined)
    throw describeListenError(error, options.host, options.port) ?? error
  }

  emit({
    type: 'ready',
    url: server.url,
    dataDir,
    version: serving?.id ?? null,
    ...(token.generated === undefined ? {} : { token: token.generated }),
    tokenSource: token.source,
  })

  return {
    url: server.url,
    close: async () => {
      // Running invocations may take their whole timeout (an upload a few seconds); then a second
      // more for the answers to leave.
      const longest = Math.max(MIN_DRAIN_MS, ...[...live].map((version) => version.longestTimeoutMs()))
      const graceMs = longest + 1000
      const closeVersions = async () => {
        await Promise.all([...live].map((version) => version.close()))
      }
      // What still runs when the grace ends is ended with its version, and answered (503).
      await server.close(graceMs, closeVersions)
      await closeVersions()
    },
  }
}

/**
 * One version as the server runs it: its manifest, its bundles (read and verified), and while it is
 * in use its own sandbox pool and egress client (its allowlist). Once retired, they close as soon as
 * no invocation uses them; a straggler (a request that took the snapshot just before the switch)
 * opens them again and they close after it.
 */
class ServingVersion {
  readonly id: string
  readonly manifest: Manifest
  /** Function name → code for the sandbox. */
  readonly builds = new Map<string, LoadedCode>()
  private running?: { pool: SandboxPool; egress: LazyEgressClient }
  private users = 0
  private retired = false

  constructor(
    verified: VerifiedVersion,
    private readonly map: Readonly<Record<string, string>>,
    private readonly live: Set<ServingVersion>,
  ) {
    this.id = verified.id
    this.manifest = verified.manifest
    for (const [name, fn] of Object.entries(verified.manifest.functions)) {
      // The id names the code in the worker: the hash prefix, as a local build's id.
      this.builds.set(name, { id: fn.bundle.slice(0, 16), code: verified.bundles.get(fn.bundle)! })
    }
  }

  acquire(): SandboxPool {
    this.users++
    if (this.running === undefined) {
      const egress = createLazyEgressClient({ domains: this.manifest.domains, map: this.map })
      egress.warm()
      const pool = new SandboxPool({
        handleCall: createCallHandler(egress),
        // One core stays for the HTTP server and the egress client on this thread.
        size: Math.max(1, Math.min(4, availableParallelism() - 1)),
      })
      this.running = { pool, egress }
      this.live.add(this)
    }
    return this.running.pool
  }

  release(): void {
    this.users--
    if (this.users === 0 && this.retired) void this.close()
  }

  /**
   * Starts the workers and loads every trigger's code, so the first request after a switch waits for
   * nothing. Code the sandbox refuses to load (a syntax error) fails with 422 VERSION_CANNOT_LOAD; a
   * load still running after WARM_LIMIT_MS is not waited for.
   */
  async warm(): Promise<void> {
    const pool = this.acquire()
    try {
      const loads = Object.values(this.manifest.triggers).map(async (trigger) => {
        const build = this.builds.get(trigger.function)!
        const error = await pool.preload(build, trigger.memoryMb ?? DEFAULT_MEMORY_MB)
        return error === undefined ? undefined : { fn: trigger.function, error }
      })
      let timer: ReturnType<typeof setTimeout> | undefined
      const results = await Promise.race([
        Promise.all(loads),
        new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), WARM_LIMIT_MS))),
      ])
      clearTimeout(timer)
      const failed = results?.find((result) => result !== undefined)
      if (failed) {
        throw new ApiError(
          422,
          'VERSION_CANNOT_LOAD',
          `Version ${this.id} cannot run: function ${failed.fn} does not load in the sandbox: ${failed.error.message}`,
          'Fix the function and deploy again; the active version keeps serving.',
        )
      }
    } finally {
      this.release()
    }
  }

  retire(): Promise<void> {
    this.retired = true
    return this.users === 0 ? this.close() : Promise.resolve()
  }

  longestTimeoutMs(): number {
    return Math.max(
      0,
      ...Object.values(this.manifest.triggers).map((trigger) => trigger.timeoutMs ?? DEFAULT_TIMEOUT_MS),
    )
  }

  async close(): Promise<void> {
    const running = this.running
    this.running = undefined
    this.live.delete(this)
    if (running) await Promise.all([running.pool.close(), running.egress.close()])
  }
}

function testPause(
  env: NodeJS.ProcessEnv,
  warn: (message: string) => void,
): ((point: TestPausePoint) => Promise<void>) | undefined {
  const wanted = env[TEST_PAUSE_ENV]
  if (wanted === undefined || wanted === '') return undefined
  if (!(TEST_PAUSE_POINTS as readonly string[]).includes(wanted)) {
    throw new UserError('TEST_PAUSE_INVALID', `${TEST_PAUSE_ENV}=${wanted} names no pause point.`, {
      hint: `It is for centrali's own tests: unset it. Points: ${TEST_PAUSE_POINTS.join(', ')}.`,
    })
  }
  warn(`${TEST_PAUSE_ENV}=${wanted} is set: this server stops for good at that point (for tests only).`)
  return async (point) => {
    if (point !== wanted) return
    warn(`test pause: stopped at ${point}`)
    await new Promise<never>(() => undefined)
  }
}

function failure(code: string, message: string, status: number): InvocationReport {
  return { ok: false, error: { code, message, status }, logs: [], calls: [], durationMs: 0, redactions: [] }
}
