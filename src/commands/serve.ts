import { resolve } from 'node:path'
import * as Flags from '@oclif/core/flags'
import { BaseCommand } from '../cli/base-command.js'
import { prose } from '../cli/help-text.js'
import { isLoopbackHost } from '../shared/loopback.js'
import { lineWriter } from '../cli/output.js'
import { parseMapFlags } from '../project/invoke.js'
import { DEFAULT_DATA_DIR, RUNTIME_PORT, startServe, type ServeEvent } from '../runtime/server.js'

export default class Serve extends BaseCommand {
  static override summary = 'Run the self-hosted runtime that `centrali deploy` targets.'
  static override description =
    prose(`A production server: the endpoints of the active version over the same sandbox, allowlist
and limits as dev, and a token-authenticated deploy API (/v1) on the same port. Needs no project:
versions, bundles, secrets (encrypted under the master key) and the token's hash live in the data
dir. On the first start a random admin token is printed once; CENTRALI_RUNTIME_TOKEN sets it
instead. One JSON line per invocation on stdout; GET /healthz and GET /metrics (Prometheus; needs
the token unless the host is loopback). SIGTERM or Ctrl-C lets running invocations finish.`)

  static override examples = [
    '<%= config.bin %> serve',
    '<%= config.bin %> serve --data-dir /var/lib/centrali --port 8788',
    'CENTRALI_RUNTIME_TOKEN=$(cat /run/secrets/token) <%= config.bin %> serve --host 0.0.0.0 --json',
    '<%= config.bin %> serve --port 0 --map api.openai.com=http://127.0.0.1:9000',
  ]

  static override flags = {
    'data-dir': Flags.string({
      description: 'Folder for versions, bundles, secrets and the token hash (created if absent).',
      default: DEFAULT_DATA_DIR,
    }),
    port: Flags.integer({
      description: 'Port (0 picks a free one).',
      default: RUNTIME_PORT,
      min: 0,
      max: 65535,
    }),
    host: Flags.string({ description: 'Address to listen on.', default: '127.0.0.1' }),
    map: Flags.string({
      description: 'Send calls for a host to a local origin: host=origin (repeatable; tests and staging).',
      multiple: true,
    }),
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(Serve)
    const context = this.context(flags)
    const json = this.jsonEnabled()
    if (!isLoopbackHost(flags.host)) {
      this.output.warn(
        `listening on ${flags.host}: endpoints are public, and so is the deploy API's door (it wants the token); serve over TLS (a reverse proxy) beyond a trusted network`,
      )
    }
    const map = parseMapFlags(flags.map ?? [])
    for (const [host, origin] of Object.entries(map))
      this.output.warn(`calls for ${host} go to ${origin} (--map: for tests and staging, not production)`)
    const out = lineWriter(process.stdout)
    const session = await startServe({
      dataDir: resolve(context.cwd, flags['data-dir']),
      env: context.env,
      host: flags.host,
      port: flags.port,
      map,
      onEvent: (event) => this.render(event, out, json),
    })
    // Stop cleanly on Ctrl-C or SIGTERM: no new requests, running ones finish, then exit.
    process.removeAllListeners('SIGINT')
    await new Promise<void>((resolve) => {
      const stop = (signal: NodeJS.Signals) => {
        process.exitCode = signal === 'SIGINT' ? 130 : 0
        this.output.info('Stopping: letting running invocations finish…')
        void session.close().then(resolve)
      }
      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
    })
  }

  /** Logs are JSON lines on stdout in both modes; --json makes the ready line one too. */
  private render(event: ServeEvent, out: (line: string) => void, json: boolean): void {
    if (event.type === 'warning') {
      // On stderr whatever the mode: a damaged version must be seen by a person, not only a parser.
      this.output.warn(event.message)
      if (json) out(JSON.stringify(event))
      return
    }
    if (event.type !== 'ready' || json) return out(JSON.stringify(event))
    out(`Ready on ${event.url}`)
    this.output.info(`Data dir: ${event.dataDir}`)
    this.output.info(
      event.version === null
        ? 'No version is active yet: deploy one with `centrali deploy`.'
        : `Serving version ${event.version}.`,
    )
    if (event.token !== undefined) {
      const paint = this.output.paint
      this.output.info(
        [
          '',
          paint('bold', 'Admin token for the deploy API, shown this once (only its SHA-256 is kept):'),
          '',
          `    ${event.token}`,
          '',
          `Keep it in a password manager; deploy with CENTRALI_TOKEN=<token> centrali deploy.`,
          `Lost it? Remove ${event.tokenSource} and restart to get a new one.`,
          '',
        ].join('\n'),
      )
    }
  }

  // serve streams events; there is no single result to print at the end (run() returns nothing),
  // but an error that stops it still goes out as { "error": … }.
  override logJson(json: unknown): void {
    if (json !== undefined) super.logJson(json)
  }
}
