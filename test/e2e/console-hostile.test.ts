import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import type { ResultPromise } from 'execa'
import { type Browser, type BrowserContext, type Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium } from '../helpers/browser.js'
import { createSandbox, startCli, type Sandbox } from '../helpers/cli.js'
import { readDevEvents, type DevEvents } from '../helpers/dev-events.js'
import { stopGracefully } from '../helpers/processes.js'

/**
 * The dev console attacked through everything a caller, a function or a cloned project controls
 * (payloads, results, logs, error messages, outbound calls, names and values in centrali.json,
 * file names), in real headless Chromium: nothing may run, the text must read as text, in the order
 * it was written, and the page must stay usable. One dev process serves the file; each test opens
 * its own browser context.
 */

const T = 90_000
/** How long to wait for one DOM condition, event or answer before failing. */
const WAIT = 20_000
const BLOCKED_HOST = 'api.blocked.test'

/** Markup, script breakouts, a javascript: URL and terminal/bidi control characters in one string. */
const HOSTILE = [
  `<img src=x onerror="window.__pwned='img';alert(1)">`,
  `</script><script>window.__pwned='script'</script>`,
  `"'><svg onload="window.__pwned='svg'">`,
  `<a href="javascript:window.__pwned='link'">click</a>`,
  `<iframe srcdoc="<script>parent.__pwned='frame'</script>"></iframe>`,
  '\u202Edesrever\u202C \u0007\u001b[31m{{7*7}} ${7*7}',
].join(' ')
/** A file name can carry markup too: a function's entry shows in the project and in stacks. */
const HOSTILE_ENTRY = `functions/x<img src=q onerror=window.__pwned=1>.js`
/** Ends with a right-to-left override that is never closed. */
const BIDI_ENTRY = 'functions/bidi\u202E.js'

const CONFIG = JSON.stringify(
  {
    functions: {
      hostile: { entry: HOSTILE_ENTRY },
      bidi: { entry: BIDI_ENTRY },
    },
    triggers: {
      hostile: {
        type: 'endpoint',
        function: 'hostile',
        params: { [HOSTILE]: HOSTILE },
        cors: { origins: [HOSTILE] },
      },
      bidi: { type: 'endpoint', function: 'bidi' },
      doomed: { type: 'endpoint', function: 'bidi' },
    },
    domains: ['api.example.com'],
  },
  null,
  2,
)

// The function does with its payload whatever the caller asks: the common proxy that echoes,
// logs and calls out with what it is given.
const HOSTILE_FUNCTION = `export async function run() {
  const p = executionParams.payload ?? {}
  if (p.log) { api.log(p.log); api.logError(p.log) }
  if (p.method) { try { await api.request(p.method, 'https://${BLOCKED_HOST}/x') } catch {} }
  if (p.call) { try { await api.httpGet('https://' + p.call + '/x') } catch {} }
  if (p.throw) throw new Error(p.throw)
  return p.result
}
`
const BIDI_FUNCTION = 'export async function run() { return { ok: true } }\n'

let sandbox: Sandbox
let app: string
let dev: ResultPromise
let browser: Browser
const contexts: BrowserContext[] = []
/** dev's NDJSON events (a line that is not one is checked in console.test.ts). */
let devEvents: DevEvents
let devUrl = ''
let consoleUrl = ''
let origin = ''

beforeAll(async () => {
  sandbox = await createSandbox()
  app = join(sandbox.dir, 'app')
  await mkdir(join(app, 'functions'), { recursive: true })
  await writeFile(join(app, 'centrali.json'), CONFIG)
  await writeFile(join(app, HOSTILE_ENTRY), HOSTILE_FUNCTION)
  await writeFile(join(app, BIDI_ENTRY), BIDI_FUNCTION)
  const started = startCli(['dev', '--port', '0', '--json'], { cwd: app, env: sandbox.env })
  dev = started.child
  devEvents = readDevEvents(started, WAIT)
  const ready = await devEvents.next('ready')
  devUrl = ready.url
  consoleUrl = ready.console
  origin = new URL(consoleUrl).origin
  browser = await launchChromium()
}, T)

