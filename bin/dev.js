#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx, without a build: `bin/dev.js domains list`.
import { register } from 'tsx/esm/api'

register()
const { flush, handle, run } = await import('@oclif/core')
try {
  await run(process.argv.slice(2), { root: new URL('..', import.meta.url).pathname, development: true })
  await flush()
} catch (error) {
  if (error?.oclif?.exit === 127) error.oclif.exit = 2
  await handle(error)
}
