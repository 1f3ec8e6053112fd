import { stat } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { availableParallelism } from 'node:os'
import { isDeepStrictEqual } from 'node:util'
import {
  BuildError,
  createFunctionBuilder,
  formatBuildProblem,
  type BuildProblem,
  type FunctionBuild,
  type FunctionBuilder,
} from '../build/bundle.js'
import { isBlockingCode } from '../egress/errors.js'
import { createLazyEgressClient, type LazyEgressClient } from '../egress/lazy.js'
import { parse as parseJsonc, type ParseError } from 'jsonc-parser'
import { JSONC_OPTIONS, loadProject, parseProjectConfig, withoutBom, type Project } from '../project/load.js'
import {
  DEFAULT_MEMORY_MB,
  DEFAULT_TIMEOUT_MS,
  type ProjectConfig,
  type TriggerConfig,
} from '../project/schema.js'
import { installSchema } from '../project/schema-file.js'
import { DEV_PORT } from '../project/init.js'
import { SECRETS_FILE, createTriggerParamsResolver, setSecretCommand } from '../project/secrets.js'
import { readCachedBuild, writeCachedBuild } from '../build/cache.js'
import { firstChanged, stampFiles, type FileStamps } from '../shared/file-stamps.js'
import { stackLines } from '../build/source-map.js'
import { BUILD_CACHE_DIR, MAX_OUTBOUND_CALLS } from '../project/invoke.js'
import { createCallHandler } from '../sandbox/bridge.js'
import { resultOf, runInvocation, type InvocationReport } from '../sandbox/engine.js'
import { SandboxPool, type CallRecord, type LogRecord } from '../sandbox/pool.js'
import type { ExecutionParams } from '../sandbox/protocol.js'
import { policyForUnknownTrigger, type CorsRefusal } from '../server/cors.js'
import { startEndpointServer, type EndpointRoute, type EndpointServer } from '../server/http.js'
import { describeListenError } from '../server/listen-error.js'
import { CentraliError, ConfigError, type ConfigProblem } from '../shared/errors.js'
import { randomUUID } from 'node:crypto'
import { endpointCurl } from '../shared/curl.js'
import type { ConsoleCall, ConsoleState, InvocationRecord } from '../console/types.js'
import { addDomains } from '../project/domains.js'
import { isSecretRef, secretReferences } from '../project/schema.js'
import { createRedactor } from '../secrets/redact.js'
import { SecretsStore } from '../secrets/store.js'
import { createProjectWatch } from './watch.js'
import { consoleHost, createDevConsole } from './console.js'

/**
 * `centrali dev`: the endpoint server of DESIGN §6 over the production sandbox, rebuilt on every
 * save. A pipeline of small parts on events: watcher → incremental builds → sandbox pool → HTTP
 * server. A build or config error is reported and the last good build or config keeps serving.
 */
export type DevEvent =
  | {
      type: 'ready'
      url: string
      /** The dev console, with its per-run token. */
      console: string
      endpoints: DevEndpoint[]
    }
  /** A trigger that a reload of centrali.json added, or whose `examplePayload` it changed. */
  | ({ type: 'endpoint' } & DevEndpoint)
  | { type: 'invocation.start'; requestId: string; trigger: string }
  | {
      type: 'invocation.end'
      requestId: string
      trigger: string
      status: number
      durationMs: number
      timeoutMs: number
      stale: boolean
      /** `stack`: where a thrown error came from, in the project's files (`at name (file:line:column)`). */
      error?: { code: string; message: string; stack?: string[] }
    }
  | { type: 'log'; requestId: string; trigger: string; level: 'info' | 'error'; value: unknown }
  | {
      type: 'egress'
      requestId: string
      trigger: string
      method: string
      url: string
      host: string
      status?: number
      durationMs: number
      blocked: boolean
      error?: { code: string; message: string }
      fix?: string
    }
  | {
      type: 'reload'
      what: 'function' | 'config' | 'secrets'
      file: string
      function?: string
      durationMs: number
    }
  | {
      type: 'build.error'
      function: string
      file: string
      message: string
      problems: readonly BuildProblem[]
      /** Whether a last good build keeps serving; without one its triggers answer BUILD_FAILED. */
      serving: boolean
    }
  | { type: 'config.error'; file: string; message: string; problems: readonly ConfigProblem[] }
  /**
   * A request answered with an error before any function ran: a trigger that does not exist, a body
   * that is not JSON or too large, a method other than POST, a path that is no endpoint.
   */
  | {
      type: 'request.refused'
      requestId: string
      method: string
      path: string
      trigger?: string
      status: number
      error: { code: string; message: string }
    }
  /** `fix` says what to change: the origins or the headers the trigger allows, or the method. */
  | { type: 'cors.refused'; trigger: string; origin: string; reason: string; fix: string }
  | { type: 'warning'; message: string }

