import { serialize } from 'node:v8'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { CallSignal, type AbortSource } from '../shared/call-signal.js'
import { IdTable } from '../shared/id-table.js'
import { packageRoot } from '../shared/package-root.js'
import { shorten } from '../shared/shorten.js'
import type {
  BridgeRequest,
  BridgeResponse,
  CodeFrame,
  ExecutionParams,
  HostToWorker,
  SerializedError,
  TriggerParamValue,
  WorkerToHost,
} from './protocol.js'

/**
 * The host side of the sandbox: a pool of worker_threads (one set per memory limit, since a
 * worker's heap limit is fixed when it starts). A worker interleaves many invocations. The host
 * owns every limit: the deadline (timers here, not in the worker), the outbound call count, and the
 * decision to terminate a worker that stopped answering (a synchronous loop) or ran out of memory;
 * the pool then starts a fresh one and keeps serving.
 */

export interface InvocationLimits {
  timeoutMs: number
  memoryMb: number
  maxCalls: number
}

export interface LoadedCode {
  id: string
  code: string
}

export interface InvocationRequest {
  build: LoadedCode
  trigger: string
  executionParams: ExecutionParams
  triggerParams: Record<string, TriggerParamValue>
  limits: InvocationLimits
}

export interface LogRecord {
  time: string
  level: 'info' | 'error'
  requestId: string
  trigger: string
  value: unknown
}

export interface CallRecord {
  method: string
  /** Origin and path only: query strings may carry keys. */
  url: string
  host: string
  status?: number
  durationMs: number
  /** How many of the invocation's logs came before this call: dev shows both in the order made. */
  logsBefore: number
  error?: { code: string; message: string }
  /** For a call the allowlist refused: the command that allows it (`centrali domains add …`). */
  allow?: string
}

export interface InvocationError {
  code: string
  message: string
  /** The HTTP status the endpoint answers with (DESIGN §6). */
  status: number
  /** Where a thrown error came from in the code that ran (mapped to files by mapCodeFrames). */
  frames?: CodeFrame[]
}

export interface InvocationOutcome {
  ok: boolean
  /** run()'s return value as JSON text (when ok): hosts mostly pass it on without parsing it. */
  json?: string
  error?: InvocationError
  logs: LogRecord[]
  calls: CallRecord[]
  durationMs: number
}

/** Performs one outbound call for a function: the egress guard lives behind this. */
export type CallHandler = (
  request: BridgeRequest,
  context: { deadline: number; signal: AbortSource },
) => Promise<BridgeResponse>

export interface SandboxPoolOptions {
  handleCall: CallHandler
  /** Workers per memory limit (default: the machine's parallelism, at most 4). */
  size?: number
  /** After a timeout, how long a worker may take to acknowledge the cancel before it is deemed wedged. */
  cancelGraceMs?: number
  workerPath?: string
}

import { statusForCode } from './status.js'
export { ERROR_STATUS, statusForCode } from './status.js'

const CALL_DEADLINE_SLACK_MS = 100

interface Pending {
  id: number
  request: InvocationRequest
  slot: WorkerSlot
  started: number
  deadline: number
  /** Made on the first outbound call only: most invocations never need one. */
  abort?: CallSignal
  logs: LogRecord[]
  calls: CallRecord[]
  callCount: number
  /** Calls sent out and not yet answered: only these need aborting when the invocation ends. */
  callsInFlight: number
  timer?: ReturnType<typeof setTimeout>
  graceTimer?: ReturnType<typeof setTimeout>
  timedOut?: SerializedError
  resolve: (outcome: InvocationOutcome) => void
}

interface BuildLoad {
  /** Resolves to the error when the build does not load. */
  done: Promise<SerializedError | undefined>
  /** Set when the worker answers `loaded`: from then on nothing need be awaited. */
  loaded: boolean
  /** When an invocation last needed it (a count of invocations), for unloading the oldest. */
  lastUsed: number
}

interface WorkerSlot {
  worker: Worker
  memoryMb: number
  ready: Promise<void>
  /** Set when `ready` resolves. */
  started: boolean
  loads: Map<string, BuildLoad>
  loadWaiters: Map<string, (error: SerializedError | undefined) => void>
  pending: IdTable<Pending>
  dead: boolean
  /** A ping the worker has not answered yet, and the timer that declares it wedged. */
  pingTimer?: ReturnType<typeof setTimeout>
  /** Messages for the worker gathered in this turn of the event loop (see post). */
  outbox: HostToWorker[]
}

