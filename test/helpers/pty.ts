import { join } from 'node:path'
import { execa } from 'execa'
import { ROOT } from './cli.js'

/**
 * Runs the CLI under a real pseudo-terminal (util-linux `script`), answering each prompt when its
 * text appears. CI is removed from the environment: a person is at this terminal.
 */
export async function drivePty(
  cwd: string,
  baseEnv: Record<string, string | undefined>,
  args: string[],
  answers: [RegExp, string][],
  env: Record<string, string> = {},
): Promise<{ exitCode: number; output: string }> {
  const command = [process.execPath, join(ROOT, 'bin/run.js'), ...args].map((part) => `'${part}'`).join(' ')
  const child = execa('script', ['-qfec', command, '/dev/null'], {
    cwd,
    env: { ...baseEnv, CI: undefined, TERM: 'xterm', ...env },
    extendEnv: true,
    stdin: 'pipe',
    reject: false,
    timeout: 20_000,
  })
  let output = ''
  let next = 0
  let seenUpTo = 0
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8')
    while (next < answers.length) {
      const [pattern, keys] = answers[next]!
      const unseen = output.slice(seenUpTo)
      const match = pattern.exec(unseen)
      if (!match) break
      seenUpTo += match.index + match[0].length
      next++
      // Give the prompt a moment to switch the terminal to raw mode before typing.
      setTimeout(() => child.stdin?.write(keys), 150)
    }
  })
  const result = await child
  return { exitCode: result.exitCode ?? -1, output }
}