export interface DevEndpoint {
  trigger: string
  url: string
  /** Ready to paste: it sends the trigger's `examplePayload`, else `{}`. */
  curl: string
}

/** Events after which the console's page gets the project's state again. */
const CHANGES_STATE = new Set<DevEvent['type']>(['reload', 'build.error', 'config.error'])
const NO_SECRETS: ReadonlyMap<string, string> = new Map()

export interface DevOptions {
  cwd: string
  env: NodeJS.ProcessEnv
  host: string
  /** Default: dev.port in centrali.json, else 8787. 0 picks a free port. */
  port?: number
  /** `--map host=origin`, over `dev.map` in centrali.json. */
  map: Readonly<Record<string, string>>
  /** `--cors origin`: origins allowed on every trigger, besides each trigger's own. */
  cors: readonly string[]
  onEvent: (event: DevEvent) => void
}

export interface DevSession {
  url: string
  consoleUrl: string
  /** Stops accepting, lets running invocations finish (up to `graceMs`), then closes everything. */
  close(graceMs?: number): Promise<void>
}

interface FunctionState {
  entry: string
  /** esbuild's incremental context, made on the first build (after `ready` when a cached build serves). */
  builder?: Promise<FunctionBuilder>
  /** The last good build: what requests run. */
  build?: FunctionBuild
  /**
   * The build dev last said it serves (at start, or with a `reload`): a save that builds the same
   * is not said again. A quiet build (the warm-up after a start from the cache) does not move it.
   */
  announced?: FunctionBuild
  /** Set while the newest source does not build: requests still run `build`, marked stale. */
  error?: BuildError
  inputs: Set<string>
  building?: Promise<void>
  dirty: boolean
  /** Changed files not yet reported in a `reload` event: several may fold into one build. */
  changed: Set<string>
  /** While the function does not build: the next look at its files (see recheckWhileFailing). */
  recheck?: ReturnType<typeof setTimeout>
}