/** Builds a worker keeps loaded; the least recently used idle one is unloaded past this. */
const MAX_LOADED_BUILDS = 32
/** How long an idle worker may take to answer a ping before it counts as wedged. */
const WEDGE_MS = 1000

export class SandboxPool {
  private readonly slots = new Map<number, WorkerSlot[]>()
  private readonly size: number
  private readonly cancelGraceMs: number
  private readonly workerPath: string
  private nextId = 1
  /** Counts invocations, to tell which loaded build was needed least recently. */
  private uses = 0
  private closed = false

  constructor(private readonly options: SandboxPoolOptions) {
    this.size = options.size ?? Math.max(1, Math.min(4, availableParallelism()))
    this.cancelGraceMs = options.cancelGraceMs ?? 250
    this.workerPath = options.workerPath ?? locateWorker()
  }

  /** Starts the workers for a memory limit ahead of the first invocation (hides their start-up). */
  warm(memoryMb: number): Promise<void> {
    return this.pick(memoryMb).ready
  }

  /**
   * Starts the worker for `memoryMb` and hands it the build, so the first invocation finds both
   * ready. Resolves to the error when the code does not load (FUNCTION_LOAD_FAILED).
   */
  async preload(build: LoadedCode, memoryMb: number): Promise<SerializedError | undefined> {
    const slot = this.pick(memoryMb)
    await slot.ready
    return slot.dead ? undefined : this.ensureLoaded(slot, build)
  }

  async invoke(request: InvocationRequest): Promise<InvocationOutcome> {
    const started = Date.now()
    if (this.closed)
      return failure(started, { code: 'POOL_CLOSED', message: 'The sandbox is shutting down.' })
    const slot = this.pick(request.limits.memoryMb)
    // Once a worker runs and holds the build, nothing is awaited: each await is a turn of microtasks.
    if (!slot.started) await slot.ready
    const loading = this.ensureLoaded(slot, request.build)
    const loadError = loading === undefined ? undefined : await loading
    if (loadError) return failure(started, loadError)
    if (slot.dead)
      return failure(started, {
        code: 'FUNCTION_CRASHED',
        message: 'The sandbox worker stopped before the invocation began.',
      })

    // The function's time budget starts now: a worker starting up or a build loading is not its time.
    const begun = Date.now()
    return new Promise<InvocationOutcome>((resolve) => {
      const pending: Pending = {
        id: this.nextId++,
        request,
        slot,
        started,
        deadline: begun + request.limits.timeoutMs,
        logs: [],
        calls: [],
        callCount: 0,
        callsInFlight: 0,
        resolve,
      }
      slot.pending.set(pending.id, pending)
      pending.timer = setTimeout(() => this.timeOut(pending), Math.max(0, pending.deadline - Date.now()))
      this.post(slot, {
        type: 'invoke',
        id: pending.id,
        buildId: request.build.id,
        executionParams: request.executionParams,
        triggerParams: request.triggerParams,
      })
    })
  }

  async close(): Promise<void> {
    this.closed = true
    const all = [...this.slots.values()].flat()
    this.slots.clear()
    await Promise.all(
      all.map((slot) => this.retire(slot, { code: 'POOL_CLOSED', message: 'The sandbox was shut down.' })),
    )
  }

  private pick(memoryMb: number): WorkerSlot {
    let slots = this.slots.get(memoryMb) ?? []
    if (slots.some((slot) => slot.dead)) slots = slots.filter((slot) => !slot.dead)
    this.slots.set(memoryMb, slots)
    if (slots.length < this.size && slots.every((slot) => slot.pending.size > 0)) {
      const slot = this.spawn(memoryMb)
      slots.push(slot)
      return slot
    }
    return slots.reduce((best, slot) => (slot.pending.size < best.pending.size ? slot : best))
  }

