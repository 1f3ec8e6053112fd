/**
 * All human output goes through here: results on stdout, progress and warnings on stderr, colour
 * only on a terminal and never with NO_COLOR. In --json mode nothing but the JSON reaches stdout.
 */
type Style = 'bold' | 'dim' | 'red' | 'green' | 'yellow' | 'cyan'

const CODES: Record<Style, [number, number]> = {
  bold: [1, 22],
  dim: [2, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  cyan: [36, 39],
}

export function colorEnabled(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true
  return Boolean(stream.isTTY) && env.TERM !== 'dumb'
}

export type Paint = (style: Style, text: string) => string

export function painter(enabled: boolean): Paint {
  return (style, text) => (enabled ? `\u001B[${CODES[style][0]}m${text}\u001B[${CODES[style][1]}m` : text)
}

export interface Output {
  /** A line of the result, on stdout (silent in --json mode). */
  result(line?: string): void
  /** Progress and information, on stderr. */
  info(line: string): void
  success(line: string): void
  warn(line: string): void
  /** A failure that is the command's result (the command still returns data, as `invoke` does). */
  error(line: string): void
  /** Paint for stdout text. */
  paint: Paint
  json: boolean
}

export function createOutput(options: { json: boolean; env?: NodeJS.ProcessEnv }): Output {
  const env = options.env ?? process.env
  const errPaint = painter(colorEnabled(process.stderr, env))
  const outPaint = painter(colorEnabled(process.stdout, env))
  const err = (line: string) => process.stderr.write(`${line}\n`)
  return {
    json: options.json,
    paint: outPaint,
    result: (line = '') => {
      if (!options.json) process.stdout.write(`${line}\n`)
    },
    info: (line) => {
      if (!options.json) err(line)
    },
    success: (line) => {
      if (!options.json) err(`${errPaint('green', '✔')} ${line}`)
    },
    // Warnings reach stderr even in --json mode: stdout stays pure JSON, and nothing is hidden.
    warn: (line) => err(`${errPaint('yellow', '▲ warning')} ${line}`),
    error: (line) => err(`${errPaint('red', '✖ error')} ${line}`),
  }
}

/**
 * Characters a terminal acts on rather than shows: C0 and C1 controls (escape sequences move the
 * cursor, clear the screen, retitle the window; a newline starts a line that looks like the tool's
 * own) and the Unicode line separators and bidirectional overrides (text shown other than it is).
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const TERMINAL_CONTROL = /[\u0000-\u0008\u000A-\u001F\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069]/g

/**
 * Text a request or a function chose (a log, an error message, a header), safe to print on a
 * terminal: those characters are shown escaped, as JSON shows them (`\n`, `\u001b`). Tabs stay.
 */
export function printable(text: string): string {
  return text.replace(TERMINAL_CONTROL, (char) =>
    char === '\n' ? '\\n' : char === '\r' ? '\\r' : `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )
}

export function renderErrorText(
  error: { code: string; message: string; hint?: string | undefined },
  paint: Paint,
  stack?: string,
): string {
  const lines = [`${paint('red', '✖ error')} ${error.message} ${paint('dim', `[${error.code}]`)}`]
  if (error.hint) lines.push(`  ${paint('cyan', '→')} ${error.hint}`)
  if (stack) lines.push(paint('dim', stack))
  return lines.join('\n')
}

/** The shortest time between two writes of a lineWriter. */
const LINE_WRITE_INTERVAL_MS = 2

/**
 * Lines for a stream that may receive many per millisecond (`dev` under load): gathered and
 * written together, since a write to a file, a terminal or a pipe is a system call. A line after a
 * quiet spell goes out in the same turn of the event loop; under load, at most one write leaves
 * every 2 ms. Whatever is pending is written before the process exits.
 */
export function lineWriter(stream: NodeJS.WritableStream): (line: string) => void {
  let pending = ''
  let lastWrite = 0
  const flush = () => {
    if (pending === '') return
    const text = pending
    pending = ''
    lastWrite = performance.now()
    stream.write(text)
  }
  process.once('exit', flush)
  return (line) => {
    if (pending === '') {
      const wait = lastWrite + LINE_WRITE_INTERVAL_MS - performance.now()
      // Whole milliseconds: Node keeps one timer list per distinct delay, and makes a new one for 1.37.
      if (wait > 0) setTimeout(flush, Math.ceil(wait))
      else setImmediate(flush)
    }
    pending += `${line}\n`
  }
}
