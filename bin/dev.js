#!/usr/bin/env -S node --import tsx
import { flush, handle, run, settings } from '@oclif/core'

// Runs the TypeScript sources directly (tsx), without a build.
settings.debug = true
process.env.NODE_ENV = 'development'
try {
  await run(process.argv.slice(2), { root: new URL('..', import.meta.url).pathname, development: true })
  await flush()
} catch (error) {
  if (error?.oclif?.exit === 127) error.oclif.exit = 2
  await handle(error)
}
