import { mkdir, rename, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { ResultPromise } from 'execa'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createSandbox, startCli, type Sandbox } from '../helpers/cli.js'
import { request, type Answer } from '../helpers/http.js'
import { hotFunction, hotLib } from '../helpers/hot-function.js'
import { endAll } from '../helpers/processes.js'
import { readDevEvents, type DevEvents } from '../helpers/dev-events.js'

/**
 * `centrali dev`'s hot reload against what editors and tools do to a project's files: the built
 * CLI in a temp project, its NDJSON events read from stdout (as in dev.test.ts).
 */

const T = 20_000
/** How long to wait for one event before failing. */
const WAIT = 10_000

let sandbox: Sandbox
let app: string
const processes: ResultPromise[] = []
let badLines: string[] = []

beforeEach(async () => {
  sandbox = await createSandbox()
  app = join(sandbox.dir, 'app')
  await mkdir(join(app, 'functions'), { recursive: true })
  badLines = []
})

afterEach(async () => {
  await endAll(processes, [])
  await sandbox.cleanup()
  // --json stdout is NDJSON and nothing else.
  expect(badLines).toEqual([])
})

/** centrali.json naming one function per entry, each with a trigger of the same name. */
function configText(entries: Record<string, string>): string {
  const names = Object.keys(entries)
  return `${JSON.stringify(
    {
      functions: Object.fromEntries(names.map((name) => [name, { entry: entries[name] }])),
      triggers: Object.fromEntries(names.map((name) => [name, { type: 'endpoint', function: name }])),
      domains: [],
    },
    null,
    2,
  )}\n`
}

/** functions/hot.ts (importing ./lib) at version 1, its module labelled 'a', and centrali.json. */
async function writeHotProject(): Promise<void> {
  await writeFile(join(app, 'functions/hot.ts'), hotFunction(1))
  await writeFile(join(app, 'functions/lib.ts'), hotLib('a'))
  await writeFile(join(app, 'centrali.json'), configText({ hot: 'functions/hot.ts' }))
}

interface Dev extends DevEvents {
  url: string
}

async function startDev(): Promise<Dev> {
  const dev = startCli(['dev', '--port', '0', '--json'], { cwd: app, env: sandbox.env })
  processes.push(dev.child)
  const events = readDevEvents(dev, WAIT, (line) => badLines.push(line))
  const { url } = await events.next('ready')
  return Object.assign(events, { url })
}

