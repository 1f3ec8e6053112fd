// Production build. tsc type-checks and emits declarations; esbuild bundles the runtime: one entry
// per command plus the runner, with shared chunks (oclif, zod, ...) split out so every command and
// the runner share one copy of each module. A bundle loads a handful of files instead of hundreds,
// which is most of a cold start (see BENCHMARKS.md).
import { execFileSync } from 'node:child_process'
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { build } from 'esbuild'
import { Plugin } from '@oclif/core'

const root = new URL('..', import.meta.url).pathname
await rm(new URL('../dist', import.meta.url), { recursive: true, force: true })
execFileSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-p', 'tsconfig.build.json'], {
  cwd: root,
  stdio: 'inherit',
})

const commandFiles = (await readdir(`${root}src/commands`, { recursive: true }))
  .filter((file) => file.endsWith('.ts'))
  .map((file) => file.replace(/\.ts$/, ''))
const entryPoints = {
  'cli/main': 'src/cli/main.ts',
  // The sandbox worker runs in its own thread: an entry of its own (see src/sandbox/pool.ts).
  'sandbox/worker': 'src/sandbox/worker.ts',
  'project/schema-file': 'src/project/schema-file.ts',
  ...Object.fromEntries(commandFiles.map((file) => [`commands/${file}`, `src/commands/${file}.ts`])),
}
await build({
  absWorkingDir: root,
  entryPoints,
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  sourcemap: true,
  // Less to parse on every start. Identifiers stay as written: error names and stack traces read
  // right, with no keepNames helper call each time a closure is made on a hot path.
  minifyWhitespace: true,
  minifySyntax: true,
  chunkNames: 'chunks/[name]-[hash]',
  // oclif reaches for these only to run TypeScript sources in development (bin/dev.js).
  // esbuild itself ships a native binary: it stays a package, loaded at run time.
  external: ['typescript', 'ts-node', 'tsx', 'pnpapi', 'esbuild'],
  // Prefer ES module builds: jsonc-parser's "main" is a UMD file esbuild cannot follow.
  mainFields: ['module', 'main'],
  // CommonJS dependencies inside an ES module bundle still call require() and read __dirname.
  banner: {
    js: [
      "import { createRequire as __centraliCreateRequire } from 'node:module'",
      "import { fileURLToPath as __centraliFileURLToPath } from 'node:url'",
      'const require = __centraliCreateRequire(import.meta.url)',
      'const __filename = __centraliFileURLToPath(import.meta.url)',
      "const __dirname = __centraliFileURLToPath(new URL('.', import.meta.url))",
    ].join('\n'),
  },
  logLevel: 'warning',
})

// centrali/client ships to browsers: its own build, no Node banner, no shared chunks.
await build({
  absWorkingDir: root,
  entryPoints: { 'client/index': 'src/client/index.ts' },
  outdir: 'dist',
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2020',
  sourcemap: true,
  logLevel: 'warning',
})

// The Cloudflare worker runtime: bundled with the project's functions at deploy time
// (src/deploy/cloudflare.ts), so it ships as a standalone ES module with no Node built-ins.
await build({
  absWorkingDir: root,
  entryPoints: { 'cloudflare/worker-runtime': 'src/cloudflare/worker-runtime.ts' },
  outdir: 'dist',
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  logLevel: 'warning',
})

// The dev console: one HTML file with its script and styles inlined, served by `centrali dev`.
const consoleScript = await build({
  absWorkingDir: root,
  entryPoints: ['src/console/app.ts'],
  bundle: true,
  write: false,
  format: 'esm',
  platform: 'browser',
  target: ['chrome120', 'firefox120', 'safari17'],
  minify: true,
  logLevel: 'warning',
})
const consoleStyles = await readFile(new URL('../src/console/styles.css', import.meta.url), 'utf8')
const consoleHtml = (await readFile(new URL('../src/console/index.html', import.meta.url), 'utf8'))
  .replace('/* STYLES */', () => consoleStyles)
  .replace('/* SCRIPT */', () => consoleScript.outputFiles[0].text.replaceAll('</script', '<\\/script'))
await mkdir(new URL('../dist/console/', import.meta.url), { recursive: true })
await writeFile(new URL('../dist/console/index.html', import.meta.url), consoleHtml)

const { schemaText } = await import('../dist/project/schema-file.js')
await writeFile(new URL('../dist/centrali.schema.json', import.meta.url), schemaText())

const plugin = new Plugin({ root, type: 'core', ignoreManifest: true, errorOnManifestCreate: true })
await plugin.load()
await writeFile(
  new URL('../oclif.manifest.json', import.meta.url),
  `${JSON.stringify(plugin.manifest, null, 2)}\n`,
)
console.error(`build: ${Object.keys(plugin.manifest.commands).length} commands, schema and manifest written`)
