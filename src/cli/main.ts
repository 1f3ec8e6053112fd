// The entry bin/run.js loads: oclif's runner, bundled with the commands so they share one copy.
// Subpath imports: oclif's index loads every part of oclif (help, ux, ...) even when unused.
export { run } from '@oclif/core/run'
export { handle } from '@oclif/core/handle'
export { flush } from '@oclif/core/flush'
export { reportUnknownCommand } from './not-found.js'