export async function startDev(options: DevOptions): Promise<DevSession> {
  // Loaded while the project loads and builds: the watcher comes last, and need not wait for it.
  const chokidarLoading = import('chokidar')
  // The first worker starts now (SES takes ~100 ms to load): it is ready by the first request.
  const pool = new SandboxPool({
    handleCall: createCallHandler({ request: (request) => egress.request(request) }),
    // One core stays for the HTTP server and the egress client on this thread.
    size: Math.max(1, Math.min(4, availableParallelism() - 1)),
  })
  void pool.warm(DEFAULT_MEMORY_MB)
  let project: Project
  try {
    project = await loadProject(options)
  } catch (error) {
    await pool.close()
    throw error
  }
  const { root, configPath } = project
  const secretsPath = join(root, SECRETS_FILE)
  let config: ProjectConfig = project.config
  /** The text of the config in force. */
  let configText = project.text
  const shown = (path: string) => relative(options.cwd, path) || path
  const cacheDir = join(root, BUILD_CACHE_DIR)
  // Every event reaches the caller; those that change what the console shows also refresh it.
  let lastConfigError: string | undefined
  let statePending = false
  const emit = (event: DevEvent) => {
    options.onEvent(event)
    if (event.type === 'config.error') lastConfigError = event.message
    if (event.type === 'reload' && event.what === 'config') lastConfigError = undefined
    if (CHANGES_STATE.has(event.type) && !statePending) {
      statePending = true
      setImmediate(() => {
        statePending = false
        void consoleState().then((state) => devConsole.publish({ type: 'state', state }))
      })
    }
  }
  const devConsole = createDevConsole({
    host: options.host,
    port: () => server.port,
    state: consoleState,
    invoke: async (trigger, payload) => {
      const requestId = randomUUID()
      const known = route(trigger)
      if (known === undefined) {
        return {
          requestId,
          time: new Date().toISOString(),
          trigger,
          status: 404,
          durationMs: 0,
          timeoutMs: 0,
          stale: false,
          payload,
          error: { code: 'TRIGGER_NOT_FOUND', message: `There is no trigger named "${trigger}".` },
          logs: [],
          calls: [],
        }
      }
      const path = `/endpoints/${encodeURIComponent(trigger)}`
      consoleRecords.set(requestId, undefined)
      try {
        await known.invoke({ payload, method: 'POST', path, query: {}, headers: {}, requestId })
        return consoleRecords.get(requestId)!
      } finally {
        consoleRecords.delete(requestId)
      }
    },
    allowDomain: async (host) => {
      const result = await addDomains({ cwd: root, hosts: [host], allowIp: false })
      // In force before this answers: the next invocation passes, without waiting for the watcher.
      await reloadConfig()
      return { added: result.added, domains: result.domains }
    },
  })
  /** The console's own invocations, by request id: each answers with its record. */
  const consoleRecords = new Map<string, InvocationRecord | undefined>()

  async function consoleState(): Promise<ConsoleState> {
    const store = await SecretsStore.open({ path: join(root, SECRETS_FILE), env: options.env }).catch(
      () => undefined,
    )
    const usedBy = new Map<string, string[]>()
    for (const { secret, trigger } of secretReferences(config))
      usedBy.set(secret, [...(usedBy.get(secret) ?? []), trigger])
    return {
      url: server.url,
      configFile: shown(configPath),
      ...(lastConfigError === undefined ? {} : { configError: lastConfigError }),
      functions: Object.entries(config.functions).map(([name, { entry }]) => {
        const state = functions.get(name)
        return {
          name,
          entry,
          build: state?.error ? 'stale' : state?.build ? 'ok' : 'building',
          ...(state?.error ? { error: state.error.message } : {}),
        }
      }),
      triggers: Object.entries(config.triggers).map(([name, trigger]) => ({
        name,
        type: trigger.type,
        function: trigger.function,
        timeoutMs: trigger.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        memoryMb: trigger.memoryMb ?? DEFAULT_MEMORY_MB,
        params: Object.entries(trigger.params ?? {}).map(([param, value]) =>
          isSecretRef(value) ? { name: param, secret: value.secret } : { name: param, value },
        ),
        ...(trigger.cors ? { cors: trigger.cors } : {}),
        ...(trigger.examplePayload === undefined ? {} : { examplePayload: trigger.examplePayload }),
      })),
      domains: [...config.domains],
      secrets: [...usedBy].map(([name, triggers]) => ({
        name,
        set: store?.has(name) ?? false,
        usedBy: triggers,
      })),
    }
  }
  function devEndpoint(trigger: string, examplePayload: unknown): DevEndpoint {
    return {
      trigger,
      url: `${server.url}/endpoints/${trigger}`,
      curl: endpointCurl(server.url, trigger, examplePayload),
    }
  }

  await installSchema(root)

  // A new egress client replaces the old one when domains or the map change; calls go to the current one.
  const makeEgress = (current: ProjectConfig): LazyEgressClient =>
    createLazyEgressClient({ domains: current.domains, map: { ...current.dev?.map, ...options.map } })
  let egress = makeEgress(config)
  // Loads in the time esbuild builds (another process) and the worker starts (another thread).
  egress.warm()

  const functions = new Map<string, FunctionState>()
  // Set as close() begins: no build attempt starts after it.
  let closing = false
  async function rebuild(name: string, state: FunctionState, changedFile?: string): Promise<void> {
    if (changedFile) state.changed.add(changedFile)
    if (state.building) {
      state.dirty = true
      return state.building
    }
    state.building = (async () => {
      let unsettledRetries = 0
      do {
        if (closing) return
        state.dirty = false
        const started = Date.now()
        // What this attempt answers for. A file changed while it runs is the next attempt's, even one
        // this attempt also answers for: dropped with this attempt's failure, the next attempt,
        // succeeding, would say nothing, and the error would stay the last word on screen.
        const attempted = [...state.changed]
        state.changed.clear()
        /** This attempt's files go to the next one, which starts at once. */
        const tryAgain = () => {
          for (const file of attempted) state.changed.add(file)
          state.dirty = true
        }
        // The inputs as they were before esbuild read them, to tell a write made while it ran.
        const before = await stampFiles(state.inputs)
        try {
          // With a source map: a thrown error is shown where it is in the project's files.
          state.builder ??= createFunctionBuilder({ root, entry: state.entry, sourceMap: true })
          const build = await (await state.builder).rebuild()
          // Any input (not only the one that changed) may have been read mid-write, truncated to
          // nothing: such a build must not become the last good one. Bounded, since an imported file
          // can also be empty on purpose.
          const after = await stampFiles(build.inputs)
          const unsettled =
            firstChanged(before, after, started) !== undefined ||
            [...after.values()].some((stamp) => stamp === undefined || stamp.size === 0)
          if (unsettled && unsettledRetries < 3) {
            unsettledRetries++
            tryAgain()
            await new Promise((resolve) => setTimeout(resolve, SETTLE_MS / 2))
            continue
          }
          // Byte for byte the build last announced, its map too (so not a comment or a type moved): the
          // save changed nothing (a touch, a save with no edit, a file handled twice as chokidar
          // reported its truncation first), and saying `reload` again would be noise. Compared with
          // the announced build, not the serving one: the quiet warm-up build may have read a save
          // whose own build comes next, and that save is still to be said.
          const unchanged =
            state.error === undefined &&
            state.announced?.id === build.id &&
            state.announced.sourceMap === build.sourceMap
          if (attempted.length > 0 || state.announced === undefined) state.announced = build
          state.build = build
          state.error = undefined
          // The next start of dev (or `centrali invoke`) serves this build without starting esbuild.
          if (!unsettled)
            void writeCachedBuild({ root, entry: state.entry, cacheDir }, build, after).catch(() => undefined)
          for (const input of state.build.inputs) {
            watch.watchDirectoryOf(input)
            state.inputs.add(input)
          }
          // Saved again meanwhile: the next attempt builds it, and need not say so twice.
          for (const file of attempted) state.changed.delete(file)
          if (unchanged) continue
          for (const file of attempted)
            emit({ type: 'reload', what: 'function', file, function: name, durationMs: Date.now() - started })
          for (const warning of build.warnings ?? [])
            emit({ type: 'warning', message: formatBuildProblem(warning).trimStart() })
        } catch (error) {
          if (!(error instanceof BuildError)) throw error
          // An editor may still be writing the file: if it changes within a moment, build again
          // instead of reporting an error about half a file.
          await new Promise((resolve) => setTimeout(resolve, SETTLE_MS))
          if (firstChanged(before, await stampFiles(state.inputs), started) !== undefined) {
            tryAgain()
            continue
          }
          // The error on screen already, from an earlier attempt, is not said again.
          const repeated = state.error?.message === error.message
          state.error = error
          recheckWhileFailing(name, state, before)
          if (!repeated) {
            emit({
              type: 'build.error',
              function: name,
              file: state.entry,
              message: error.message,
              problems: error.problems,
              serving: state.build !== undefined,
            })
          }
        }
      } while (state.dirty)
    })().finally(() => {
      state.building = undefined
    })
    return state.building
  }

  // A watcher can miss an event (a file deleted and written again within a moment, on a busy
  // machine), and a function that does not build must not stay broken for that: until it builds,
  // its files are also looked at every FAILING_RECHECK_MS, and one changed since its last
  // attempt started (`before`, their stamps then) is built again.
  function recheckWhileFailing(name: string, state: FunctionState, before: FileStamps): void {
    clearTimeout(state.recheck)
    // Only while dev runs, the function is still there, and still does not build.
    const wanted = () => !closing && functions.get(name) === state && state.error !== undefined
    state.recheck = setTimeout(() => {
      if (!wanted()) return
      void stampFiles(before.keys()).then((now) => {
        if (!wanted()) return
        // Every file looked at has a stamp in `before`: no clock is read.
        const file = firstChanged(before, now, 0)
        if (file === undefined) recheckWhileFailing(name, state, before)
        else void rebuild(name, state, shown(file))
      })
    }, FAILING_RECHECK_MS)
    state.recheck.unref()
  }

  /** `running`: centrali.json changed while dev runs, so a function new to it is built and said. */
  async function syncFunctions(current: ProjectConfig, running = false): Promise<void> {
    for (const [name, state] of functions) {
      if (current.functions[name]?.entry !== state.entry) {
        functions.delete(name)
        clearTimeout(state.recheck)
        await (await state.builder)?.dispose()
      }
    }
    await Promise.all(
      Object.entries(current.functions).map(async ([name, { entry }]) => {
        if (functions.has(name)) return
        const state: FunctionState = {
          entry,
          inputs: new Set([join(root, entry)]),
          dirty: false,
          changed: new Set(),
        }
        functions.set(name, state)
        // A function added to a running dev: its entry is watched from now on (at start-up the
        // watcher is made later, from every function's inputs), even while it does not build.
        watch.watchDirectoryOf(join(root, entry))
        // At start-up, a build cached from the last run of unchanged files serves at once; esbuild
        // starts once dev is ready, and builds again quietly for its incremental context.
        const cached = running ? undefined : await readCachedBuild({ root, entry, cacheDir })
        if (cached) {
          state.build = cached
          state.announced = cached
          for (const input of cached.inputs) state.inputs.add(input)
          servedFromCache.push([name, state])
        } else {
          // Said as its own file's reload: "reloaded centrali.json" would say the config twice.
          await rebuild(name, state, running ? shown(join(root, entry)) : undefined)
        }
      }),
    )
  }

  const neededFiles = () =>
    new Set([configPath, secretsPath, ...[...functions.values()].flatMap((state) => [...state.inputs])])
  const failingFunctions = () => [...functions].filter(([, state]) => state.error !== undefined)
  /** Builds these functions again once `path` is written out, naming it as the change. */
  const rebuildWhenSettled = (path: string, targets: [string, FunctionState][]) => {
    if (targets.length === 0) return
    // An editor's write truncates the file first: an empty file is most likely half written, and
    // building it could succeed (a TypeScript import of a missing export is just undefined).
    void settledSize(path).then(() => {
      for (const [name, state] of targets) void rebuild(name, state, shown(path))
    })
  }
  const watch = createProjectWatch({
    neededFiles,
    someBuildFails: () => failingFunctions().length > 0,
    onNeeded: (path) => {
      if (path === configPath) return void reloadConfig()
      if (path === secretsPath)
        return emit({ type: 'reload', what: 'secrets', file: shown(secretsPath), durationMs: 0 })
      rebuildWhenSettled(
        path,
        [...functions].filter(([, state]) => state.inputs.has(path)),
      )
    },
    // Any other file written where dev watches may be the module a failing build could not find
    // (an import written before its file): such builds are tried again, and speak only if the
    // outcome changed.
    onOther: (path) => rebuildWhenSettled(path, failingFunctions()),
  })
  const servedFromCache: [string, FunctionState][] = []
  await syncFunctions(config)
  // Each trigger's worker gets its build now, not on the first request.
  for (const trigger of Object.values(config.triggers)) {
    const build = functions.get(trigger.function)?.build
    if (build) void pool.preload(build, trigger.memoryMb ?? DEFAULT_MEMORY_MB)
  }

  async function reloadConfig(): Promise<void> {
    const started = Date.now()
    const { readFile } = await import('node:fs/promises')
    let next: ProjectConfig
    try {
      const read = async (path: string) => withoutBom(await readFile(path, 'utf8'))
      const text = await settledText(configPath, read)
      // The text in force, saved again or touched: nothing to reload, and nothing to say.
      if (text === configText && lastConfigError === undefined) return
      const parsed = parseProjectConfig(text, shown(configPath))
      configText = text
      next = parsed.config
      for (const warning of parsed.warnings)
        emit({ type: 'warning', message: `${warning.file}: ${warning.path}: ${warning.message}` })
    } catch (error) {
      if (error instanceof ConfigError) {
        emit({
          type: 'config.error',
          file: shown(configPath),
          message: error.message,
          problems: error.problems,
        })
        return
      }
      emit({ type: 'config.error', file: shown(configPath), message: (error as Error).message, problems: [] })
      return
    }
    // The server keeps its port: a new dev.port takes a restart (and a --port given wins anyway).
    const requestedPort = (current: ProjectConfig) => current.dev?.port ?? DEV_PORT
    if (
      options.port === undefined &&
      requestedPort(next) !== requestedPort(config) &&
      requestedPort(next) !== port
    ) {
      emit({
        type: 'warning',
        message: `${shown(configPath)}: dev.port is now ${requestedPort(next)}; dev listens on ${server.port} until it is restarted`,
      })
    }
    const previous = egress
    const triggersBefore = config.triggers
    config = next
    egress = makeEgress(next)
    void previous.close()
    await syncFunctions(next, true)
    emit({ type: 'reload', what: 'config', file: shown(configPath), durationMs: Date.now() - started })
    for (const [trigger, { examplePayload }] of Object.entries(next.triggers)) {
      const before = Object.hasOwn(triggersBefore, trigger) ? triggersBefore[trigger] : undefined
      if (before === undefined || !isDeepStrictEqual(before.examplePayload, examplePayload))
        emit({ type: 'endpoint', ...devEndpoint(trigger, examplePayload) })
    }
    void warnMissingSecrets()
  }

  // A secret a trigger needs that the store lacks is said when dev starts, and when centrali.json
  // comes to need it, rather than first at a request (SECRET_MISSING): once for each use of it.
  const missingSecretsWarned = new Set<string>()
  async function warnMissingSecrets(): Promise<void> {
    // A store that cannot be read is reported by the invocations that need it, with its reason.
    const store = await SecretsStore.open({ path: secretsPath, env: options.env }).catch(() => undefined)
    if (store === undefined) return
    for (const { trigger, param, secret } of secretReferences(config)) {
      const use = JSON.stringify([trigger, param, secret])
      if (store.has(secret) || missingSecretsWarned.has(use)) continue
      missingSecretsWarned.add(use)
      emit({
        type: 'warning',
        message: `trigger ${trigger} needs the secret ${secret} (param "${param}"), which is not set; its requests fail with SECRET_MISSING until you run \`${setSecretCommand(secret)}\``,
      })
    }
  }

  const route = (trigger: string): EndpointRoute | undefined => {
    const triggerConfig = Object.hasOwn(config.triggers, trigger) ? config.triggers[trigger] : undefined
    if (triggerConfig === undefined) return undefined
    const state = functions.get(triggerConfig.function)
    const origins = [...(triggerConfig.cors?.origins ?? []), ...options.cors]
    return {
      ...(origins.length > 0 ? { cors: { ...triggerConfig.cors, origins } } : {}),
      ...(state?.error ? { headers: { 'x-centrali-build': 'stale' } } : {}),
      invoke: (params) => invoke(trigger, triggerConfig, state, params),
    }
  }

  const resolveParams = createTriggerParamsResolver()

  async function invoke(
    trigger: string,
    triggerConfig: TriggerConfig,
    state: FunctionState | undefined,
    params: ExecutionParams,
  ): Promise<InvocationReport> {
    const { requestId } = params
    const timeoutMs = triggerConfig.timeoutMs ?? DEFAULT_TIMEOUT_MS
    const stale = state?.error !== undefined
    emit({ type: 'invocation.start', requestId, trigger })
    const started = Date.now()
    // Console records are made only when a page shows them: most invocations are never looked at.
    const record = (end: Partial<InvocationRecord>): InvocationRecord => ({
      requestId,
      time: new Date(started).toISOString(),
      trigger,
      status: 0,
      durationMs: 0,
      timeoutMs,
      stale,
      payload: params.payload,
      logs: [],
      calls: [],
      ...end,
    })
    devConsole.invocation(() => record({}), false)
    let secrets: ReadonlyMap<string, string> = NO_SECRETS
    let report: InvocationReport
    /** The build the invocation ran (a reload may replace the state's meanwhile). */
    let ran: FunctionBuild | undefined
    if (state?.build === undefined) {
      // Where and why, without the code frame: the caller may be any page, and the line may hold
      // what it must not see (a key written into the code while trying things). dev's output
      // shows the frame.
      const problem = state?.error?.problems[0]
      report = failure(
        'BUILD_FAILED',
        problem === undefined
          ? `The function of trigger ${trigger} is not built yet.`
          : `The function does not build: ${formatBuildProblem({ ...problem, lineText: undefined }).trim()} (dev's output shows the code).`,
      )
    } else {
      try {
        const resolved = await resolveParams({
          root,
          cwd: options.cwd,
          env: options.env,
          triggerName: trigger,
          trigger: triggerConfig,
        })
        secrets = resolved.secrets
        ran = state.build
        report = await runInvocation({
          pool,
          build: ran,
          trigger,
          executionParams: params,
          triggerParams: resolved.values,
          secrets: resolved.secrets,
          limits: {
            timeoutMs,
            memoryMb: triggerConfig.memoryMb ?? DEFAULT_MEMORY_MB,
            maxCalls: MAX_OUTBOUND_CALLS,
          },
        })
      } catch (error) {
        if (!(error instanceof CentraliError)) throw error
        report = failure(error.code, error.hint ? `${error.message} ${error.hint}` : error.message)
      }
    }
    // One warning per secret, naming every place it was found (most invocations have none).
    if (report.redactions.length > 0) {
      const placesBySecret = new Map<string, string[]>()
      for (const { secret, where } of report.redactions)
        placesBySecret.set(secret, [...(placesBySecret.get(secret) ?? []), where])
      for (const [secret, places] of placesBySecret) {
        emit({
          type: 'warning',
          message: `the value of secret ${secret} appeared in ${places.join(', ')} of ${trigger}; it was replaced with [redacted:${secret}]`,
        })
      }
    }
    // Logs and calls in the order the function made them.
    let logsShown = 0
    for (const call of report.calls) {
      for (; logsShown < call.logsBefore; logsShown++)
        emit(logEvent(requestId, trigger, report.logs[logsShown]!))
      emit({ type: 'egress', requestId, trigger, ...consoleCall(call) })
    }
    for (; logsShown < report.logs.length; logsShown++)
      emit(logEvent(requestId, trigger, report.logs[logsShown]!))
    const status = report.ok ? 200 : report.error!.status
    const durationMs = Date.now() - started
    const stack =
      report.error?.frames && ran
        ? stackLines(ran, report.error.frames, (file) => shown(join(root, file)))
        : []
    const error = report.error && {
      code: report.error.code,
      message: report.error.message,
      ...(stack.length > 0 ? { stack } : {}),
    }
    emit({
      type: 'invocation.end',
      requestId,
      trigger,
      status,
      durationMs,
      timeoutMs,
      stale,
      ...(error ? { error } : {}),
    })
    // The console's record is made when a page shows it, from what this closure keeps: a result too
    // long for a card is kept cut, so the newest records the console holds for a page that
    // connects later do not hold every large response whole.
    const { logs, calls } = report
    const shownResult = report.ok ? consoleResult(report.resultJson) : undefined
    const finished = () =>
      record({
        status,
        durationMs,
        // The caller's payload as the function saw it, with any secret value in it redacted.
        payload: createRedactor(secrets).redact(params.payload, 'payload'),
        ...(shownResult === undefined
          ? {}
          : typeof shownResult === 'string'
            ? { result: resultOf({ resultJson: shownResult }) }
            : shownResult),
        ...(error ? { error } : {}),
        logs: logs.map((log) => ({ level: log.level, value: log.value })),
        calls: calls.map(consoleCall),
      })
    const shownRecord = devConsole.invocation(finished, true)
    if (consoleRecords.has(requestId)) consoleRecords.set(requestId, shownRecord())
    return report
  }

  const port = options.port ?? config.dev?.port ?? DEV_PORT
  let server: EndpointServer
  try {
    server = await startEndpointServer({
      host: options.host,
      port,
      route,
      knownTriggers: () => Object.keys(config.triggers),
      unknownTriggerCors: (origin) =>
        policyForUnknownTrigger(
          [{ origins: options.cors }, ...Object.values(config.triggers).map((trigger) => trigger.cors)],
          origin,
        ),
      fallback: (request, response) => devConsole.handle(request, response),
      onRequest: (event) => {
        // A browser asks for /favicon.ico by itself when the console is opened: not the page's request.
        if (event.refusal && event.path !== '/favicon.ico') {
          emit({
            type: 'request.refused',
            requestId: event.requestId,
            method: event.method,
            path: event.path,
            ...(event.trigger === undefined ? {} : { trigger: event.trigger }),
            status: event.status,
            error: event.refusal,
          })
        }
        if (event.corsRefused && event.trigger && event.origin) {
          emit({
            type: 'cors.refused',
            trigger: event.trigger,
            origin: event.origin,
            reason: event.corsRefused.reason,
            fix: corsFix(event.corsRefused, event.trigger, event.origin),
          })
        }
      },
    })
  } catch (error) {
    await Promise.all([
      pool.close(),
      ...[...functions.values()].map(async (state) => (await state.builder)?.dispose()),
    ])
    throw describeListenError(error, options.host, port) ?? error
  }

  watch.watchDirectoryOf(configPath)
  watch.watchDirectoryOf(secretsPath)
  await watch.start(await chokidarLoading)

  const url = server.url
  // esbuild, for the first edit, loads a moment after ready: a request sent at once is answered
  // first, not after the module loading (which holds this thread).
  const warmUp = setTimeout(() => {
    for (const [name, state] of servedFromCache.splice(0)) {
      void rebuild(name, state).catch((error: unknown) =>
        emit({ type: 'warning', message: `esbuild could not start: ${(error as Error).message}` }),
      )
    }
  }, WARM_UP_DELAY_MS)
  const consoleUrl = `http://${consoleHost(options.host)}:${server.port}${devConsole.path}`
  emit({
    type: 'ready',
    url,
    console: consoleUrl,
    endpoints: Object.entries(config.triggers).map(([trigger, { examplePayload }]) =>
      devEndpoint(trigger, examplePayload),
    ),
  })
  void warnMissingSecrets()

  return {
    url,
    consoleUrl,
    close: async (graceMs = 5000) => {
      closing = true
      // Console pages keep an event stream open: ended first, so the server drains requests only.
      devConsole.close()
      // Invocations still running when the grace ends are ended by closing the pool, so their
      // callers are answered 503 POOL_CLOSED rather than left with an empty reply.
      await server.close(graceMs, () => pool.close())
      clearTimeout(warmUp)
      for (const state of functions.values()) clearTimeout(state.recheck)
      // A build under way ends first (none starts now): an esbuild context it made meanwhile is
      // then disposed with the rest, instead of keeping dev's process alive.
      await Promise.all([...functions.values()].map((state) => state.building?.catch(() => undefined)))
      await Promise.all([
        watch.close(),
        pool.close(),
        egress.close(),
        ...[...functions.values()].map(async (state) => (await state.builder)?.dispose()),
      ])
    },
  }
}

