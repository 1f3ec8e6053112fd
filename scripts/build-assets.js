// Build steps after tsc: the JSON Schema of centrali.json (from the zod schema, shipped in the
// package) and the oclif manifest (so `centrali --help` never imports the command modules).
import { writeFile } from 'node:fs/promises'
import { Plugin } from '@oclif/core'

const root = new URL('..', import.meta.url).pathname
const { schemaText } = await import('../dist/project/schema-file.js')
await writeFile(new URL('../dist/centrali.schema.json', import.meta.url), schemaText())

const plugin = new Plugin({ root, type: 'core', ignoreManifest: true, errorOnManifestCreate: true })
await plugin.load()
const manifest = plugin.manifest
await writeFile(new URL('../oclif.manifest.json', import.meta.url), `${JSON.stringify(manifest, null, 2)}\n`)
console.error(
  `build: ${Object.keys(manifest.commands).length} commands in oclif.manifest.json, schema in dist/`,
)
