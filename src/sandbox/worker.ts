/**
 * A sandbox worker: one worker_thread that has called SES `lockdown()` and runs invocations, many
 * at a time, each in its own Compartment whose globals are exactly the function contract of
 * DESIGN §2. The network and secrets never live here: `api` calls go to the host over the message
 * port, and an invocation only ever sees the params handed to it.
 *
 * Cost: a function's bundle is evaluated once per worker into a factory; each invocation calls the
 * factory with that invocation's globals (and, when its code names `globalThis` or `Function`, a
 * fresh Compartment's globalThis), so the bundle's top-level code runs again (fresh module state)
 * without being parsed again.
 */
import 'ses'
import { getHeapStatistics } from 'node:v8'
import { parentPort, workerData } from 'node:worker_threads'
import { IdTable } from '../shared/id-table.js'
import type {
  BridgeRequest,
  BridgeResponse,
  ExecutionParams,
  HostToWorker,
  SerializedError,
  TriggerParamValue,
  WorkerToHost,
} from './protocol.js'
import {
  codeFrames,
  contractApi,
  copyHeaders,
  describeThrown,
  encodeBody,
  freezeData,
  NO_RUN_MESSAGE,
  parseResponseText,
  resultJson,
  toLogValue,
} from './api-values.js'
import { BLOCKING_CODES } from '../egress/errors.js'
import { callFactory, needsOwnGlobal, type Factory } from './factory.js'

lockdown({
  errorTaming: 'unsafe', // keep stack traces: people debug their functions with them
  overrideTaming: 'severe', // let libraries assign e.g. `toString` on their own objects
  consoleTaming: 'unsafe',
  stackFiltering: 'concise',
})

const port = parentPort
if (port === null) throw new Error('the sandbox worker must run in a worker_thread')
const send = (message: WorkerToHost) => port.postMessage(message)

// Sandbox code may leave a rejected promise unhandled; that must not bring the worker down.
process.on('unhandledRejection', () => undefined)

// After lockdown, the start compartment's Date and Math still have now() and random(), which
// compartments otherwise lack. Host web APIs are hardened so no invocation can change them for
// the others (or for this worker's own code).
const hostGlobals = harden({
  Date: globalThis.Date,
  Math: globalThis.Math,
  URL: globalThis.URL,
  URLSearchParams: globalThis.URLSearchParams,
  TextEncoder: globalThis.TextEncoder,
  TextDecoder: globalThis.TextDecoder,
  btoa: globalThis.btoa,
  atob: globalThis.atob,
  structuredClone: globalThis.structuredClone,
})

/** Powers a Compartment has by default that the function contract does not grant. */
const WITHHELD = ['Compartment', 'lockdown', 'harden', 'assert'] as const

function withhold(global: object): void {
  for (const name of WITHHELD) delete (global as Record<string, unknown>)[name]
}

/**
 * harden() for a record of arrow functions made per invocation, at a twentieth of its cost: an
 * arrow has no `prototype`, its own properties are primitives, and lockdown already hardened
 * Function.prototype, so freezing each function and the record hardens them all.
 */
function freezeArrows<T extends Record<string, (...args: never[]) => unknown>>(record: T): T {
  for (const value of Object.values(record)) {
    if (Object.hasOwn(value, 'prototype')) harden(value)
    else Object.freeze(value)
  }
  return Object.freeze(record)
}

/** Where factories are evaluated: built-ins only, frozen, so nothing can be stored on it. */
const factoryCompartment = new Compartment({ globals: { ...hostGlobals }, __options__: true })
withhold(factoryCompartment.globalThis)
harden(factoryCompartment.globalThis)

interface LoadedFactory {
  factory: Factory
  /** Whether each invocation needs a Compartment of its own (see needsOwnGlobal). */
  ownGlobal: boolean
}

/** Loaded builds; the host decides when one is unloaded. */
const factories = new Map<string, LoadedFactory>()
/** Per invocation: what its logs may weigh on the host (JSON bytes; the result: MAX_RESULT_BYTES). */
const MAX_LOG_RECORDS = 1000
const MAX_LOG_BYTES = 1024 * 1024

