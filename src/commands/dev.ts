import { spawn } from 'node:child_process'
import * as Flags from '@oclif/core/flags'
import { BaseCommand } from '../cli/base-command.js'
import { prose } from '../cli/help-text.js'
import { isLoopbackHost } from '../shared/loopback.js'
import { colorEnabled, lineWriter, painter, printable } from '../cli/output.js'
import { startDev, type DevEndpoint, type DevEvent } from '../dev/session.js'
import { parseMapFlags } from '../project/invoke.js'
import { UsageError } from '../shared/errors.js'

export default class Dev extends BaseCommand {
  static override summary =
    'Serve your endpoint triggers locally, rebuilt on every save, in the production sandbox.'
  static override description =
    prose(`Prints "Ready on http://127.0.0.1:<port>" and a curl line per endpoint, then one line per
invocation with its outbound calls and logs. Function files, the modules they import, centrali.json
and the secrets store reload without a restart; a build or config error keeps the last good one
serving. --json prints the same as NDJSON events. Ctrl-C lets running invocations finish (up to 5 s).`)

  static override examples = [
    '<%= config.bin %> dev',
    '<%= config.bin %> dev --port 0 --json',
    '<%= config.bin %> dev --map api.openai.com=http://127.0.0.1:9000',
    '<%= config.bin %> dev --cors http://localhost:3000',
  ]

  static override flags = {
    port: Flags.integer({
      description: 'Port (0 picks a free one). Default: dev.port in centrali.json, else 8787.',
      min: 0,
      max: 65535,
    }),
    host: Flags.string({ description: 'Address to listen on.', default: '127.0.0.1' }),
    map: Flags.string({
      description: 'Send calls for a host to a local origin: host=origin (repeatable).',
      multiple: true,
    }),
    cors: Flags.string({
      description: 'Also allow this browser origin on every trigger (repeatable).',
      multiple: true,
    }),
    open: Flags.boolean({ description: 'Open the dev console in the browser once ready.' }),
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(Dev)
    const context = this.context(flags)
    const json = this.jsonEnabled()
    const out = lineWriter(process.stdout)
    const render = json ? (event: DevEvent) => out(JSON.stringify(event)) : humanRenderer(out)
    const session = await startDev({
      ...context,
      host: flags.host,
      ...(flags.port === undefined ? {} : { port: flags.port }),
      map: parseMapFlags(flags.map ?? []),
      cors: (flags.cors ?? []).map(checkOrigin),
      onEvent: render,
    })
    // Once it listens there: an address dev could not listen on is an error, not a warning.
    if (!isLoopbackHost(flags.host)) {
      this.output.warn(
        `listening on ${flags.host}: anyone who can reach this address can call your functions with your secrets`,
      )
    }
    if (flags.open) openBrowser(session.consoleUrl, (message) => this.output.warn(message))
    // Stop cleanly on Ctrl-C or SIGTERM: no new requests, running ones finish, then exit.
    process.removeAllListeners('SIGINT')
    await new Promise<void>((resolve) => {
      const stop = (signal: NodeJS.Signals) => {
        process.exitCode = signal === 'SIGINT' ? 130 : 0
        if (!json) process.stderr.write('\nStopping: letting running invocations finish…\n')
        void session.close(5000).then(resolve)
      }
      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
    })
  }

  // dev streams events; there is no single result to print at the end (run() returns nothing),
  // but an error that stops it still goes out as { "error": … }.
  override logJson(json: unknown): void {
    if (json !== undefined) super.logJson(json)
  }
}

function checkOrigin(origin: string): string {
  if (origin === '*') return origin
  try {
    const url = new URL(origin)
    if (url.origin === origin) return origin
  } catch {
    // fall through
  }
  throw new UsageError(
    'CORS_ORIGIN_INVALID',
    `--cors ${origin}: expected an origin such as http://localhost:5173 (no path).`,
  )
}

/** How much of a request id the terminal shows: enough to find the one a client reports. */
const SHORT_ID_LENGTH = 8

