import { mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { createServer, request as httpRequest, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { execa, type ResultPromise } from 'execa'
import { parse as parseJsonc } from 'jsonc-parser'
import { type Browser, type BrowserContext, type Page, type Response } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium } from '../helpers/browser.js'
import { CLI, ROOT, createSandbox, startCli, type Sandbox } from '../helpers/cli.js'
import { readDevEvents, type DevEvents } from '../helpers/dev-events.js'
import { stopGracefully } from '../helpers/processes.js'

/**
 * The dev console (`/_console` on `centrali dev`) in real headless Chromium: the built CLI runs
 * `dev --port 0 --json` in a temp project, a real HTTP server on 127.0.0.1 stands in for a provider
 * (reached through `--map`), and playwright-core drives Debian's Chromium (nothing is downloaded).
 * One dev process serves the whole file; each test opens its own browser context.
 */

const T = 60_000
/** How long to wait for one DOM condition, event or answer before failing. */
const WAIT = 15_000
const SECRET = 'sk-console-SECRET-value-4242'
const BLOCKED_HOST = 'api.blocked.test'
const ARTIFACTS = join(ROOT, 'test-artifacts')

const CONFIG = `{
  // The console test project: these comments must survive an edit made from the console.
  "functions": {
    "echo": { "entry": "functions/echo.js" },
    "fetcher": { "entry": "functions/fetcher.js" }, /* calls a host that is not allowed yet */
  },
  "triggers": {
    "echo": {
      "type": "endpoint",
      "function": "echo",
      "params": { "apiKey": { "secret": "ECHO_KEY" }, "model": "m-1" },
      "examplePayload": { "message": "it's the example" },
    },
    "fetch-blocked": { "type": "endpoint", "function": "fetcher", "examplePayload": null },
    "spare": {
      "type": "endpoint",
      "function": "echo",
      "params": { "apiKey": { "secret": "SPARE_KEY" } },
    },
  },
  // Hosts the functions may call.
  "domains": ["api.example.com"],
}
`

const ECHO = `export async function run() {
  const payload = executionParams.payload ?? {}
  if (payload.fail) throw new Error('asked to fail')
  // The key goes into a log on purpose: the console must show it redacted.
  api.log('message ' + payload.message + ' key ' + triggerParams.apiKey)
  return { echo: payload.message, model: triggerParams.model ?? null, hasKey: typeof triggerParams.apiKey === 'string' }
}
`

const FETCHER = `export async function run() {
  return await api.httpGet('https://${BLOCKED_HOST}/hello')
}
`

interface Seen {
  method: string
  url: string
  host: string | undefined
}

let sandbox: Sandbox
let app: string
let upstream: Server
const upstreamSeen: Seen[] = []
let dev: ResultPromise
let browser: Browser
const contexts: BrowserContext[] = []
/** dev's NDJSON events. */
let devEvents: DevEvents
const badLines: string[] = []
let devUrl = ''
let consoleUrl = ''
let origin = ''
let port = 0
let token = ''

beforeAll(async () => {
  sandbox = await createSandbox()
  app = join(sandbox.dir, 'app')
  await mkdir(join(app, 'functions'), { recursive: true })
  await writeFile(join(app, 'centrali.json'), CONFIG)
  await writeFile(join(app, 'functions/echo.js'), ECHO)
  await writeFile(join(app, 'functions/fetcher.js'), FETCHER)
  const secret = await sandbox.run(['secrets', 'set', 'ECHO_KEY'], { cwd: app, input: SECRET })
  expect(secret.exitCode, secret.stderr).toBe(0)

  upstream = createServer((request, response) => {
    upstreamSeen.push({ method: request.method ?? '', url: request.url ?? '', host: request.headers.host })
    request.resume()
    response.writeHead(200, { 'content-type': 'application/json' })
    response.end(JSON.stringify({ hello: 'from upstream' }))
  })
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
  const upstreamOrigin = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`

  const started = startCli(['dev', '--port', '0', '--json', '--map', `${BLOCKED_HOST}=${upstreamOrigin}`], {
    cwd: app,
    env: sandbox.env,
  })
  dev = started.child
  devEvents = readDevEvents(started, WAIT, (line) => badLines.push(line))

  const ready = await devEvents.next('ready')
  devUrl = ready.url
  consoleUrl = ready.console
  const parsed = new URL(consoleUrl)
  origin = parsed.origin
  port = Number(parsed.port)
  token = parsed.searchParams.get('token') ?? ''
  expect(parsed.pathname).toBe('/_console')
  expect(token.length).toBeGreaterThanOrEqual(16)
  expect(new URL(devUrl).port).toBe(String(port))

  browser = await launchChromium()
  await mkdir(ARTIFACTS, { recursive: true })
}, T)

afterEach(async () => {
  await Promise.all(contexts.splice(0).map((context) => context.close().catch(() => undefined)))
})

afterAll(async () => {
  await browser?.close()
  await stopGracefully(dev)
  await new Promise<void>((resolve) => {
    if (!upstream) return resolve()
    upstream.closeAllConnections()
    upstream.close(() => resolve())
  })
  await sandbox?.cleanup()
  // --json stdout is NDJSON and nothing else, console or not.
  expect(badLines).toEqual([])
})

// ---------------------------------------------------------------------------------------------
// The page.

interface ConsolePage {
  page: Page
  response: Response | null
  /** Every URL the page requested. */
  requests: string[]
  /** Console errors and uncaught exceptions. */
  errors: string[]
}

async function openConsole(colorScheme: 'light' | 'dark' = 'light'): Promise<ConsolePage> {
  const context = await browser.newContext({ colorScheme })
  contexts.push(context)
  const page = await context.newPage()
  page.setDefaultTimeout(WAIT)
  const requests: string[] = []
  const errors: string[] = []
  page.on('request', (request) => requests.push(request.url()))
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text())
  })
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`))
  const response = await page.goto(consoleUrl)
  await page.locator('#connection', { hasText: /^live$/ }).waitFor()
  // 'live' comes with the stream's opening; the project comes with its first message.
  await page.locator('#triggers li.card').first().waitFor()
  return { page, response, requests, errors }
}