interface PendingCall {
  resolve: (response: FunctionResponse) => void
  reject: (error: Error) => void
}

interface Invocation {
  id: number
  done: boolean
  timers: Map<number, ReturnType<typeof setTimeout>>
  calls: Map<number, PendingCall>
  nextCallId: number
  logCount: number
  logBytes: number
  /** Set by a cancel: what every later api call rejects with (see endedError). */
  cancelledWith?: Error
}

const invocations = new IdTable<Invocation>()
let nextTimerId = 1

// Errors handed to sandbox code are made by classes defined INSIDE a compartment: a class written
// here would extend this worker's own Error, whose prepareStackTrace and stackTraceLimit setters
// work, and an invocation could reach it through `e.constructor` and change stack traces (and read
// error messages) for every invocation on the worker.
interface HttpErrorData {
  status: number
  statusText: string
  headers: Record<string, string>
  body: unknown
}
type HttpErrorClass = new (message: string, response: HttpErrorData) => Error
type CodedErrorClass = new (error: SerializedError) => Error & { code: string; host?: string }
const { HttpError, CodedError } = factoryCompartment.evaluate(`({
  HttpError: class HttpError extends Error {
    constructor(message, response) {
      super(message)
      this.name = 'HttpError'
      this.status = response.status
      this.statusText = response.statusText
      this.headers = response.headers
      this.body = response.body
    }
  },
  CodedError: class CodedError extends Error {
    constructor(error) {
      super(error.message)
      // A blocked call is an EgressBlockedError (DESIGN §3); limits, cancels and failures upstream
      // (EGRESS_TIMEOUT, EGRESS_RESPONSE_TOO_LARGE, ...) are CentraliErrors, as on the Worker.
      this.name = ${JSON.stringify([...BLOCKING_CODES])}.includes(error.code) ? 'EgressBlockedError' : 'CentraliError'
      this.code = error.code
      this.host = error.host
    }
  },
})`) as { HttpError: HttpErrorClass; CodedError: CodedErrorClass }
harden(HttpError)
harden(CodedError)

/** A call's error made again where the function awaited it, for its frames (see contractApi). */
const failedCall = (error: unknown): never => {
  throw error instanceof CodedError ? new CodedError(error) : error
}

function serializeError(error: unknown): SerializedError {
  if (error instanceof CodedError) {
    return {
      code: error.code,
      message: error.message,
      ...(error.host === undefined ? {} : { host: error.host }),
      ...framesOf(error),
    }
  }
  if (!(error instanceof Error)) return { code: 'FUNCTION_ERROR', message: describeThrown(error) }
  return { code: 'FUNCTION_ERROR', message: error.message, ...framesOf(error) }
}

/** Where in the function's code an error was made, when its stack says. */
function framesOf(error: Error): Pick<SerializedError, 'frames'> {
  const frames = codeFrames(error.stack)
  return frames.length > 0 ? { frames } : {}
}