  private spawn(memoryMb: number): WorkerSlot {
    const worker = new Worker(this.workerPath, {
      // The process environment (which may hold keys) never enters a worker.
      env: {},
      execArgv: [],
      workerData: { memoryMb },
      resourceLimits: {
        maxOldGenerationSizeMb: memoryMb,
        maxYoungGenerationSizeMb: Math.min(32, Math.max(4, memoryMb / 8)),
        stackSizeMb: 4,
      },
    })
    let resolveReady: () => void = () => undefined
    const markReady = () => {
      slot.started = true
      resolveReady()
    }
    const slot: WorkerSlot = {
      worker,
      memoryMb,
      ready: new Promise<void>((resolve) => (resolveReady = resolve)),
      started: false,
      loads: new Map(),
      loadWaiters: new Map(),
      pending: new IdTable(),
      dead: false,
      outbox: [],
    }
    worker.unref()
    worker.on('message', (message: WorkerToHost) => {
      if (message.type === 'ready') markReady()
      else if (message.type === 'pong') {
        clearTimeout(slot.pingTimer)
        slot.pingTimer = undefined
      } else if (message.type === 'memory-exceeded') {
        void this.retire(slot, {
          code: 'FUNCTION_OUT_OF_MEMORY',
          message: `The function ran out of memory (limit ${memoryMb} MiB, buffers included; raise "memoryMb" on the trigger if it needs more).`,
        })
      } else this.onMessage(slot, message)
    })
    worker.on('error', (error: Error & { code?: string }) => {
      const outOfMemory = error.code === 'ERR_WORKER_OUT_OF_MEMORY'
      void this.retire(slot, {
        code: outOfMemory ? 'FUNCTION_OUT_OF_MEMORY' : 'FUNCTION_CRASHED',
        message: outOfMemory
          ? `The function ran out of memory (limit ${memoryMb} MiB; raise "memoryMb" on the trigger if it needs more).`
          : `The sandbox worker crashed: ${error.message}`,
      })
      markReady()
    })
    worker.on('exit', () => {
      void this.retire(slot, { code: 'FUNCTION_CRASHED', message: 'The sandbox worker exited.' })
      markReady()
    })
    return slot
  }

  /**
   * Has the worker load the build unless it has or is loading it. Undefined when it already holds
   * it: the common case awaits nothing (each await is a turn of microtasks).
   */
  private ensureLoaded(
    slot: WorkerSlot,
    build: LoadedCode,
  ): Promise<SerializedError | undefined> | undefined {
    let load = slot.loads.get(build.id)
    if (load !== undefined) {
      // A count, not a move to the end of the Map: a delete and a set per invocation churn its
      // table, which V8 rebuilds and chains (see IdTable).
      load.lastUsed = this.uses++
      return load.loaded ? undefined : load.done
    }
    if (slot.loads.size >= MAX_LOADED_BUILDS) this.unloadOldest(slot)
    load = {
      done: new Promise((resolve) => slot.loadWaiters.set(build.id, resolve)),
      loaded: false,
      lastUsed: this.uses++,
    }
    slot.loads.set(build.id, load)
    this.post(slot, { type: 'load', buildId: build.id, code: build.code })
    return load.done
  }

  /** Unloads the least recently used build that no running invocation needs (dev makes many). */
  private unloadOldest(slot: WorkerSlot): void {
    const inUse = new Set(slot.pending.values().map((pending) => pending.request.build.id))
    let oldest: [string, BuildLoad] | undefined
    for (const entry of slot.loads) {
      if (inUse.has(entry[0]) || slot.loadWaiters.has(entry[0])) continue
      if (oldest === undefined || entry[1].lastUsed < oldest[1].lastUsed) oldest = entry
    }
    if (oldest === undefined) return
    slot.loads.delete(oldest[0])
    this.post(slot, { type: 'unload', buildId: oldest[0] })
  }

  private onMessage(slot: WorkerSlot, message: WorkerToHost): void {
    switch (message.type) {
      case 'loaded':
      case 'load-error': {
        const error = message.type === 'load-error' ? message.error : undefined
        const load = slot.loads.get(message.buildId)
        if (error) slot.loads.delete(message.buildId)
        else if (load) load.loaded = true
        slot.loadWaiters.get(message.buildId)?.(error)
        slot.loadWaiters.delete(message.buildId)
        return
      }
      case 'result': {
        const pending = slot.pending.get(message.id)
        if (pending) this.settle(pending, { ok: true, json: message.json })
        return
      }
      case 'error': {
        const pending = slot.pending.get(message.id)
        // After a timeout, whatever the function threw on its way out is the timeout.
        if (pending) this.settle(pending, { ok: false, error: pending.timedOut ?? message.error })
        return
      }
      case 'cancelled': {
        const pending = slot.pending.get(message.id)
        if (pending?.timedOut) this.settle(pending, { ok: false, error: pending.timedOut })
        return
      }
      case 'log': {
        const pending = slot.pending.get(message.id)
        pending?.logs.push({
          time: new Date(message.time).toISOString(),
          level: message.level,
          requestId: pending.request.executionParams.requestId,
          trigger: pending.request.trigger,
          value: message.value,
        })
        return
      }
      case 'call': {
        const pending = slot.pending.get(message.id)
        if (pending) void this.call(pending, message.callId, message.request)
        return
      }
      default:
        return
    }
  }