/** The invocation cards of `trigger` with this status, newest first. */
function cards(page: Page, trigger: string, status: number) {
  return page
    .locator('#stream li.card.invocation')
    .filter({ has: page.locator('strong', { hasText: new RegExp(`^${trigger}$`) }) })
    .filter({ has: page.locator(`[data-status="${status}"]`) })
}

/** The card's request id, checked against the dev process's own `invocation.end` event. */
async function requestIdOf(card: ReturnType<Page['locator']>, status: number): Promise<string> {
  const id = (await card.getAttribute('id')) ?? ''
  expect(id).toMatch(/^inv-[0-9a-f-]{36}$/)
  const requestId = id.slice('inv-'.length)
  const end = await devEvents.next('invocation.end', (event) => event.requestId === requestId)
  expect(end.status).toBe(status)
  return requestId
}

// ---------------------------------------------------------------------------------------------
// Plain HTTP, with full control of Host and Origin (fetch does not let a caller set Host).

interface RawAnswer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: unknown
}

function raw(
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        setHost: false,
        headers: { host: `127.0.0.1:${port}`, ...headers },
        timeout: WAIT,
      },
      (response) => {
        let text = ''
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => (text += chunk))
        response.on('end', () => {
          let parsed: unknown = text
          try {
            parsed = JSON.parse(text)
          } catch {
            // not JSON: keep the text
          }
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body: parsed })
        })
      },
    )
    request.on('timeout', () => request.destroy(new Error(`${method} ${path}: no answer in ${WAIT} ms`)))
    request.on('error', reject)
    request.end(body)
  })
}

const codeOf = (answer: RawAnswer) => (answer.body as { error?: { code?: string } }).error?.code