/** After `ready`, before esbuild loads for a function served from the build cache. */
const WARM_UP_DELAY_MS = 150
/** How often the files of a function that does not build are looked at, besides the watcher. */
const FAILING_RECHECK_MS = 250
/** How long a file that fails to parse may still be changing (an editor mid-write). */
const SETTLE_MS = 60

/**
 * The text of a file once it stops changing: a file read while an editor truncates and rewrites it
 * may be empty or cut short, which is not the user's mistake.
 */
async function settledText(path: string, read: (path: string) => Promise<string>): Promise<string> {
  let text = await read(path)
  for (let attempt = 0; attempt < 5; attempt++) {
    const errors: ParseError[] = []
    parseJsonc(text, errors, JSONC_OPTIONS)
    if (text.trim() !== '' && errors.length === 0) return text
    // Not parseable as it stands: wait a moment and see whether it is still being written.
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS))
    const again = await read(path)
    if (again === text) return text
    text = again
  }
  return text
}

/** Waits while the file is empty (an editor between truncating it and writing it), for a moment at most. */
async function settledSize(path: string): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const size = await stat(path).then(
      (info) => info.size,
      () => -1,
    )
    if (size !== 0) return
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS / 2))
  }
}

function logEvent(requestId: string, trigger: string, log: LogRecord): DevEvent {
  return { type: 'log', requestId, trigger, level: log.level, value: log.value }
}