function makeApi(invocation: Invocation) {
  const request = (method: unknown, url: unknown, options: unknown = {}): Promise<FunctionResponse> => {
    if (invocation.done) return Promise.reject(endedError(invocation))
    if (typeof method !== 'string' || typeof url !== 'string') {
      return Promise.reject(
        new TypeError('api.request(method, url, options): method and url must be strings'),
      )
    }
    const { body, headers, timeoutMs } = (options ?? {}) as {
      body?: unknown
      headers?: unknown
      timeoutMs?: unknown
    }
    let bridgeRequest: BridgeRequest
    try {
      const copied = copyHeaders(headers)
      const encoded = encodeBody(body, copied)
      bridgeRequest = {
        method: method.toUpperCase(),
        url,
        headers: copied,
        ...(encoded === undefined ? {} : { body: encoded }),
        ...(typeof timeoutMs === 'number' ? { timeoutMs } : {}),
      }
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new TypeError(String(error)))
    }
    const callId = invocation.nextCallId++
    return new Promise<FunctionResponse>((resolve, reject) => {
      invocation.calls.set(callId, { resolve, reject })
      send({ type: 'call', id: invocation.id, callId, request: bridgeRequest })
    })
  }
  const log = (level: 'info' | 'error') => (value: unknown) => {
    if (invocation.done || invocation.logCount > MAX_LOG_RECORDS) return
    invocation.logCount++
    if (invocation.logCount > MAX_LOG_RECORDS) {
      // One last record says why the rest is missing; the host never holds more than the cap.
      const note = `log limit reached (${MAX_LOG_RECORDS} records per invocation); later records dropped`
      send({ type: 'log', id: invocation.id, level: 'error', time: Date.now(), value: note })
      return
    }
    const record = toLogValue(value)
    const bytes = JSON.stringify(record)?.length ?? 4
    if (invocation.logBytes + bytes > MAX_LOG_BYTES) {
      // Only this record is dropped, with a note in its place: the smaller ones after it still fit.
      const note = `a log record of ${bytes} bytes was dropped: an invocation's logs may hold ${MAX_LOG_BYTES} bytes, and ${MAX_LOG_BYTES - invocation.logBytes} were left`
      invocation.logBytes += note.length
      send({ type: 'log', id: invocation.id, level: 'error', time: Date.now(), value: note })
      return
    }
    invocation.logBytes += bytes
    send({ type: 'log', id: invocation.id, level, time: Date.now(), value: record })
  }
  return freezeArrows(contractApi(request, log, HttpError, failedCall))
}

function makeTimers(invocation: Invocation) {
  const schedule =
    (repeat: boolean) =>
    (callback: unknown, ms?: unknown, ...args: unknown[]) => {
      if (typeof callback !== 'function') throw new TypeError('the callback must be a function')
      if (invocation.done) return 0
      const id = nextTimerId++
      const delay = typeof ms === 'number' && ms > 0 ? ms : 0
      const fire = () => {
        if (!repeat) invocation.timers.delete(id)
        if (invocation.done) return
        try {
          ;(callback as (...values: unknown[]) => void)(...args)
        } catch (error) {
          finish(invocation, { type: 'error', id: invocation.id, error: serializeError(error) })
        }
      }
      invocation.timers.set(id, repeat ? setInterval(fire, delay) : setTimeout(fire, delay))
      return id
    }
  const clear = (id: unknown) => {
    if (typeof id !== 'number') return
    const handle = invocation.timers.get(id)
    if (handle === undefined) return
    clearTimeout(handle)
    invocation.timers.delete(id)
  }
  return freezeArrows({
    setTimeout: schedule(false),
    setInterval: schedule(true),
    clearTimeout: clear,
    clearInterval: clear,
  })
}

/** Made only when needed: an Error records a stack, and most invocations end with no call out. */
function endedError(invocation: Invocation): Error {
  return (invocation.cancelledWith ??= new CodedError({
    code: 'INVOCATION_ENDED',
    message: 'The invocation has already ended.',
  }))
}

function finish(invocation: Invocation, message: WorkerToHost): void {
  if (invocation.done) return
  invocation.done = true
  for (const handle of invocation.timers.values()) clearTimeout(handle)
  invocation.timers.clear()
  // Code left running after the end gets a settled answer to every call, now and later.
  for (const call of invocation.calls.values()) call.reject(endedError(invocation))
  invocation.calls.clear()
  invocations.delete(invocation.id)
  send(message)
}

function load(buildId: string, code: string): void {
  try {
    const factory = factoryCompartment.evaluate(code) as Factory
    if (typeof factory !== 'function') throw new Error('the build did not produce a function factory')
    factories.set(buildId, { factory, ownGlobal: needsOwnGlobal(code) })
    send({ type: 'loaded', buildId })
  } catch (error) {
    send({
      type: 'load-error',
      buildId,
      error: { code: 'FUNCTION_LOAD_FAILED', message: (error as Error).message },
    })
  }
}