function humanRenderer(out: (line: string) => void): (event: DevEvent) => void {
  const paint = painter(colorEnabled(process.stdout))
  // An invocation's logs and calls wait here for its line. A plain object, not a Map: entries come
  // and go with every request for as long as dev runs (see IdTable for what a Map does then).
  const details: Record<string, string[]> = Object.create(null) as Record<string, string[]>
  const add = (requestId: string, line: string) => (details[requestId] ??= []).push(line)
  // A browser origin that a trigger refuses is refused on every request: say so once, and again
  // only once centrali.json has changed.
  let refusalsShown = new Set<string>()
  const clock = (at: number) => new Date(at).toTimeString().slice(0, 8)
  // A control character in an example payload is only ever inside a JSON string, where printable's
  // \u escape means the same character: the line stays ready to paste.
  const endpointLine = (endpoint: DevEndpoint) =>
    `  ${paint('bold', endpoint.trigger)}  ${paint('dim', printable(endpoint.curl))}`
  return (event) => {
    switch (event.type) {
      case 'ready':
        out(`Ready on ${event.url}`)
        out(`  ${paint('bold', 'console')}  ${event.console}`)
        for (const endpoint of event.endpoints) out(endpointLine(endpoint))
        return
      case 'endpoint':
        out(endpointLine(event))
        return
      case 'log':
        add(
          event.requestId,
          `    ${event.level === 'error' ? paint('red', 'error') : 'log'} ${printable(typeof event.value === 'string' ? event.value : JSON.stringify(event.value))}`,
        )
        return
      case 'egress':
        if (event.blocked) {
          // The message names the reason and ends with the fix (`centrali domains add …`) when there is one.
          add(
            event.requestId,
            paint(
              'red',
              printable(`    ✖ blocked ${event.method} ${event.host}: ${event.error?.message ?? ''}`),
            ),
          )
        } else {
          add(
            event.requestId,
            printable(
              `    → ${event.method} ${event.host} ${event.status ?? event.error?.code ?? ''} ${event.durationMs} ms`,
            ),
          )
        }
        return
      case 'invocation.start':
        return
      case 'invocation.end': {
        // The line goes out when the invocation ends but shows when it started, as a request log does.
        const started = clock(Date.now() - event.durationMs)
        const id = paint('dim', `#${event.requestId.slice(0, SHORT_ID_LENGTH)}`)
        const status =
          event.status < 300 ? paint('green', String(event.status)) : paint('red', String(event.status))
        const error = event.error
          ? `  ${paint('red', printable(`${event.error.code}: ${event.error.message}`))}`
          : ''
        const stale = event.stale ? paint('yellow', '  (stale build: the newest code does not build)') : ''
        out(
          `${paint('dim', started)} ${event.trigger} ${status} ${event.durationMs} ms / ${event.timeoutMs} ms  ${id}${error}${stale}`,
        )
        for (const line of details[event.requestId] ?? []) out(line)
        delete details[event.requestId]
        // Where a thrown error came from: last, as the throw ended the invocation.
        for (const frame of event.error?.stack ?? []) out(paint('red', `    ${printable(frame)}`))
        return
      }
      case 'request.refused': {
        // As an invocation's line, for a request no function saw: a misspelt trigger's name in the
        // page's code shows here, not only in the browser.
        const started = clock(Date.now())
        const id = paint('dim', `#${event.requestId.slice(0, SHORT_ID_LENGTH)}`)
        out(
          `${paint('dim', started)} ${printable(`${event.method} ${event.path}`)} ${paint('red', String(event.status))}  ${id}  ${paint('red', printable(`${event.error.code}: ${event.error.message}`))}`,
        )
        return
      }
      case 'reload':
        if (event.what === 'config') refusalsShown = new Set()
        out(paint('cyan', `reloaded ${event.file} in ${event.durationMs} ms`))
        return
      case 'build.error':
        out(
          paint(
            'red',
            event.serving
              ? `${event.message}\n  still serving the last good build of ${event.function}`
              : `${event.message}\n  ${event.function} has no build to serve: its triggers answer 500 BUILD_FAILED until it builds`,
          ),
        )
        return
      case 'config.error':
        out(paint('red', `${event.message}\n  the last good centrali.json stays in force`))
        return
      case 'cors.refused': {
        const refusal = printable(`${event.trigger}: a browser will refuse this response: ${event.reason}`)
        if (refusalsShown.has(refusal)) return
        refusalsShown.add(refusal)
        out(paint('yellow', `▲ ${refusal}`))
        out(`  to allow it: ${printable(event.fix)}`)
        return
      }
      case 'warning':
        out(paint('yellow', `▲ ${event.message}`))
        return
    }
  }
}

/**
 * The system's opener, detached. Its environment leaves out anything that looks like a credential
 * (the secrets key among them): a browser has no use for it.
 */
function openBrowser(url: string, warn: (message: string) => void): void {
  const [command, ...args] =
    process.platform === 'darwin'
      ? ['open', url]
      : process.platform === 'win32'
        ? ['cmd', '/c', 'start', '', url]
        : ['xdg-open', url]
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !/SECRET|TOKEN|KEY|PASSWORD|^CENTRALI_/i.test(name)),
  )
  const child = spawn(command!, args, { detached: true, stdio: 'ignore', env })
  child.on('error', () => warn(`could not open a browser; open ${url}`))
  child.unref()
}
