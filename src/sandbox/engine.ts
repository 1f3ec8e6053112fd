import { createRedactor, type Redaction } from '../secrets/redact.js'
import type { InvocationOutcome, InvocationRequest, SandboxPool } from './pool.js'

/**
 * One invocation as every front end runs it (`invoke`, `dev` and `serve`): through the pool, then
 * with every secret value the invocation was given redacted from all that leaves it.
 */
export interface RunInvocationOptions extends InvocationRequest {
  pool: SandboxPool
  /** Secret name → value, for the secrets in `triggerParams`. */
  secrets: ReadonlyMap<string, string>
}

export interface InvocationReport extends Omit<InvocationOutcome, 'json' | 'value'> {
  /** What run() returned (when ok), as JSON text: what an endpoint answers with. */
  resultJson?: string
  /** The same, parsed (again on every read). */
  readonly result?: unknown
  /** Where secret values were found and replaced; names only. */
  redactions: Redaction[]
}

export async function runInvocation(options: RunInvocationOptions): Promise<InvocationReport> {
  const { pool, secrets, ...request } = options
  const { ok, json, error, logs, calls, durationMs } = await pool.invoke(request)
  const redactor = createRedactor(secrets)
  const resultJson = json === undefined ? undefined : redactor.redactJson(json, 'result')
  const report = {
    ok,
    durationMs,
    ...(error ? { error: redactor.redact(error, 'error') } : {}),
    logs: redactor.active ? logs.map((record, index) => redactor.redact(record, `logs[${index}]`)) : logs,
    calls: redactor.active ? calls.map((call, index) => redactor.redact(call, `calls[${index}]`)) : calls,
    redactions: [...redactor.redactions],
  }
  if (resultJson === undefined) return report
  return {
    ...report,
    resultJson,
    get result() {
      return JSON.parse(resultJson) as unknown
    },
  }
}
