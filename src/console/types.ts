/**
 * What the dev console's page and `centrali dev` exchange: the project as it stands, and one record
 * per invocation. Values of secrets never appear: params that are secret refs carry the name only,
 * and payloads, results, logs and calls went through the runtime's redaction first.
 */
export interface ConsoleState {
  /** The endpoint server, for the curl lines the page shows. */
  url: string
  configFile: string
  /** The last config error, while the last good config stays in force. */
  configError?: string
  functions: { name: string; entry: string; build: 'ok' | 'stale' | 'building'; error?: string }[]
  triggers: ConsoleTrigger[]
  domains: string[]
  secrets: { name: string; set: boolean; usedBy: string[] }[]
}

export interface ConsoleTrigger {
  name: string
  type: string
  function: string
  timeoutMs: number
  memoryMb: number
  params: { name: string; value?: string | number | boolean | null; secret?: string }[]
  cors?: { origins: string[]; headers?: string[]; credentials?: boolean; maxAgeSeconds?: number }
  /** The trigger's `examplePayload`: the curl and the invoke form start from it. */
  examplePayload?: unknown
}

export interface ConsoleCall {
  method: string
  host: string
  url: string
  status?: number
  durationMs: number
  blocked: boolean
  error?: { code: string; message: string }
  /** The command that allows a blocked host. */
  fix?: string
}

export interface InvocationRecord {
  requestId: string
  time: string
  trigger: string
  /** 0 while running. */
  status: number
  durationMs: number
  timeoutMs: number
  stale: boolean
  payload: unknown
  result?: unknown
  /**
   * Set when the result's JSON was too long to show whole: its length, and `result` is the start
   * of that text.
   */
  resultChars?: number
  /** `stack`: where a thrown error came from, in the project's files (see the build's source map). */
  error?: { code: string; message: string; stack?: string[] }
  logs: { level: 'info' | 'error'; value: unknown }[]
  calls: ConsoleCall[]
}

/** Server-sent events on GET /_console/api/events. */
export type ConsoleEvent =
  { type: 'state'; state: ConsoleState } | { type: 'invocation'; record: InvocationRecord }

/** The per-run token: in the printed URL's query, and sent back by the page in this header. */
export const CONSOLE_TOKEN_HEADER = 'x-centrali-console-token'
export const CONSOLE_PATH = '/_console'
