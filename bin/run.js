#!/usr/bin/env node
import { flush, handle, reportUnknownCommand, run } from '../dist/cli/main.js'

// Interrupted (Ctrl-C outside a prompt, or SIGINT from a parent): exit 130 as DESIGN §7 says.
// Writes are atomic, so stopping here never leaves a half-written file. Long-running commands
// (dev, serve) replace this handler with their own graceful shutdown.
process.once('SIGINT', () => {
  process.stderr.write('\nOperation cancelled\n')
  process.exit(130)
})

try {
  await run(process.argv.slice(2), import.meta.url)
  await flush()
} catch (error) {
  // plugin-not-found exits 127 for a mistyped command; for us that is a usage error (DESIGN §7).
  if (error?.oclif?.exit === 127) {
    error.oclif.exit = 2
    reportUnknownCommand(process.argv.slice(2))
    if (process.argv.includes('--json')) process.exit(2)
  }
  await handle(error)
}
