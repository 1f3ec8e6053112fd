/**
 * Messages between the host (pool) and a sandbox worker. Everything crossing is structured-clone
 * data: no functions, no host objects. Results travel as JSON text so the worker proves they are
 * JSON-serialisable before the host sees them.
 */

export interface ExecutionParams {
  payload: unknown
  method: string
  path: string
  query: Record<string, string>
  headers: Record<string, string>
  requestId: string
}

export type TriggerParamValue = string | number | boolean | null

export interface SerializedError {
  code: string
  message: string
  /** For errors raised by the api bridge: the upstream status, the host. */
  status?: number
  host?: string
  /** For an error the function threw: where, in the code the worker ran (see CodeFrame). */
  frames?: CodeFrame[]
}

/**
 * A frame of a thrown error's stack that lies in the function's own code: a position (1-based) in
 * the factory source the worker evaluated, which the build's source map turns into a file and line.
 */
export interface CodeFrame {
  /** The function's name, when it has one. */
  name?: string
  line: number
  column: number
}

export type HostToWorker =
  | { type: 'load'; buildId: string; code: string }
  | {
      type: 'invoke'
      id: number
      buildId: string
      executionParams: ExecutionParams
      triggerParams: Record<string, TriggerParamValue>
    }
  /** Stop an invocation now (timeout, shutdown): clear its timers, reject its pending calls. */
  | { type: 'cancel'; id: number; error: SerializedError }
  | { type: 'unload'; buildId: string }
  /** Answered at once by a worker whose event loop is free (see the pool's wedge check). */
  | { type: 'ping' }
  | { type: 'call-result'; id: number; callId: number; response: BridgeResponse }
  | { type: 'call-error'; id: number; callId: number; error: SerializedError }

export type WorkerToHost =
  | { type: 'ready' }
  | { type: 'pong' }
  /** ArrayBuffer memory over the worker's memoryMb. */
  | { type: 'memory-exceeded' }
  | { type: 'loaded'; buildId: string }
  | { type: 'load-error'; buildId: string; error: SerializedError }
  | { type: 'result'; id: number; json: string }
  | { type: 'error'; id: number; error: SerializedError }
  | { type: 'cancelled'; id: number }
  | { type: 'log'; id: number; level: 'info' | 'error'; time: number; value: unknown }
  | { type: 'call'; id: number; callId: number; request: BridgeRequest }

export interface BridgeRequest {
  method: string
  url: string
  headers: Record<string, string>
  /** Already encoded: a plain object was turned into JSON by the worker. */
  body?: string
  timeoutMs?: number
}

export interface BridgeResponse {
  status: number
  statusText: string
  headers: Record<string, string>
  /**
   * The body as received. The worker parses it into what the function sees (JSON when the
   * response says so, else text): the host's thread, which serves every request, then neither
   * parses it nor copies a tree of objects across.
   */
  text: string
}
