/**
 * `GET /metrics` in the Prometheus text format (version 0.0.4): counters and a latency histogram
 * kept in memory since the server started.
 */
const DURATION_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]
/** Hosts are named by function code: past this many, blocked calls count under one label. */
const MAX_BLOCKED_HOSTS = 200
const OTHER_HOSTS = '_other'

export interface InvocationSample {
  /** Undefined for a request that ran nothing (no version serves): no per-trigger series for it. */
  trigger?: string
  status: number
  durationMs: number
  errorCode?: string
  blockedHosts: readonly string[]
}

interface Histogram {
  buckets: number[]
  sum: number
  count: number
}

export class RuntimeMetrics {
  private readonly invocations = new Map<string, number>()
  private readonly errors = new Map<string, number>()
  private readonly durations = new Map<string, Histogram>()
  private readonly blocked = new Map<string, number>()

  record(sample: InvocationSample): void {
    if (sample.errorCode !== undefined) increment(this.errors, sample.errorCode)
    for (const host of sample.blockedHosts) {
      const label = this.blocked.has(host) || this.blocked.size < MAX_BLOCKED_HOSTS ? host : OTHER_HOSTS
      increment(this.blocked, label)
    }
    if (sample.trigger === undefined) return
    increment(this.invocations, JSON.stringify([sample.trigger, String(sample.status)]))
    let histogram = this.durations.get(sample.trigger)
    if (histogram === undefined) {
      histogram = { buckets: DURATION_BUCKETS_SECONDS.map(() => 0), sum: 0, count: 0 }
      this.durations.set(sample.trigger, histogram)
    }
    const seconds = sample.durationMs / 1000
    DURATION_BUCKETS_SECONDS.forEach((bound, index) => {
      if (seconds <= bound) histogram.buckets[index]!++
    })
    histogram.sum += seconds
    histogram.count++
  }

  render(activeVersion: string | null): string {
    const lines: string[] = []
    const header = (name: string, type: string, help: string) =>
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)

    header('centrali_invocations_total', 'counter', 'Endpoint invocations by trigger and HTTP status.')
    for (const [key, count] of this.invocations) {
      const [trigger, status] = JSON.parse(key) as [string, string]
      lines.push(`centrali_invocations_total${labels({ trigger, status })} ${count}`)
    }
    header('centrali_invocation_errors_total', 'counter', 'Failed invocations by error code.')
    for (const [code, count] of this.errors)
      lines.push(`centrali_invocation_errors_total${labels({ code })} ${count}`)
    header('centrali_invocation_duration_seconds', 'histogram', 'Invocation time, outbound calls included.')
    for (const [trigger, histogram] of this.durations) {
      DURATION_BUCKETS_SECONDS.forEach((bound, index) =>
        lines.push(
          `centrali_invocation_duration_seconds_bucket${labels({ trigger, le: String(bound) })} ${histogram.buckets[index]}`,
        ),
      )
      lines.push(
        `centrali_invocation_duration_seconds_bucket${labels({ trigger, le: '+Inf' })} ${histogram.count}`,
        `centrali_invocation_duration_seconds_sum${labels({ trigger })} ${histogram.sum}`,
        `centrali_invocation_duration_seconds_count${labels({ trigger })} ${histogram.count}`,
      )
    }
    header('centrali_egress_blocked_total', 'counter', 'Outbound calls the egress guard refused, by host.')
    for (const [host, count] of this.blocked)
      lines.push(`centrali_egress_blocked_total${labels({ host })} ${count}`)
    header('centrali_active_version_info', 'gauge', 'The version serving (1), none when absent.')
    if (activeVersion !== null)
      lines.push(`centrali_active_version_info${labels({ version: activeVersion })} 1`)
    return `${lines.join('\n')}\n`
  }
}

function increment(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1)
}

function labels(values: Record<string, string>): string {
  const pairs = Object.entries(values).map(
    ([name, value]) =>
      `${name}="${value.replaceAll('\\', '\\\\').replaceAll('\n', '\\n').replaceAll('"', '\\"')}"`,
  )
  return `{${pairs.join(',')}}`
}