  private async call(pending: Pending, callId: number, request: BridgeRequest): Promise<void> {
    const started = Date.now()
    const record: CallRecord = {
      method: request.method,
      ...describeUrl(request.url),
      durationMs: 0,
      // Logs and calls arrive in the order the function made them (one message port, in order).
      logsBefore: pending.logs.length,
    }
    pending.calls.push(record)
    const reply = (message: HostToWorker) => {
      record.durationMs = Date.now() - started
      if (pending.slot.pending.has(pending.id)) this.post(pending.slot, message)
    }
    if (++pending.callCount > pending.request.limits.maxCalls) {
      const error = {
        code: 'FUNCTION_CALL_LIMIT',
        message: `Too many outbound calls: an invocation may make at most ${pending.request.limits.maxCalls}.`,
      }
      record.error = error
      reply({ type: 'call-error', id: pending.id, callId, error })
      return
    }
    const ownDeadline = request.timeoutMs === undefined ? Infinity : started + Math.max(0, request.timeoutMs)
    pending.callsInFlight++
    try {
      const response = await this.options.handleCall(request, {
        // A call that would run to the invocation's own deadline gets a little slack, so the
        // invocation's timeout (FUNCTION_TIMEOUT) always fires first and aborts the call, rather
        // than the call's deadline racing it and surfacing as EGRESS_TIMEOUT.
        deadline: ownDeadline < pending.deadline ? ownDeadline : pending.deadline + CALL_DEADLINE_SLACK_MS,
        signal: (pending.abort ??= new CallSignal()),
      })
      record.status = response.status
      reply({ type: 'call-result', id: pending.id, callId, response })
    } catch (error) {
      const serialized = toSerializedError(error)
      record.error = { code: serialized.code, message: serialized.message }
      // The guard's EgressError, read by shape: the egress module loads only once a call is made.
      const { allow } = error as { allow?: unknown }
      if (typeof allow === 'string') record.allow = allow
      reply({ type: 'call-error', id: pending.id, callId, error: serialized })
    } finally {
      pending.callsInFlight--
    }
  }

  private timeOut(pending: Pending): void {
    const { timeoutMs } = pending.request.limits
    pending.timedOut = {
      code: 'FUNCTION_TIMEOUT',
      message: `The function did not finish within its timeout of ${timeoutMs} ms (raise "timeoutMs" on the trigger, at most 300000).`,
    }
    pending.abort?.abort()
    this.post(pending.slot, { type: 'cancel', id: pending.id, error: pending.timedOut })
    // A worker busy in a synchronous loop cannot even read the cancel: then it is wedged.
    pending.graceTimer = setTimeout(() => {
      if (!pending.slot.pending.has(pending.id)) return
      const timedOut = pending.timedOut!
      this.settle(pending, { ok: false, error: timedOut })
      void this.retire(pending.slot, {
        code: 'FUNCTION_INTERRUPTED',
        message:
          'Another invocation blocked the sandbox worker running this one past its timeout; the worker was restarted.',
      })
    }, this.cancelGraceMs)
  }

  private settle(
    pending: Pending,
    result: { ok: true; json: string } | { ok: false; error: SerializedError },
  ): void {
    if (!pending.slot.pending.delete(pending.id)) return
    clearTimeout(pending.timer)
    clearTimeout(pending.graceTimer)
    // Only a call still out needs aborting (an abort makes an Error, with its stack).
    if (pending.callsInFlight > 0) pending.abort?.abort()
    if (pending.slot.pending.size === 0) this.checkResponsive(pending.slot)
    const { logs, calls } = pending
    const durationMs = Date.now() - pending.started
    pending.resolve(
      result.ok
        ? { ok: true, json: result.json, logs, calls, durationMs }
        : {
            ok: false,
            error: {
              code: result.error.code,
              message: result.error.message,
              status: statusForCode(result.error.code),
              ...(result.error.frames ? { frames: result.error.frames } : {}),
            },
            logs,
            calls,
            durationMs,
          },
    )
  }

  /**
   * Code an invocation left running (a loop after its return or its timeout) can wedge a worker
   * that no longer owns any timeout. Once a worker goes idle it must answer a ping; if it does
   * not, it is replaced, and whatever was sent to it meanwhile fails at once instead of waiting.
   */
  private checkResponsive(slot: WorkerSlot): void {
    if (slot.dead || slot.pingTimer !== undefined) return
    slot.pingTimer = setTimeout(() => {
      void this.retire(slot, {
        code: 'FUNCTION_INTERRUPTED',
        message:
          'Code an earlier invocation left running blocked the sandbox worker; the worker was restarted.',
      })
    }, WEDGE_MS)
    slot.pingTimer.unref()
    this.post(slot, { type: 'ping' })
  }