async function postEndpoint(trigger: string, payload: unknown) {
  const response = await fetch(`${devUrl}/endpoints/${trigger}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ payload }),
    signal: AbortSignal.timeout(WAIT),
  })
  return { status: response.status, body: (await response.json()) as unknown }
}

// ---------------------------------------------------------------------------------------------

describe('the dev console in Chromium against centrali dev', () => {
  it(
    'shows the project with secret names only, and invokes a trigger from the form (mouse and keyboard)',
    async () => {
      const context = await browser.newContext()
      contexts.push(context)
      const page = await context.newPage()
      page.setDefaultTimeout(WAIT)
      // Every body the page received: plain responses, and each message of the event stream.
      const bodies: Promise<string>[] = []
      page.on('response', (response) => {
        if (!(response.headers()['content-type'] ?? '').includes('text/event-stream'))
          bodies.push(response.text().catch(() => ''))
      })
      const cdp = await context.newCDPSession(page)
      await cdp.send('Network.enable')
      const streamed: string[] = []
      cdp.on('Network.eventSourceMessageReceived', (event: { data: string }) => streamed.push(event.data))

      await page.goto(consoleUrl)
      await page.locator('#connection', { hasText: /^live$/ }).waitFor()
      await page.locator('#triggers li.card').nth(2).waitFor()

      // Triggers: each with its function and params; a secret param by name and state only.
      const triggerCards = page.locator('#triggers li.card')
      expect(await triggerCards.count()).toBe(3)
      // A card's heading is the trigger's name followed by its type tag.
      expect(await page.locator('#triggers h3').allTextContents()).toEqual([
        'echoendpoint',
        'fetch-blockedendpoint',
        'spareendpoint',
      ])
      const echoCard = triggerCards.filter({ has: page.locator('h3', { hasText: /^echoendpoint$/ }) })
      const echoText = await echoCard.textContent()
      expect(echoText).toContain('param apiKey')
      expect(echoText).toContain('secret ECHO_KEY: set')
      expect(echoText).toContain('param model')
      expect(echoText).toContain('"m-1"')
      expect(echoText).toContain(
        `curl -s ${devUrl}/endpoints/echo -H 'content-type: application/json' -d '{"payload":{"message":"it'\\''s the example"}}'`,
      )
      const spareCard = triggerCards.filter({ has: page.locator('h3', { hasText: /^spareendpoint$/ }) })
      expect(await spareCard.textContent()).toContain('secret SPARE_KEY: missing')
      // The secrets panel: names, set or missing, and who uses them.
      const secretItems = await page.locator('#secrets li').allTextContents()
      expect(secretItems).toEqual([
        'secret ECHO_KEY: set used by echo',
        'secret SPARE_KEY: missing used by spare',
      ])
      expect(await page.locator('#domains li').allTextContents()).toEqual(['api.example.com'])
      const functionsText = await page.locator('#functions').textContent()
      expect(functionsText).toContain('functions/echo.js')
      expect(functionsText).toContain('functions/fetcher.js')

      // The form starts from the chosen trigger's example payload, and from {} for one without;
      // a payload the user wrote stays when they choose another trigger.
      await page.locator('#invoke-trigger option[value="echo"]').waitFor({ state: 'attached' })
      await page.selectOption('#invoke-trigger', 'echo')
      const example = JSON.stringify({ message: "it's the example" }, null, 2)
      expect(await page.inputValue('#invoke-payload')).toBe(example)
      await page.selectOption('#invoke-trigger', 'spare')
      expect(await page.inputValue('#invoke-payload')).toBe('{}')
      // An example of null is null, as its curl line sends it, not the {} of no example.
      await page.selectOption('#invoke-trigger', 'fetch-blocked')
      expect(await page.inputValue('#invoke-payload')).toBe('null')
      const blockedCurl = triggerCards.filter({
        has: page.locator('h3', { hasText: /^fetch-blockedendpoint$/ }),
      })
      expect(await blockedCurl.textContent()).toContain(`-d '{"payload":null}'`)
      await page.selectOption('#invoke-trigger', 'echo')
      expect(await page.inputValue('#invoke-payload')).toBe(example)
      await page.fill('#invoke-payload', '{"message":"mine"}')
      await page.selectOption('#invoke-trigger', 'spare')
      expect(await page.inputValue('#invoke-payload')).toBe('{"message":"mine"}')
      await page.selectOption('#invoke-trigger', 'echo')

      // A payload that is not JSON is refused on the page, and nothing runs.
      const before = devEvents.mark()
      await page.fill('#invoke-payload', '{not json')
      await page.click('#invoke-button')
      await page.locator('#notice.error', { hasText: 'The payload is not JSON' }).waitFor()

      // The form, with the mouse.
      await page.fill('#invoke-payload', '{"message":"by-mouse"}')
      await page.click('#invoke-button')
      const byMouse = cards(page, 'echo', 200).filter({ hasText: 'message by-mouse' })
      await byMouse.waitFor()
      expect(await byMouse.locator('pre.result').textContent()).toBe(
        `result ${JSON.stringify({ echo: 'by-mouse', model: 'm-1', hasKey: true }, null, 2)}`,
      )
      // The key the function logged is shown redacted, by name.
      expect(await byMouse.locator('.log').textContent()).toBe('log message by-mouse key [redacted:ECHO_KEY]')
      const mouseId = await requestIdOf(byMouse, 200)
      // One invocation since the bad payload: this one.
      expect(
        devEvents.events
          .slice(before)
          .filter((event) => event.type === 'invocation.start')
          .map((event) => event.requestId),
      ).toEqual([mouseId])

      // The form, with the keyboard only: Tab from the payload to the button, then Enter.
      await page.fill('#invoke-payload', '{"message":"by-keyboard"}')
      await page.focus('#invoke-payload')
      await page.keyboard.press('Tab')
      expect(await page.evaluate('document.activeElement && document.activeElement.id')).toBe('invoke-button')
      await page.keyboard.press('Enter')
      const byKeyboard = cards(page, 'echo', 200).filter({ hasText: 'message by-keyboard' })
      await byKeyboard.waitFor()
      expect(await byKeyboard.locator('pre.result').textContent()).toContain('"echo": "by-keyboard"')
      const keyboardId = await requestIdOf(byKeyboard, 200)
      expect(keyboardId).not.toBe(mouseId)
      // Newest first.
      expect(await page.locator('#stream li.card.invocation').first().getAttribute('id')).toBe(
        `inv-${keyboardId}`,
      )
      // The invocations are real ones: the dev process reported them like any other.
      expect(
        devEvents.events.filter((event) => event.type === 'invocation.end' && event.trigger === 'echo')
          .length,
      ).toBeGreaterThanOrEqual(2)

      // The secret's value is nowhere in what the page holds or received.
      const html = await page.content()
      const received = [html, ...(await Promise.all(bodies)), ...streamed]
      expect(streamed.some((data) => data.includes('"ECHO_KEY"'))).toBe(true)
      expect(received.some((text) => text.includes('by-keyboard'))).toBe(true)
      for (const text of received) {
        expect(text).not.toContain(SECRET)
        expect(text).not.toContain(Buffer.from(SECRET).toString('base64').slice(0, 20))
      }
    },
    T,
  )

  it(
    "a function that throws: its card shows the error and where it was thrown, in the project's file",
    async () => {
      const { page, errors } = await openConsole()
      const answer = await postEndpoint('echo', { fail: true })
      expect(answer.status).toBe(500)
      const card = cards(page, 'echo', 500)
      await card.waitFor()
      await requestIdOf(card, 500)
      expect(await card.locator('p.error-text').textContent()).toBe('FUNCTION_ERROR: asked to fail')
      expect(await card.locator('pre.stack').textContent()).toBe('at run (functions/echo.js:3:27)')
      expect(errors).toEqual([])
    },
    T,
  )

  it(
    'a blocked call offers "Allow domain", which edits centrali.json and reloads, and Replay then succeeds',
    async () => {
      const { page, errors } = await openConsole()
      const configPath = join(app, 'centrali.json')
      const configBefore = await readFile(configPath, 'utf8')
      expect(configBefore).not.toContain(BLOCKED_HOST)
      const seenBefore = upstreamSeen.length

      // Called like curl would, from outside the page: the card arrives over the live stream.
      const answer = await postEndpoint('fetch-blocked', { attempt: 1 })
      expect(answer.status).toBe(502)
      expect(JSON.stringify(answer.body)).toContain('EGRESS_')
      const blockedCard = cards(page, 'fetch-blocked', 502)
      await blockedCard.waitFor()
      expect(await blockedCard.count()).toBe(1)
      await requestIdOf(blockedCard, 502)
      const call = blockedCard.locator('div.call.blocked')
      expect(await call.textContent()).toContain(`GET ${BLOCKED_HOST}`)
      const allow = blockedCard.locator('button.allow')
      expect(await allow.textContent()).toBe(`Allow domain ${BLOCKED_HOST}`)
      // Nothing reached the provider while the host was not allowed.
      expect(upstreamSeen.length).toBe(seenBefore)
      await blockedCard.screenshot({ path: join(ARTIFACTS, 'console-blocked.png') })

      const since = devEvents.mark()
      const allowed = page.waitForResponse((response) => response.url().endsWith('/_console/api/domains'))
      await allow.click()
      expect((await allowed).status()).toBe(200)
      // The new config is in force by the time the page got its answer: a call made right now passes.
      const right = await postEndpoint('fetch-blocked', { attempt: 2 })
      expect(right.status).toBe(200)
      expect(right.body).toEqual({ hello: 'from upstream' })
      // The domains panel updates live.
      await page.locator('#domains li', { hasText: BLOCKED_HOST }).waitFor()
      await page.locator('#notice.ok', { hasText: `${BLOCKED_HOST} is allowed` }).waitFor()
      expect(await page.locator('#domains li').allTextContents()).toEqual(['api.example.com', BLOCKED_HOST])
      // The blocked card's button has done its work: it says so instead of offering it again.
      await blockedCard.locator('.tag.good', { hasText: 'allowed now' }).waitFor()
      expect(await blockedCard.locator('button.allow').count()).toBe(0)
      await devEvents.next('reload', (event) => event.what === 'config', since)

      // centrali.json on disk: the host appended, everything else (comments included) intact.
      const configAfter = await readFile(configPath, 'utf8')
      expect(configAfter).toContain(`"${BLOCKED_HOST}"`)
      for (const line of configBefore
        .split('\n')
        .filter((text) => text.includes('//') || text.includes('/*')))
        expect(configAfter).toContain(line.trim())
      const parsedBefore = parseJsonc(configBefore) as { domains: string[] }
      expect(parseJsonc(configAfter)).toEqual({
        ...parsedBefore,
        domains: [...parsedBefore.domains, BLOCKED_HOST],
      })

      // Replay of the blocked card: a new card on top, status 200, with the blocked call's payload.
      const passed = cards(page, 'fetch-blocked', 200)
      await passed.first().waitFor()
      expect(await passed.count()).toBe(1)
      const rightId = await passed.first().getAttribute('id')
      await blockedCard.locator('button.replay').click()
      await passed.nth(1).waitFor()
      const replayed = page.locator('#stream li.card.invocation').first()
      expect(await replayed.getAttribute('id')).not.toBe(rightId)
      expect(await replayed.locator('[data-status]').getAttribute('data-status')).toBe('200')
      await requestIdOf(replayed, 200)
      expect(await replayed.locator('pre:not(.result)').textContent()).toBe(
        `payload ${JSON.stringify({ attempt: 1 }, null, 2)}`,
      )
      expect(await replayed.locator('pre.result').textContent()).toContain('"hello": "from upstream"')
      expect(await replayed.locator('div.call').textContent()).toContain(`GET ${BLOCKED_HOST} 200`)
      expect(await replayed.locator('div.call.blocked').count()).toBe(0)
      // The blocked card is still there, below the new ones.
      expect(await cards(page, 'fetch-blocked', 502).count()).toBe(1)
      // The provider got exactly the two calls made after the host was allowed.
      expect(upstreamSeen.slice(seenBefore)).toEqual([
        { method: 'GET', url: '/hello', host: BLOCKED_HOST },
        { method: 'GET', url: '/hello', host: BLOCKED_HOST },
      ])
      expect(errors).toEqual([])
    },
    T,
  )

  it(
    'a method a console route does not take: 405 with Allow; a body over 1 MiB: 413',
    async () => {
      const auth = { 'x-centrali-console-token': token }
      const attempts: [string, string, string][] = [
        ['POST', '/_console', 'GET, HEAD'],
        ['DELETE', '/_console', 'GET, HEAD'],
        ['POST', '/_console/api/state', 'GET'],
        ['DELETE', '/_console/api/events', 'GET'],
        ['GET', '/_console/api/invoke', 'POST'],
        ['PUT', '/_console/api/domains', 'POST'],
      ]
      for (const [method, path, allow] of attempts) {
        const refused = await raw(method, path, auth)
        expect(refused.status, `${method} ${path}`).toBe(405)
        expect(refused.headers.allow, `${method} ${path}`).toBe(allow)
        expect(codeOf(refused), `${method} ${path}`).toBe('METHOD_NOT_ALLOWED')
      }
      expect((await raw('GET', '/_console/api/nothing', auth)).status).toBe(404)
      // A body over the console API's 1 MiB is too large, not bad JSON.
      const huge = JSON.stringify({ trigger: 'echo', payload: 'x'.repeat(1024 * 1024) })
      const tooLarge = await raw('POST', '/_console/api/invoke', auth, huge)
      expect([tooLarge.status, codeOf(tooLarge)]).toEqual([413, 'PAYLOAD_TOO_LARGE'])
    },
    T,
  )

  it(
    'refuses a foreign Host, a foreign Origin, and API calls without the right token',
    async () => {
      const configPath = join(app, 'centrali.json')
      const configBefore = await readFile(configPath, 'utf8')
      const auth = { 'x-centrali-console-token': token }

      // The page itself, under loopback names only (a DNS-rebinding page uses another name).
      expect((await raw('GET', '/_console')).status).toBe(200)
      expect((await raw('GET', '/_console', { host: `localhost:${port}` })).status).toBe(200)
      for (const host of [`evil.example:${port}`, `127.0.0.1:${port + 1}`, 'evil.example']) {
        const refused = await raw('GET', '/_console', { host })
        expect(refused.status, host).toBe(403)
        expect(codeOf(refused), host).toBe('CONSOLE_HOST_REFUSED')
      }
      // The right token does not help under a foreign Host.
      const foreignHostApi = await raw('GET', '/_console/api/state', {
        ...auth,
        host: `evil.example:${port}`,
      })
      expect(foreignHostApi.status).toBe(403)
      expect(codeOf(foreignHostApi)).toBe('CONSOLE_HOST_REFUSED')

      // A foreign Origin, token or not; the console's own origin passes.
      const state = await raw('GET', '/_console/api/state', { ...auth, origin })
      expect(state.status).toBe(200)
      expect(
        (state.body as { triggers: { name: string }[] }).triggers.map((trigger) => trigger.name),
      ).toEqual(['echo', 'fetch-blocked', 'spare'])
      const foreignOrigin = await raw('GET', '/_console/api/state', {
        ...auth,
        origin: 'http://evil.example',
      })
      expect(foreignOrigin.status).toBe(403)
      expect(codeOf(foreignOrigin)).toBe('CONSOLE_ORIGIN_REFUSED')
      const since = devEvents.mark()
      const foreignInvoke = await raw(
        'POST',
        '/_console/api/invoke',
        { ...auth, origin: 'http://evil.example', 'content-type': 'application/json' },
        JSON.stringify({ trigger: 'echo', payload: { message: 'from evil' } }),
      )
      expect(foreignInvoke.status).toBe(403)
      expect(codeOf(foreignInvoke)).toBe('CONSOLE_ORIGIN_REFUSED')

      // No token, or a wrong one: 401 on every API route.
      const wrong = { 'x-centrali-console-token': `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}` }
      const domainsBody = JSON.stringify({ host: 'api.sneaky.test' })
      const attempts: [string, string, Record<string, string>, string?][] = [
        ['GET', '/_console/api/state', {}],
        ['GET', '/_console/api/state', wrong],
        // The query carries the token for the event stream only.
        ['GET', `/_console/api/state?token=${token}`, {}],
        ['POST', '/_console/api/domains', { 'content-type': 'application/json' }, domainsBody],
        ['POST', '/_console/api/domains', { ...wrong, 'content-type': 'application/json' }, domainsBody],
        ['POST', '/_console/api/invoke', {}, JSON.stringify({ trigger: 'echo', payload: {} })],
        ['GET', '/_console/api/events', {}],
        ['GET', `/_console/api/events?token=${wrong['x-centrali-console-token']}`, {}],
        ['GET', '/_console/api/events?token=', {}],
      ]
      for (const [method, path, headers, body] of attempts) {
        const refused = await raw(method, path, headers, body)
        expect(refused.status, `${method} ${path}`).toBe(401)
        expect(codeOf(refused), `${method} ${path}`).toBe('CONSOLE_TOKEN_REQUIRED')
      }

      // Nothing changed: centrali.json is byte for byte the same, and nothing ran or reloaded.
      expect(await readFile(configPath, 'utf8')).toBe(configBefore)
      expect(configBefore).not.toContain('api.sneaky.test')
      const stateAfter = await raw('GET', '/_console/api/state', auth)
      expect((stateAfter.body as { domains: string[] }).domains).not.toContain('api.sneaky.test')
      expect(
        devEvents.events
          .slice(since)
          .filter((event) => event.type === 'invocation.start' || event.type === 'reload')
          .map((event) => event.type),
      ).toEqual([])
    },
    T,
  )

  it(
    'is one small self-contained page with a CSP, and no errors in light or dark',
    async () => {
      const size = (await stat(join(ROOT, 'dist/console/index.html'))).size
      expect(size).toBeGreaterThan(1000)
      expect(size).toBeLessThan(60 * 1024)
      // Something in the stream for the screenshots, whichever tests ran before.
      expect((await postEndpoint('echo', { message: 'for the screenshot' })).status).toBe(200)

      const backgrounds: string[] = []
      for (const scheme of ['light', 'dark'] as const) {
        const { page, response, requests, errors } = await openConsole(scheme)
        const headers = response!.headers()
        const csp = headers['content-security-policy'] ?? ''
        expect(csp).toContain("default-src 'none'")
        expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+'/)
        expect(csp).toContain("connect-src 'self'")
        expect(headers['content-type']).toBe('text/html; charset=utf-8')
        await cards(page, 'echo', 200).filter({ hasText: 'message for the screenshot' }).waitFor()
        // The newest card opened, so the screenshot shows a payload and a result.
        await page.locator('#stream li.card.invocation').first().locator('summary').click()
        await page.locator('#stream li.card.invocation').first().locator('pre.result').waitFor()

        expect(await page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")).toBe(
          scheme === 'dark',
        )
        backgrounds.push(
          (await page.evaluate('getComputedStyle(document.documentElement).backgroundColor')) as string,
        )
        await page.screenshot({ path: join(ARTIFACTS, `console-${scheme}.png`), fullPage: true })

        // Every request went to the dev server itself: no CDN, no font, no analytics.
        expect(requests.length).toBeGreaterThanOrEqual(2)
        for (const url of requests) expect(new URL(url).origin, url).toBe(origin)
        expect(errors, scheme).toEqual([])
      }
      expect(backgrounds[0]).toBe('rgb(251, 251, 252)')
      expect(backgrounds[1]).toBe('rgb(21, 23, 27)')
    },
    T,
  )
})

