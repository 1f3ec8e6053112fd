import { createRedactor, type Redaction } from '../secrets/redact.js'
import type { InvocationOutcome, InvocationRequest, SandboxPool } from './pool.js'

/**
 * One invocation as every front end runs it (`invoke` now, `dev` and `serve` next): through the
 * pool, then with every secret value the invocation was given redacted from all that leaves it.
 */
export interface RunInvocationOptions extends InvocationRequest {
  pool: SandboxPool
  /** Secret name → value, for the secrets in `triggerParams`. */
  secrets: ReadonlyMap<string, string>
}

export interface InvocationReport extends Omit<InvocationOutcome, 'value'> {
  /** What run() returned (when ok). */
  result?: unknown
  /** Where secret values were found and replaced; names only. */
  redactions: Redaction[]
}

export async function runInvocation(options: RunInvocationOptions): Promise<InvocationReport> {
  const { pool, secrets, ...request } = options
  const { value, ...outcome } = await pool.invoke(request)
  const redactor = createRedactor(secrets)
  const clean = <T>(data: T, where: string): T => (data === undefined ? data : redactor.redact(data, where))
  return {
    ...outcome,
    ...(outcome.ok ? { result: clean(value ?? null, 'result') } : {}),
    ...(outcome.error ? { error: clean(outcome.error, 'error') } : {}),
    logs: outcome.logs.map((record, index) => clean(record, `logs[${index}]`)),
    calls: outcome.calls.map((call, index) => clean(call, `calls[${index}]`)),
    redactions: [...redactor.redactions],
  }
}
