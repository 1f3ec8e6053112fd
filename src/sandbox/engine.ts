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

export interface InvocationReport extends Omit<InvocationOutcome, 'json'> {
  /**
   * What run() returned (when ok), as JSON text: what an endpoint answers with, untouched. Read
   * the value with resultOf.
   */
  resultJson?: string
  /** Where secret values were found and replaced; names only. */
  redactions: Redaction[]
}

export async function runInvocation(options: RunInvocationOptions): Promise<InvocationReport> {
  const outcome = await options.pool.invoke(options)
  const redactor = createRedactor(options.secrets)
  const { ok, json, error, logs, calls, durationMs } = outcome
  const clean = <T>(records: T[], name: string): T[] =>
    redactor.active ? records.map((record, index) => redactor.redact(record, `${name}[${index}]`)) : records
  // In this order, so that the redactions are listed as before: result, error, logs, calls.
  const resultJson = json === undefined ? undefined : redactor.redactJson(json, 'result')
  const cleanError = error === undefined ? undefined : redactor.redact(error, 'error')
  const report: InvocationReport = {
    ok,
    durationMs,
    logs: clean(logs, 'logs'),
    calls: clean(calls, 'calls'),
    redactions: [...redactor.redactions],
  }
  // Assigned rather than spread in: this runs for every request.
  if (resultJson !== undefined) report.resultJson = resultJson
  if (cleanError !== undefined) report.error = cleanError
  return report
}

/** The parsed result of a report (undefined when the invocation failed). */
export function resultOf(report: Pick<InvocationReport, 'resultJson'>): unknown {
  return report.resultJson === undefined ? undefined : (JSON.parse(report.resultJson) as unknown)
}
