import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { packageRoot } from '../shared/package-root.js'

/**
 * "Did you mean …?" for a mistyped command, also when no terminal is there to ask (plugin-not-found
 * only suggests inside its interactive prompt), and as the JSON error under --json.
 */
export function reportUnknownCommand(argv: readonly string[]): void {
  const typed = argv.filter((word) => !word.startsWith('-')).join(' ')
  const suggestion = closestCommand(typed, commandIds())
  const message = `"${typed}" is not a centrali command.`
  const hint =
    suggestion === undefined
      ? 'Run `centrali --help` for the commands.'
      : `Did you mean \`centrali ${suggestion}\`?`
  if (argv.includes('--json')) {
    process.stdout.write(
      `${JSON.stringify({ error: { code: 'COMMAND_NOT_FOUND', message, hint } }, null, 2)}\n`,
    )
  } else {
    process.stderr.write(`${hint}\n`)
  }
}

function commandIds(): string[] {
  try {
    const manifest = JSON.parse(readFileSync(join(packageRoot(), 'oclif.manifest.json'), 'utf8')) as {
      commands: Record<string, { hidden?: boolean }>
    }
    return Object.entries(manifest.commands)
      .filter(([, command]) => !command.hidden)
      .map(([id]) => id.replaceAll(':', ' '))
  } catch {
    return []
  }
}

/** The command whose words are closest to what was typed, if close enough to be a typo. */
export function closestCommand(typed: string, ids: readonly string[]): string | undefined {
  const words = typed.split(' ')
  let best: { id: string; distance: number } | undefined
  for (const id of ids) {
    // Compare with as many words as the command has: extra typed words are its arguments.
    const candidate = words.slice(0, id.split(' ').length).join(' ')
    const distance = editDistance(candidate, id)
    if (best === undefined || distance < best.distance) best = { id, distance }
  }
  return best !== undefined && best.distance <= Math.max(2, Math.floor(best.id.length / 3))
    ? best.id
    : undefined
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j]! + 1,
        current[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      )
    }
    previous = current
  }
  return previous[b.length]!
}