afterEach(async () => {
  await Promise.all(contexts.splice(0).map((context) => context.close().catch(() => undefined)))
})

afterAll(async () => {
  await browser?.close()
  await stopGracefully(dev)
  await sandbox?.cleanup()
})

interface WatchedPage {
  page: Page
  /** Dialogs opened, console errors, uncaught exceptions and CSP violations: all must stay empty. */
  incidents: string[]
  /** Every URL the page requested. */
  requests: string[]
}

async function openConsole(): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } })
  contexts.push(context)
  const page = await context.newPage()
  page.setDefaultTimeout(WAIT)
  const incidents: string[] = []
  const requests: string[] = []
  page.on('dialog', (dialog) => {
    incidents.push(`dialog: ${dialog.message()}`)
    void dialog.dismiss()
  })
  page.on('console', (message) => {
    // Chromium's own request for /favicon.ico (a 404) is not the page's doing: requests are checked below.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource'))
      incidents.push(`console: ${message.text()}`)
  })
  page.on('pageerror', (error) => incidents.push(`pageerror: ${error.message}`))
  page.on('request', (request) => requests.push(request.url()))
  await page.exposeFunction('__violation', (directive: string) => incidents.push(`csp: ${directive}`))
  // Scripts run in the page are written as text: this project's TypeScript has no DOM types.
  await page.addInitScript(
    "document.addEventListener('securitypolicyviolation', (event) => window.__violation(event.violatedDirective))",
  )
  await page.goto(consoleUrl)
  await page.locator('#connection', { hasText: /^live$/ }).waitFor()
  await page.locator('#triggers li.card').first().waitFor()
  return { page, incidents, requests }
}