  private async retire(slot: WorkerSlot, error: SerializedError): Promise<void> {
    if (slot.dead) return
    clearTimeout(slot.pingTimer)
    slot.dead = true
    for (const pending of slot.pending.values()) this.settle(pending, { ok: false, error })
    for (const waiter of slot.loadWaiters.values()) waiter(error)
    slot.loadWaiters.clear()
    await slot.worker.terminate()
  }

  /**
   * Messages to a worker leave once per turn of the event loop, together: each postMessage may
   * wake the worker's thread, and on small virtual machines a wake-up costs more than the message
   * (under load this halves the worker's context switches). The other way, the worker posts each
   * message at once: code it runs may block it right after, and must not hold back a result.
   */
  /**
   * A message the structured clone cannot carry (a payload nested a few thousand levels deep
   * overflows its stack) fails its own invocation, never the process nor the others in its batch.
   */
  private deliver(slot: WorkerSlot, batch: HostToWorker[]): void {
    try {
      slot.worker.postMessage(batch)
      return
    } catch {
      // Sent one at a time to find the one that cannot go; nothing of a failed post was sent.
    }
    for (const message of batch) {
      try {
        slot.worker.postMessage([message])
      } catch (error) {
        if (message.type !== 'invoke') continue
        const pending = slot.pending.get(message.id)
        if (pending !== undefined) this.settle(pending, { ok: false, error: undeliverable(message, error) })
      }
    }
  }

  private post(slot: WorkerSlot, message: HostToWorker): void {
    if (slot.dead) return
    if (slot.outbox.length === 0) {
      setImmediate(() => {
        const batch = slot.outbox
        slot.outbox = []
        if (!slot.dead) this.deliver(slot, batch)
      })
    }
    slot.outbox.push(message)
  }
}

/** Why an invocation could not be handed to its worker: the payload's depth, or (unexpected) the rest. */
function undeliverable(message: Extract<HostToWorker, { type: 'invoke' }>, error: unknown): SerializedError {
  try {
    serialize(message.executionParams.payload)
  } catch {
    return {
      code: 'PAYLOAD_TOO_DEEP',
      message: 'The payload is nested too deeply to hand to the function (a few thousand levels at most).',
    }
  }
  return {
    code: 'INTERNAL_ERROR',
    message: `The invocation could not be handed to the sandbox: ${error instanceof Error ? error.message : String(error)}`,
  }
}

function failure(started: number, error: SerializedError): InvocationOutcome {
  return {
    ok: false,
    error: { code: error.code, message: error.message, status: statusForCode(error.code) },
    logs: [],
    calls: [],
    durationMs: Date.now() - started,
  }
}

function toSerializedError(error: unknown): SerializedError {
  if (error instanceof Error) {
    const { code, host } = error as Error & { code?: unknown; host?: unknown }
    return {
      code: typeof code === 'string' ? code : 'EGRESS_CONNECT_FAILED',
      message: error.message,
      ...(typeof host === 'string' ? { host } : {}),
    }
  }
  return { code: 'EGRESS_CONNECT_FAILED', message: String(error) }
}

/**
 * The form nearly every call takes, and one that WHATWG URL parsing leaves as it is: a lowercase
 * host name whose last label starts with a letter (else it may be read as an IPv4 number), no
 * port, no user info, and a path of plain characters (no dots, so no dot segments).
 */
const PLAIN_URL = /^(https?:\/\/((?:[a-z0-9-]+\.)*[a-z][a-z0-9-]*))(\/[\w\-~/]*)?(?:[?#]|$)/

function describeUrl(url: string): { url: string; host: string } {
  const plain = PLAIN_URL.exec(url)
  if (plain !== null) return { url: `${plain[1]}${plain[3] ?? '/'}`, host: plain[2]! }
  try {
    const parsed = new URL(url)
    return { url: `${parsed.origin}${parsed.pathname}`, host: parsed.host }
  } catch {
    return { url: shorten(url, 200), host: '' }
  }
}

/** The built worker script: dist/sandbox/worker.js of this package (the sources use it too). */
function locateWorker(): string {
  return join(packageRoot(), 'dist', 'sandbox', 'worker.js')
}
