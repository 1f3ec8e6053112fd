import type { DevEvent } from '../../src/dev/session.js'
import type { RunningCli } from './cli.js'
import { until } from './until.js'

export type EventOf<K extends DevEvent['type']> = Extract<DevEvent, { type: K }>

/** The NDJSON events of a `centrali dev --json` process. */
export interface DevEvents {
  /** Every event so far, in the order dev wrote them. */
  readonly events: DevEvent[]
  /** The index the next event will have: `next(…, since)` looks only at events from there on. */
  mark(): number
  /** The first event of `type` that `match` accepts, from index `since` on. */
  next<K extends DevEvent['type']>(
    type: K,
    match?: (event: EventOf<K>) => boolean,
    since?: number,
  ): Promise<EventOf<K>>
}

/**
 * Reads `dev`'s stdout lines as events, those already read and each as it comes. A line that is not
 * JSON goes to `onOtherLine`: --json stdout is to be NDJSON and nothing else. `next` fails at
 * `timeoutMs`, or at once when dev has exited, with its output.
 */
export function readDevEvents(
  dev: RunningCli,
  timeoutMs: number,
  onOtherLine: (line: string) => void = () => undefined,
): DevEvents {
  const events: DevEvent[] = []
  dev.onLine((line) => {
    try {
      events.push(JSON.parse(line) as DevEvent)
    } catch {
      onOtherLine(line)
    }
  })
  return {
    events,
    mark: () => events.length,
    next: <K extends DevEvent['type']>(
      type: K,
      match: (event: EventOf<K>) => boolean = () => true,
      since = 0,
    ) =>
      until(
        () =>
          events
            .slice(since)
            .find((event): event is EventOf<K> => event.type === type && match(event as EventOf<K>)),
        () => `no ${type} event${dev.show()}`,
        { child: dev.child, name: 'dev', timeoutMs },
      ),
  }
}