async function postEndpoint(trigger: string, payload: unknown): Promise<number> {
  const response = await fetch(`${devUrl}/endpoints/${trigger}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ payload }),
    signal: AbortSignal.timeout(WAIT),
  })
  await response.arrayBuffer()
  return response.status
}

/** The card of the invocation dev reported as `requestId`. */
const card = (page: Page, requestId: string) => page.locator(`[id="inv-${requestId}"]`)

/** Waits for the next invocation of `trigger` to end, from event `since` on, and returns its id. */
async function ended(trigger: string, since: number): Promise<string> {
  return (await devEvents.next('invocation.end', (event) => event.trigger === trigger, since)).requestId
}

/** What must hold on a page fed hostile text: nothing ran, nothing was loaded, no markup appeared. */
async function expectNothingRan({ page, incidents, requests }: WatchedPage): Promise<void> {
  expect(await page.evaluate('window.__pwned')).toBeUndefined()
  // The page's own elements only: none made from the hostile markup.
  expect(await page.locator('img, svg, iframe, a, object, embed').count()).toBe(0)
  expect(await page.locator('script').count()).toBe(1)
  expect(incidents).toEqual([])
  for (const url of requests) {
    expect(new URL(url).origin, url).toBe(origin)
    expect(new URL(url).pathname, url).toMatch(/^\/_console(\/api\/(events|invoke))?$/)
  }
}

describe('the dev console fed hostile text', () => {
  it(
    'shows what a caller, a function and centrali.json chose as text through every channel, and runs none of it',
    async () => {
      const watched = await openConsole()
      const { page } = watched

      // centrali.json's param names, values and CORS origins, and a function's file name.
      const triggerCard = page.locator('#triggers li.card').filter({ hasText: /^hostile/ })
      expect(await triggerCard.locator('dt', { hasText: 'param ' }).textContent()).toBe(`param ${HOSTILE}`)
      expect(await triggerCard.locator('dd code').textContent()).toBe(JSON.stringify(HOSTILE))
      expect(await triggerCard.locator('dd').nth(3).textContent()).toBe(HOSTILE)
      expect(await page.locator('#functions code').first().textContent()).toBe(HOSTILE_ENTRY)

      // A caller's payload, a function's result, logs, error message, stack and outbound calls.
      let since = devEvents.mark()
      expect(await postEndpoint('hostile', { log: HOSTILE, result: { text: HOSTILE } })).toBe(200)
      const shown = card(page, await ended('hostile', since))
      await shown.waitFor()
      expect(await shown.locator('pre').first().textContent()).toBe(
        `payload ${JSON.stringify({ log: HOSTILE, result: { text: HOSTILE } }, null, 2)}`,
      )
      expect(await shown.locator('pre.result').textContent()).toBe(
        `result ${JSON.stringify({ text: HOSTILE }, null, 2)}`,
      )
      expect(await shown.locator('.log').allTextContents()).toEqual([`log ${HOSTILE}`, `log ${HOSTILE}`])

      since = devEvents.mark()
      expect(await postEndpoint('hostile', { throw: HOSTILE, result: HOSTILE })).toBe(500)
      const thrown = card(page, await ended('hostile', since))
      await thrown.waitFor()
      expect(await thrown.locator('p.error-text').textContent()).toBe(`FUNCTION_ERROR: ${HOSTILE}`)
      // The file as it is named, not as a source map's URL writes it (%3C for <).
      expect(await thrown.locator('pre.stack').textContent()).toBe(`at run (${HOSTILE_ENTRY}:6:22)`)

      // A blocked call, and one with a method no server would take.
      since = devEvents.mark()
      expect(await postEndpoint('hostile', { call: BLOCKED_HOST, method: HOSTILE, result: HOSTILE })).toBe(
        200,
      )
      const called = card(page, await ended('hostile', since))
      await called.waitFor()
      expect(await called.locator('button.allow').textContent()).toBe(`Allow domain ${BLOCKED_HOST}`)
      expect(await called.locator('.call').count()).toBe(2)
      // A string result is shown as JSON, quoted: the string "null" and null do not look alike.
      expect(await called.locator('pre.result').textContent()).toBe(`result ${JSON.stringify(HOSTILE)}`)

      // A centrali.json that does not load: its error message names what it was given.
      since = devEvents.mark()
      const configPath = join(app, 'centrali.json')
      const broken = JSON.parse(CONFIG) as { triggers: { hostile: { params: Record<string, unknown> } } }
      broken.triggers.hostile.params[HOSTILE] = { [HOSTILE]: HOSTILE }
      await writeFile(configPath, JSON.stringify(broken))
      await devEvents.next('config.error', () => true, since)
      const configError = page.locator('#config-error p')
      await configError.waitFor()
      expect(await configError.textContent()).toContain(JSON.stringify(HOSTILE).slice(1, 30))
      await writeFile(configPath, CONFIG)
      await devEvents.next('reload', (event) => event.what === 'config', since)
      await configError.waitFor({ state: 'detached' })

      // The page still works: the form invokes a trigger, and its card arrives.
      since = devEvents.mark()
      await page.selectOption('#invoke-trigger', 'bidi')
      await page.fill('#invoke-payload', JSON.stringify({ note: HOSTILE }))
      await page.click('#invoke-button')
      await card(page, await ended('bidi', since)).waitFor()

      await expectNothingRan(watched)
    },
    T,
  )

  it(
    'a very long string in a payload, a log, an error or a param name wraps inside its card: the page never scrolls sideways',
    async () => {
      const { page, incidents } = await openConsole()
      const long = 'A'.repeat(20_000)
      const since = devEvents.mark()
      expect(await postEndpoint('hostile', { log: long, throw: long })).toBe(500)
      const shown = card(page, await ended('hostile', since))
      await shown.waitFor()
      await shown.locator('summary').click()
      const width = (await page.evaluate(
        '({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth })',
      )) as { scroll: number; client: number }
      expect(width.scroll).toBeLessThanOrEqual(width.client)
      // The form and the card's buttons are where a person can reach them.
      for (const control of [page.locator('#invoke-button'), shown.locator('button.replay')]) {
        const box = await control.boundingBox()
        expect(box).not.toBeNull()
        expect(box!.x + box!.width).toBeLessThanOrEqual(width.client)
      }
      expect(incidents).toEqual([])
    },
    T,
  )

  it(
    'a result too long for a card: the response has it whole, the card (also for a page that connects later) its start and its length',
    async () => {
      const result = 'R'.repeat(300_000)
      const since = devEvents.mark()
      const response = await fetch(`${devUrl}/endpoints/hostile`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ payload: { result } }),
        signal: AbortSignal.timeout(WAIT),
      })
      expect(await response.json()).toBe(result)
      const requestId = await ended('hostile', since)
      // Opened afterwards: the card comes from the record dev kept, not from the live stream.
      const { page, incidents } = await openConsole()
      const shown = card(page, requestId)
      await shown.waitFor()
      await shown.locator('summary').click()
      const text = (await shown.locator('pre.result').textContent()) ?? ''
      const total = JSON.stringify(result).length
      expect(text).toMatch(
        new RegExp(`^result \\(its first \\d+ of ${total} characters; the response has it whole\\) "R+$`),
      )
      expect(text.length).toBeLessThan(70_000)
      expect(incidents).toEqual([])
    },
    T,
  )

  it(
    'a right-to-left override in a name from centrali.json reorders only that name, not the status after it',
    async () => {
      const { page } = await openConsole()
      const item = page.locator('#functions li').filter({ hasText: 'bidi' })
      expect(await item.locator('code').textContent()).toBe(BIDI_ENTRY)
      await item.locator('.tag', { hasText: 'ok' }).waitFor()
      // Where each letter of the tag "ok" is drawn: left to right, as written, or the override won.
      const lefts = (await page.evaluate(`(() => {
        const tag = [...document.querySelectorAll('#functions li')]
          .find((item) => item.textContent.includes('bidi'))
          .querySelector('.tag')
        return [0, 1].map((index) => {
          const range = document.createRange()
          range.setStart(tag.firstChild, index)
          range.setEnd(tag.firstChild, index + 1)
          return range.getBoundingClientRect().left
        })
      })()`)) as number[]
      expect(lefts[0]).toBeLessThan(lefts[1]!)
    },
    T,
  )

  it(
    'many invocations: the page keeps no more of them than the cards it shows',
    async () => {
      const { page, incidents } = await openConsole()
      const count = 230
      let since = devEvents.mark()
      for (let index = 0; index < count; index++) {
        since = devEvents.mark()
        expect(await postEndpoint('bidi', { index, padding: 'p'.repeat(1000) })).toBe(200)
      }
      await card(page, await ended('bidi', since)).waitFor()
      expect(await page.locator('#stream li.card.invocation').count()).toBe(200)
      // Every Map the page's script holds, by size: one holding every record ever shown would grow
      // for as long as the page is open.
      const cdp = await page.context().newCDPSession(page)
      const prototype = await cdp.send('Runtime.evaluate', { expression: 'Map.prototype' })
      const maps = await cdp.send('Runtime.queryObjects', { prototypeObjectId: prototype.result.objectId! })
      const largest = await cdp.send('Runtime.callFunctionOn', {
        objectId: maps.objects.objectId!,
        functionDeclaration: 'function () { return Math.max(0, ...this.map((map) => map.size)) }',
        returnByValue: true,
      })
      expect(largest.result.value).toBeLessThanOrEqual(200)
      expect(incidents).toEqual([])
    },
    T,
  )

  it(
    'Replay of a trigger since removed from centrali.json says so instead of doing nothing',
    async () => {
      const { page, incidents } = await openConsole()
      let since = devEvents.mark()
      expect(await postEndpoint('doomed', { n: 1 })).toBe(200)
      const shown = card(page, await ended('doomed', since))
      await shown.waitFor()
      since = devEvents.mark()
      const configPath = join(app, 'centrali.json')
      const config = JSON.parse(CONFIG) as { triggers: Record<string, unknown> }
      delete config.triggers.doomed
      await writeFile(configPath, JSON.stringify(config, null, 2))
      try {
        await devEvents.next('reload', (event) => event.what === 'config', since)
        await page.locator('#invoke-trigger option[value="doomed"]').waitFor({ state: 'detached' })
        await shown.locator('button.replay').click()
        await page.locator('#notice.error', { hasText: 'doomed' }).waitFor()
        expect(await page.locator('#notice').textContent()).toContain('There is no trigger named "doomed"')
      } finally {
        since = devEvents.mark()
        await writeFile(configPath, CONFIG)
        await devEvents.next('reload', (event) => event.what === 'config', since)
      }
      expect(incidents).toEqual([])
    },
    T,
  )

  it(
    'another page in the same browser can neither drive the console API nor read it',
    async () => {
      const configPath = join(app, 'centrali.json')
      const configBefore = await readFile(configPath, 'utf8')
      const consolePort = new URL(consoleUrl).port
      // Everything a page on another local port can send without the token: CORS and no-cors fetches
      // (a text/plain POST needs no preflight), a form post, and the event stream with a guessed token.
      const attack = `<!doctype html><body><form id="form" method="post" target="sink"
        action="http://127.0.0.1:${consolePort}/_console/api/domains" enctype="text/plain">
        <input name='{"host":"api.sneaky.test","x":"' value='"}'></form><iframe name="sink"></iframe>
        <script>
        const target = 'http://127.0.0.1:${consolePort}/_console/api'
        const attempt = (promise) => promise.then((response) => 'read ' + response.status + ' ' + response.type, (error) => 'failed ' + error.name)
        window.results = Promise.all([
          attempt(fetch(target + '/state')),
          attempt(fetch(target + '/state', { mode: 'no-cors' })),
          attempt(fetch(target + '/invoke', { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ trigger: 'bidi', payload: {} }) })),
          attempt(fetch(target + '/domains', { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ host: 'api.sneaky.test' }) })),
          attempt(fetch(target + '/invoke', { method: 'POST', headers: { 'content-type': 'application/json', 'x-centrali-console-token': 'guess' }, body: JSON.stringify({ trigger: 'bidi', payload: {} }) })),
          new Promise((resolve) => {
            const stream = new EventSource(target + '/events?token=guess')
            stream.onmessage = (message) => resolve('read ' + message.data.slice(0, 40))
            stream.onerror = () => { stream.close(); resolve('failed stream') }
          }),
          new Promise((resolve) => {
            document.getElementById('form').submit()
            // The frame loads once the answer came, whatever it was.
            document.querySelector('iframe').onload = () => resolve('form answered')
          }),
        ])
        </script></body>`
      const attacker = createServer((_request, response) => {
        response.writeHead(200, { 'content-type': 'text/html' })
        response.end(attack)
      })
      await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve))
      try {
        const context = await browser.newContext()
        contexts.push(context)
        const page = await context.newPage()
        page.setDefaultTimeout(WAIT)
        const since = devEvents.mark()
        await page.goto(`http://127.0.0.1:${(attacker.address() as AddressInfo).port}/`)
        const results = (await page.evaluate('window.results')) as string[]
        // No answer readable; the opaque no-cors answers carry nothing (status 0).
        expect(results).toEqual([
          'failed TypeError',
          'read 0 opaque',
          'read 0 opaque',
          'read 0 opaque',
          'failed TypeError',
          'failed stream',
          'form answered',
        ])
        // And nothing ran or changed.
        expect(await readFile(configPath, 'utf8')).toBe(configBefore)
        expect(
          devEvents.events
            .slice(since)
            .filter((event) => event.type === 'invocation.start' || event.type === 'reload'),
        ).toEqual([])
      } finally {
        attacker.closeAllConnections()
        await new Promise((resolve) => attacker.close(resolve))
      }
    },
    T,
  )
})