async function invoke(
  id: number,
  buildId: string,
  executionParams: ExecutionParams,
  triggerParams: Record<string, TriggerParamValue>,
): Promise<void> {
  const invocation: Invocation = {
    id,
    done: false,
    timers: new Map(),
    calls: new Map(),
    nextCallId: 1,
    logCount: 0,
    logBytes: 0,
  }
  invocations.set(id, invocation)
  const loaded = factories.get(buildId)
  if (loaded === undefined) {
    finish(invocation, {
      type: 'error',
      id,
      error: { code: 'INTERNAL_ERROR', message: `build ${buildId} is not loaded` },
    })
    return
  }
  try {
    const timers = makeTimers(invocation)
    // Structured clones of JSON data, whose prototypes lockdown already hardened: freezing them is
    // hardening them, at a fraction of harden()'s cost; anything else is hardened the slow way.
    const frozenExecutionParams = freezeData(executionParams, harden)
    const frozenTriggerParams = freezeData(triggerParams, harden)
    const api = makeApi(invocation)
    let ownGlobal = factoryCompartment.globalThis
    if (loaded.ownGlobal) {
      const globals = {
        ...hostGlobals,
        executionParams: frozenExecutionParams,
        triggerParams: frozenTriggerParams,
        api,
        ...timers,
      }
      ownGlobal = new Compartment({ globals, __options__: true }).globalThis
      withhold(ownGlobal)
    }
    const run = callFactory(
      loaded.factory,
      ownGlobal,
      frozenExecutionParams,
      frozenTriggerParams,
      api,
      timers,
      ownGlobal.Function,
    )
    if (typeof run !== 'function') throw new CodedError({ code: 'FUNCTION_NO_RUN', message: NO_RUN_MESSAGE })
    const result = resultJson(await run())
    if ('code' in result) throw new CodedError(result)
    finish(invocation, { type: 'result', id, json: result.json })
  } catch (error) {
    finish(invocation, { type: 'error', id, error: serializeError(error) })
  }
}

function cancel(id: number, error: SerializedError): void {
  const invocation = invocations.get(id)
  if (invocation === undefined) return
  invocation.cancelledWith = new CodedError(error)
  finish(invocation, { type: 'cancelled', id })
}

// The host sends what it has for this worker once per turn of its event loop, as a batch. Each
// message is handled in a turn of its own, as if sent alone: the microtasks one starts (an
// invocation finishing, its result posted) run before the next message, whose code may block.
port.on('message', (batch: HostToWorker[]) => {
  receive(batch[0]!)
  for (const message of batch.slice(1)) setImmediate(receive, message)
})

function receive(message: HostToWorker): void {
  switch (message.type) {
    case 'load':
      load(message.buildId, message.code)
      break
    case 'invoke':
      void invoke(message.id, message.buildId, message.executionParams, message.triggerParams)
      break
    case 'cancel':
      cancel(message.id, message.error)
      break
    case 'unload':
      factories.delete(message.buildId)
      break
    case 'ping':
      send({ type: 'pong' })
      break
    case 'call-result':
    case 'call-error': {
      const invocation = invocations.get(message.id)
      const call = invocation?.calls.get(message.callId)
      if (invocation === undefined || call === undefined) break
      invocation.calls.delete(message.callId)
      if (message.type === 'call-result') call.resolve(withBody(message.response))
      else call.reject(new CodedError(message.error))
      break
    }
  }
}

/** A response as the function sees it: the body it was sent as text, parsed. */
type FunctionResponse = Omit<BridgeResponse, 'text'> & { body: unknown }

function withBody(response: BridgeResponse): FunctionResponse {
  const { status, statusText, headers, text } = response
  // Named fields rather than a rest and a spread: this runs for every call.
  return { status, statusText, headers, body: parseResponseText(text, headers['content-type']) }
}

// memoryMb bounds the JavaScript heap (resourceLimits); ArrayBuffer memory lives outside it, so
// it is watched here. A synchronous allocation loop starves this check, and ends at its timeout.
const { memoryMb } = workerData as { memoryMb: number }
setInterval(() => {
  if (getHeapStatistics().external_memory > memoryMb * 1024 * 1024) send({ type: 'memory-exceeded' })
}, 50).unref()

send({ type: 'ready' })
