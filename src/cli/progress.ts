import { colorEnabled, painter } from './output.js'

/**
 * Steps of a long command on stderr: a spinner while a step runs on a terminal, and one line per
 * finished step otherwise (logs and CI read those). Silent in --json mode.
 */
export type Step = <T>(label: string, work: () => Promise<T>, done?: (value: T) => string) => Promise<T>

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏']
const FRAME_MS = 80

export function createStepRunner(options: {
  json: boolean
  stream?: NodeJS.WriteStream
  env?: NodeJS.ProcessEnv
}): Step {
  const stream = options.stream ?? process.stderr
  const env = options.env ?? process.env
  const paint = painter(colorEnabled(stream, env))
  const spin = Boolean(stream.isTTY) && env.TERM !== 'dumb'
  return async (label, work, done) => {
    if (options.json) return work()
    let frame = 0
    // \r and "erase line" redraw the one line in place.
    const draw = () => stream.write(`\r\u001B[K${paint('cyan', FRAMES[frame++ % FRAMES.length]!)} ${label}`)
    const timer = spin ? setInterval(draw, FRAME_MS) : undefined
    timer?.unref()
    if (spin) draw()
    const clear = spin ? '\r\u001B[K' : ''
    try {
      const value = await work()
      const detail = done?.(value)
      stream.write(`${clear}${paint('green', '✔')} ${label}${detail ? paint('dim', ` (${detail})`) : ''}\n`)
      return value
    } catch (error) {
      stream.write(`${clear}${paint('red', '✖')} ${label}\n`)
      throw error
    } finally {
      clearInterval(timer)
    }
  }
}