function post(dev: Dev, trigger: string): Promise<Answer> {
  return request(`${dev.url}/endpoints/${trigger}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ payload: {} }),
  })
}

describe('what a function file becomes', () => {
  it(
    'a TypeScript function left without run (renamed to handler, or half written): a build error naming the file, and the last good build keeps serving',
    async () => {
      await writeHotProject()
      const dev = await startDev()
      expect((await post(dev, 'hot')).body).toEqual({ version: 1, label: 'a' })

      // esbuild takes a TypeScript export of an undeclared name for a type: this built, and every
      // request then failed with FUNCTION_NO_RUN.
      let since = dev.mark()
      await writeFile(
        join(app, 'functions/hot.ts'),
        hotFunction(2).replace('function run()', 'function handler()'),
      )
      const renamed = await dev.next('build.error', (event) => event.function === 'hot', since)
      expect(renamed.problems).toEqual([
        { file: 'functions/hot.ts', message: 'the file does not declare `async function run()`' },
      ])
      expect(renamed.serving).toBe(true)
      const stale = await post(dev, 'hot')
      expect(stale.body).toEqual({ version: 1, label: 'a' })
      expect(stale.headers.get('x-centrali-build')).toBe('stale')

      since = dev.mark()
      await writeFile(join(app, 'functions/hot.ts'), hotFunction(3))
      await dev.next('reload', (event) => event.file === 'functions/hot.ts', since)
      expect((await post(dev, 'hot')).body).toEqual({ version: 3, label: 'a' })
    },
    T,
  )

  it(
    "the entry renamed in another case, then back: a build error that names the file and what is there instead (not esbuild's own stack), then the code as saved",
    async () => {
      await writeHotProject()
      const dev = await startDev()
      expect((await post(dev, 'hot')).body).toEqual({ version: 1, label: 'a' })

      let since = dev.mark()
      await rename(join(app, 'functions/hot.ts'), join(app, 'functions/Hot.ts'))
      const gone = await dev.next('build.error', (event) => event.function === 'hot', since)
      expect(gone.problems).toEqual([
        {
          file: 'functions/hot.ts',
          message: 'the file does not exist, but functions/Hot.ts does: file names are case-sensitive here',
        },
      ])
      expect(gone.message).not.toContain(app)
      expect((await post(dev, 'hot')).body).toEqual({ version: 1, label: 'a' })

      // Edited under its other name, then named back.
      since = dev.mark()
      await writeFile(join(app, 'functions/Hot.ts'), hotFunction(2))
      await rename(join(app, 'functions/Hot.ts'), join(app, 'functions/hot.ts'))
      await dev.next('reload', (event) => event.function === 'hot', since)
      const back = await post(dev, 'hot')
      expect(back.body).toEqual({ version: 2, label: 'a' })
      expect(back.headers.get('x-centrali-build')).toBeNull()
    },
    T,
  )
})

describe('saves that change nothing', () => {
  it(
    'files touched or written again as they were (centrali.json, the function, its module) reload nothing and print nothing; the next edit reloads once',
    async () => {
      await writeHotProject()
      const dev = await startDev()
      expect((await post(dev, 'hot')).body).toEqual({ version: 1, label: 'a' })

      const since = dev.mark()
      const now = new Date()
      await utimes(join(app, 'centrali.json'), now, now)
      await writeFile(join(app, 'centrali.json'), configText({ hot: 'functions/hot.ts' }))
      await writeFile(join(app, 'functions/hot.ts'), hotFunction(1))
      await utimes(join(app, 'functions/lib.ts'), now, now)
      // Time for dev to act on them (it used to say `reload` for each), then an edit that counts.
      await new Promise((resolve) => setTimeout(resolve, 1000))
      const edited = dev.mark()
      await writeFile(join(app, 'functions/lib.ts'), hotLib('b'))
      await dev.next('reload', (event) => event.file === 'functions/lib.ts', edited)
      expect((await post(dev, 'hot')).body).toEqual({ version: 1, label: 'b' })
      const said = dev.events
        .slice(since)
        .filter((event) => !event.type.startsWith('invocation.'))
        .map((event) => [event.type, 'file' in event ? event.file : undefined])
      expect(said).toEqual([['reload', 'functions/lib.ts']])
    },
    T,
  )
})

describe('centrali.json as editors save it', () => {
  it(
    'with a byte order mark and CRLF line ends (Notepad, "UTF-8 with BOM"): dev starts on it, and a save of it reloads',
    async () => {
      const saved = (greeting: string) =>
        `\uFEFF${JSON.stringify(
          {
            functions: { greet: { entry: 'functions/greet.js' } },
            triggers: { greet: { type: 'endpoint', function: 'greet', params: { greeting } } },
          },
          null,
          2,
        ).replaceAll('\n', '\r\n')}\r\n`
      await writeFile(
        join(app, 'functions/greet.js'),
        'async function run() { return triggerParams.greeting }\n',
      )
      await writeFile(join(app, 'centrali.json'), saved('hello'))
      const dev = await startDev()
      expect((await post(dev, 'greet')).body).toBe('hello')

      const since = dev.mark()
      await writeFile(join(app, 'centrali.json'), saved('bonjour'))
      await dev.next('reload', (event) => event.what === 'config', since)
      expect((await post(dev, 'greet')).body).toBe('bonjour')
      expect(dev.events.slice(since).filter((event) => event.type === 'config.error')).toEqual([])
    },
    T,
  )
})