describe('dev --open', () => {
  it(
    "opens the console URL with the system's opener, which gets no credential from the environment",
    async () => {
      // A stand-in xdg-open first on PATH records what it was given.
      const bin = join(sandbox.dir, 'fake-bin')
      const record = join(sandbox.dir, 'opened.txt')
      await mkdir(bin, { recursive: true })
      await writeFile(
        join(bin, 'xdg-open'),
        `#!/bin/sh\necho "$1" > "${record}.tmp"\nenv >> "${record}.tmp"\nmv "${record}.tmp" "${record}"\n`,
        { mode: 0o755 },
      )
      const keyValue = Buffer.alloc(32, 7).toString('base64')
      const opened = execa(process.execPath, [CLI, 'dev', '--port', '0', '--json', '--open'], {
        cwd: app,
        env: { ...sandbox.env, PATH: `${bin}:${process.env.PATH}`, CENTRALI_SECRETS_KEY: keyValue },
        extendEnv: true,
        reject: false,
        stdin: 'ignore',
      })
      try {
        const deadline = Date.now() + WAIT
        let text: string | undefined
        while (text === undefined && Date.now() < deadline) {
          text = await readFile(record, 'utf8').catch(() => undefined)
          if (text === undefined) await new Promise((resolve) => setTimeout(resolve, 20))
        }
        expect(text, 'xdg-open was never run').toBeDefined()
        const [url, ...environment] = text!.split('\n')
        expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/_console\?token=[\w-]+$/)
        expect(environment.some((line) => line.startsWith('PATH='))).toBe(true)
        expect(text).not.toContain(keyValue)
        expect(text).not.toContain('CENTRALI_SECRETS_KEY')
      } finally {
        opened.kill('SIGTERM')
        await opened
      }
    },
    T,
  )
})
