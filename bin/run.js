#!/usr/bin/env node
import { flush, handle, run } from '../dist/cli/main.js'

try {
  await run(process.argv.slice(2), import.meta.url)
  await flush()
} catch (error) {
  // plugin-not-found exits 127 for a mistyped command; for us that is a usage error (DESIGN §7).
  if (error?.oclif?.exit === 127) error.oclif.exit = 2
  await handle(error)
}
