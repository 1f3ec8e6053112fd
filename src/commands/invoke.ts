import { readFile, stat } from 'node:fs/promises'
import { resolve } from 'node:path'
import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import { BaseCommand } from '../cli/base-command.js'
import { prose } from '../cli/help-text.js'
import { printable } from '../cli/output.js'
import { readStdin } from '../cli/stdin.js'
import {
  MAX_PAYLOAD_BYTES,
  invokeTrigger,
  parseMapFlags,
  type InvokeTriggerResult,
} from '../project/invoke.js'
import { UsageError, UserError } from '../shared/errors.js'

export default class Invoke extends BaseCommand {
  static override summary = 'Run a trigger once, without a server, in the same sandbox as dev and production.'
  static override description =
    prose(`Builds the trigger's function, decrypts the secrets it needs, runs it with the payload and prints
the result on stdout (JSON). Logs and outbound calls go to stderr. Exit 1 when the function fails,
times out or makes a blocked call.`)

  static override examples = [
    `<%= config.bin %> invoke openai-chat --payload '{"messages":[{"role":"user","content":"Hi"}]}'`,
    '<%= config.bin %> invoke openai-chat --payload @request.json',
    "<%= config.bin %> invoke openai-chat   # sends the trigger's examplePayload",
    'echo \'{"priceId":"price_123"}\' | <%= config.bin %> invoke create-checkout',
    '<%= config.bin %> invoke openai-chat --payload @req.json --map api.openai.com=http://127.0.0.1:9000',
  ]

  static override args = {
    trigger: Args.string({ description: 'Endpoint trigger name.', required: true }),
  }

  static override flags = {
    payload: Flags.string({
      char: 'p',
      description:
        "The payload: JSON, or @file.json. Default: stdin when piped, else the trigger's examplePayload.",
    }),
    map: Flags.string({
      description: 'Send calls for a host to a local origin: host=origin (repeatable; adds to dev.map).',
      multiple: true,
    }),
  }

  async run(): Promise<InvokeTriggerResult> {
    const { args, flags } = await this.parse(Invoke)
    const context = this.context(flags)
    const result = await invokeTrigger({
      ...context,
      trigger: args.trigger,
      payload: await readPayload(flags.payload, context.cwd),
      map: parseMapFlags(flags.map ?? []),
    })
    this.render(result)
    if (!result.ok) process.exitCode = 1
    return result
  }

  private render(result: InvokeTriggerResult): void {
    const { output } = this
    for (const warning of result.warnings ?? []) output.warn(warning)
    if (result.examplePayload)
      output.info(`payload: the examplePayload of ${result.trigger} in centrali.json`)
    for (const call of result.calls) {
      const outcome = call.error ? `${call.error.code}: ${call.error.message}` : String(call.status)
      const line = printable(`  → ${call.method} ${call.url} ${outcome} ${call.durationMs} ms`)
      if (call.error?.code.startsWith('EGRESS_')) output.warn(line.trim())
      else output.info(line)
    }
    for (const record of result.logs) {
      const text = printable(typeof record.value === 'string' ? record.value : JSON.stringify(record.value))
      if (record.level === 'error') output.warn(`log: ${text}`)
      else output.info(`  log: ${text}`)
    }
    for (const redaction of result.redactions) {
      output.warn(
        `the value of secret ${redaction.secret} appeared in ${redaction.where}; it was replaced with [redacted:${redaction.secret}]`,
      )
    }
    if (result.ok) {
      // Line by line: the JSON's own line breaks stay, and escaping what is inside a string keeps its value.
      const json = JSON.stringify(result.result, null, 2) ?? 'null'
      output.result(json.split('\n').map(printable).join('\n'))
      output.info(`${result.trigger} ran in ${result.durationMs} ms`)
    } else {
      output.error(printable(`${result.error!.message} [${result.error!.code}]`))
      for (const frame of result.error!.stack ?? []) output.info(`    ${printable(frame)}`)
    }
  }
}

/** JSON text may hold whitespace beyond its 1 MiB payload; reading stops here, before buffering more. */
const MAX_PAYLOAD_TEXT_BYTES = 2 * MAX_PAYLOAD_BYTES

/** The payload given; undefined when none was (the trigger's examplePayload goes then). */
async function readPayload(flag: string | undefined, cwd: string): Promise<unknown> {
  let text: string | undefined
  let source = '--payload'
  if (flag?.startsWith('@')) {
    source = flag.slice(1)
    const size = await stat(resolve(cwd, source)).then(
      (info) => info.size,
      () => 0,
    )
    if (size > MAX_PAYLOAD_TEXT_BYTES) {
      throw new UserError(
        'PAYLOAD_TOO_LARGE',
        `${source} is ${size} bytes; an invocation takes a payload of at most ${MAX_PAYLOAD_BYTES} (1 MiB).`,
      )
    }
    text = await readFile(resolve(cwd, source), 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw new UsageError(
        'PAYLOAD_UNREADABLE',
        `Cannot read the payload file ${source}: ${error.code ?? error.message}.`,
      )
    })
  } else if (flag !== undefined) {
    text = flag
  } else if (!process.stdin.isTTY) {
    source = 'stdin'
    text = await readStdin(MAX_PAYLOAD_TEXT_BYTES)
    // Empty stdin (a script's, CI's) is no payload given, as at a terminal.
    if (text.trim() === '') return undefined
  } else {
    return undefined
  }
  try {
    return JSON.parse(text) as unknown
  } catch (error) {
    throw new UsageError(
      'PAYLOAD_INVALID',
      `The payload from ${source} is not JSON: ${(error as Error).message}.`,
      {
        hint: `Quote it for your shell: --payload '{"key":"value"}'`,
      },
    )
  }
}
