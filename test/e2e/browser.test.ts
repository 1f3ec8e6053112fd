import { mkdir, readFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { execa, type ResultPromise } from 'execa'
import { type Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium } from '../helpers/browser.js'
import { CLI, ROOT, createSandbox, type Sandbox } from '../helpers/cli.js'

/**
 * centrali/client in a real browser: a page served from one localhost port calls `centrali dev` on
 * another (a cross-origin call with a preflight), renders the result, and never sees the secret.
 * Chromium comes from Debian (.ci/run installs it); playwright-core drives it, nothing is downloaded.
 */
const SECRET = 'sk-browser-test-SECRET-value-9876'
let sandbox: Sandbox
let upstream: Server
let page: Server
let dev: ResultPromise
let browser: Browser
let devUrl = ''
let pageOrigin = ''
/** dev's NDJSON events. */
const devEvents: { type: string; [key: string]: unknown }[] = []

const listen = async (server: Server) => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`
}

beforeAll(async () => {
  sandbox = await createSandbox()
  upstream = createServer((request, response) => {
    let body = ''
    request.on('data', (chunk: Buffer) => (body += chunk.toString()))
    request.on('end', () => {
      response.setHeader('content-type', 'application/json')
      // A well-behaved provider never echoes the key; the function must not leak it either.
      response.end(
        JSON.stringify({
          choices: [
            { message: { role: 'assistant', content: `echo: ${JSON.parse(body).messages[0].content}` } },
          ],
        }),
      )
    })
  })
  const upstreamUrl = await listen(upstream)

  const clientJs = await readFile(join(ROOT, 'dist/client/index.js'), 'utf8')
  page = createServer((request, response) => {
    if (request.url === '/client.js') {
      response.setHeader('content-type', 'text/javascript')
      return void response.end(clientJs)
    }
    response.setHeader('content-type', 'text/html')
    response.end(
      `<!doctype html><html><body><h1>Chat</h1><pre id="result">waiting</pre>
<script type="module">
  import { createClient, CentraliError } from '/client.js'
  const centrali = createClient({ url: ${JSON.stringify('DEV_URL')} })
  try {
    const reply = await centrali.triggers.invokeEndpoint('openai-chat', { payload: { messages: [{ role: 'user', content: 'hello from the page' }] } })
    console.log('reply', JSON.stringify(reply))
    document.getElementById('result').textContent = reply.data.choices[0].message.content
  } catch (error) {
    document.getElementById('result').textContent = 'error ' + (error instanceof CentraliError ? error.code : error.message)
  }
</script></body></html>`.replace('DEV_URL', devUrl),
    )
  })
  pageOrigin = await listen(page)

  expect((await sandbox.run(['init', 'app', '--template', 'openai', '--yes'])).exitCode).toBe(0)
  const app = join(sandbox.dir, 'app')
  expect(
    (await sandbox.run(['secrets', 'set', 'OPENAI_API_KEY'], { cwd: app, input: SECRET })).exitCode,
  ).toBe(0)
  dev = execa(
    process.execPath,
    [CLI, 'dev', '--port', '0', '--json', '--cors', pageOrigin, '--map', `api.openai.com=${upstreamUrl}`],
    {
      cwd: app,
      env: sandbox.env,
      reject: false,
    },
  )
  devUrl = await new Promise<string>((resolve, reject) => {
    createInterface({ input: dev.stdout! }).on('line', (line) => {
      const event = JSON.parse(line) as { type: string; url?: string }
      devEvents.push(event)
      if (event.type === 'ready') resolve(event.url!)
    })
    setTimeout(() => reject(new Error('dev did not get ready')), 15000).unref()
  })

  browser = await launchChromium()
}, 60000)

afterAll(async () => {
  await browser?.close()
  dev?.kill('SIGTERM')
  await dev?.catch(() => undefined)
  upstream?.close()
  page?.close()
  await sandbox?.cleanup()
})

describe('centrali/client in Chromium against centrali dev', () => {
  it('calls the endpoint cross-origin with a preflight, renders the result, and never sees the secret', async () => {
    const context = await browser.newContext()
    const tab = await context.newPage()
    const cdp = await context.newCDPSession(tab)
    await cdp.send('Network.enable')
    // What CDP saw of dev's URL: each request's method by requestId, and each response's status.
    const methods = new Map<string, string>()
    cdp.on('Network.requestWillBeSent', (event) => {
      if (event.request.url.startsWith(devUrl)) methods.set(event.requestId, event.request.method)
    })
    const devResponses: { requestId: string; type: string; status: number }[] = []
    cdp.on('Network.responseReceived', (event) => {
      if (event.response.url.startsWith(devUrl)) {
        devResponses.push({ requestId: event.requestId, type: event.type, status: event.response.status })
      }
    })
    // Every response the page got, read whole: the listener is async, so keep its promise to await.
    const captures: Promise<{ url: string; headers: Record<string, string>; body: string }>[] = []
    tab.on('response', (response) => {
      captures.push(
        (async () => ({
          url: response.url(),
          headers: await response.allHeaders(),
          body: await response.text().catch(() => ''),
        }))(),
      )
    })
    const consoleLines: string[] = []
    tab.on('console', (message) => consoleLines.push(message.text()))
    const devPost = tab.waitForResponse(
      (response) =>
        response.url() === `${devUrl}/endpoints/openai-chat` && response.request().method() === 'POST',
      { timeout: 15000 },
    )

    await tab.goto(pageOrigin)
    await tab.waitForFunction("document.getElementById('result')?.textContent !== 'waiting'", undefined, {
      timeout: 15000,
    })
    expect(await tab.textContent('#result')).toBe('echo: hello from the page')
    expect((await devPost).status()).toBe(200)
    const responses = await Promise.all(captures)

    // The browser sent a preflight before the POST: Chromium reports it as a CDP "Preflight" response
    // or as an OPTIONS request; whichever it is, dev answered it 204.
    const preflights = devResponses.filter(
      (response) => response.type === 'Preflight' || methods.get(response.requestId) === 'OPTIONS',
    )
    expect(preflights.length).toBeGreaterThan(0)
    expect(preflights.map((response) => response.status)).toEqual(preflights.map(() => 204))
    expect([...methods.values()]).toContain('POST')

    // dev's answer was captured, so the checks below read it rather than pass on an empty list.
    const devAnswer = responses.find((response) => response.url === `${devUrl}/endpoints/openai-chat`)
    expect(devAnswer?.body).toContain('echo: hello from the page')
    expect(devAnswer?.headers['x-request-id']).toBeTruthy()

    const html = await tab.content()
    const texts = [
      html,
      ...consoleLines,
      ...responses.flatMap((response) => [
        response.body,
        ...Object.entries(response.headers).map(([name, value]) => `${name}: ${value}`),
      ]),
    ]
    for (const text of texts) {
      expect(text).not.toContain(SECRET)
      expect(text).not.toContain(Buffer.from(SECRET).toString('base64').slice(0, 20))
    }
    expect(consoleLines.some((line) => line.startsWith('reply'))).toBe(true)

    await mkdir(join(ROOT, 'test-artifacts'), { recursive: true })
    await tab.screenshot({ path: join(ROOT, 'test-artifacts/client-in-chromium.png') })
    await context.close()
  }, 40000)

  it('a header or a method the trigger does not allow: the browser refuses, and dev said why; safelisted headers pass', async () => {
    const tab = await browser.newPage()
    try {
      await tab.goto(pageOrigin)
      const call = (init: { method?: string; headers?: Record<string, string> }) =>
        tab.evaluate(
          async ({ url, init }) => {
            try {
              const response = await fetch(url, {
                method: 'POST',
                body: JSON.stringify({ payload: { messages: [{ role: 'user', content: 'x' }] } }),
                ...init,
                headers: { 'content-type': 'application/json', ...init.headers },
              })
              return `status ${response.status}`
            } catch {
              return 'refused'
            }
          },
          { url: `${devUrl}/endpoints/openai-chat`, init },
        )
      const refusalsBefore = devEvents.filter((event) => event.type === 'cors.refused').length
      // Safelisted names, one with a value a browser does not safelist (so its preflight names it).
      expect(
        await call({ headers: { 'accept-language': 'en', accept: `application/json;${'q=1,'.repeat(40)}` } }),
      ).toBe('status 200')
      expect(devEvents.filter((event) => event.type === 'cors.refused')).toHaveLength(refusalsBefore)

      expect(await call({ headers: { 'X-User-Token': 't' } })).toBe('refused')
      expect(await call({ method: 'PUT' })).toBe('refused')
      const refusals = () => devEvents.filter((event) => event.type === 'cors.refused').slice(refusalsBefore)
      for (let waited = 0; refusals().length < 2 && waited < 5000; waited += 50)
        await new Promise((resolve) => setTimeout(resolve, 50))
      expect(refusals()).toEqual([
        expect.objectContaining({
          trigger: 'openai-chat',
          origin: pageOrigin,
          reason: expect.stringContaining('asks to send the header x-user-token'),
          fix: 'add "x-user-token" to triggers.openai-chat.cors.headers in centrali.json',
        }),
        expect.objectContaining({
          reason: `the preflight from ${pageOrigin} asks for PUT; endpoints take POST only`,
        }),
      ])
    } finally {
      await tab.close()
    }
  }, 40000)

  it("a page from an origin that is not allowed, sending what needs no preflight (CSRF's shape): the function never runs", async () => {
    // A no-cors fetch of a text/plain body is sent without asking: the browser hides the answer,
    // but the request would run the function (with any cookie it carries). Chromium says where it
    // came from (Sec-Fetch-Site: cross-site), and dev refuses it unrun.
    const other = createServer((_request, response) => {
      response.setHeader('content-type', 'text/html')
      response.end(`<!doctype html><pre id="result">waiting</pre><script type="module">
        fetch('${devUrl}/endpoints/openai-chat', { method: 'POST', mode: 'no-cors', body: JSON.stringify({ payload: { messages: [] } }) })
          .then(() => { document.getElementById('result').textContent = 'sent' })
          .catch((error) => { document.getElementById('result').textContent = 'failed ' + error })
      </script>`)
    })
    const otherOrigin = await listen(other)
    const tab = await browser.newPage()
    const since = devEvents.length
    try {
      await tab.goto(otherOrigin)
      await tab.waitForFunction("document.getElementById('result')?.textContent !== 'waiting'", undefined, {
        timeout: 15000,
      })
      expect(await tab.textContent('#result')).toBe('sent')
      const refusal = () =>
        devEvents
          .slice(since)
          .find((event) => event.type === 'request.refused' && event.trigger === 'openai-chat')
      for (let waited = 0; refusal() === undefined && waited < 5000; waited += 50)
        await new Promise((resolve) => setTimeout(resolve, 50))
      expect(refusal()).toMatchObject({ method: 'POST', status: 403, error: { code: 'ORIGIN_NOT_ALLOWED' } })
      expect(devEvents.slice(since).filter((event) => event.type === 'invocation.start')).toEqual([])
    } finally {
      await tab.close()
      other.close()
    }
  }, 40000)

  it('a page from an origin that is not allowed is refused by the browser', async () => {
    // Served whole from its own origin (its module too), which dev's CORS does not allow.
    const clientJs = await readFile(join(ROOT, 'dist/client/index.js'), 'utf8')
    const other = createServer((request, response) => {
      if (request.url === '/client.js') {
        response.setHeader('content-type', 'text/javascript')
        return void response.end(clientJs)
      }
      response.setHeader('content-type', 'text/html')
      response.end(`<!doctype html><pre id="result">waiting</pre><script type="module">
        import { createClient } from '/client.js'
        createClient({ url: '${devUrl}' }).triggers.invokeEndpoint('openai-chat', { payload: { messages: [{ role: 'user', content: 'x' }] } })
          .then(() => { document.getElementById('result').textContent = 'allowed' })
          .catch((error) => { document.getElementById('result').textContent = 'refused ' + error.code })
      </script>`)
    })
    const otherOrigin = await listen(other)
    const tab = await browser.newPage()
    try {
      await tab.goto(otherOrigin)
      await tab.waitForFunction("document.getElementById('result')?.textContent !== 'waiting'", undefined, {
        timeout: 15000,
      })
      expect(await tab.textContent('#result')).toBe('refused NETWORK_ERROR')
    } finally {
      await tab.close()
      other.close()
    }
  }, 40000)
})