/** How much of a result's JSON a console card shows; the response carries it whole. */
const CONSOLE_RESULT_CHARS = 64 * 1024

/**
 * A result as the console keeps it: its JSON text when short enough to show whole (parsed only when
 * a page shows it), else its start as text with the length it had. The start is a copy: a slice
 * would keep the whole text alive.
 */
function consoleResult(
  resultJson: string | undefined,
): string | { result: string; resultChars: number } | undefined {
  if (resultJson === undefined || resultJson.length <= CONSOLE_RESULT_CHARS) return resultJson
  // The response carried this text whole, redacted already: the cut hides nothing and need not
  // spare words.
  const start = Buffer.from(resultJson.slice(0, CONSOLE_RESULT_CHARS)).toString()
  return { result: start, resultChars: resultJson.length }
}

/** What the console and the `egress` event show of an outbound call. */
function consoleCall(call: CallRecord): ConsoleCall {
  // Assigned, not spread in: this runs for every call of every request.
  const shown: ConsoleCall = {
    method: call.method,
    url: call.url,
    host: call.host,
    durationMs: call.durationMs,
    blocked: call.error !== undefined && isBlockingCode(call.error.code),
  }
  if (call.status !== undefined) shown.status = call.status
  if (call.error) shown.error = call.error
  // Only a host (or port) missing from the allowlist is fixed by allowing it.
  if (call.allow !== undefined) shown.fix = call.allow
  return shown
}

/** The `fix` of a `cors.refused` event: what in centrali.json (or the page) makes the browser accept. */
function corsFix(refusal: CorsRefusal, trigger: string, origin: string): string {
  switch (refusal.refused) {
    case 'origin':
      return `add "${origin}" to triggers.${trigger}.cors.origins in centrali.json, or start dev with --cors ${origin}`
    case 'headers':
      return `add ${refusal.headers.map((name) => `"${name}"`).join(', ')} to triggers.${trigger}.cors.headers in centrali.json`
    case 'method':
      return 'send the request with POST, the one method endpoints take'
  }
}

function failure(code: string, message: string): InvocationReport {
  return {
    ok: false,
    error: { code, message, status: 500 },
    logs: [],
    calls: [],
    durationMs: 0,
    redactions: [],
  }
}
