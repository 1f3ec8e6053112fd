import { readFile, writeFile } from 'node:fs/promises'
import { request as httpRequest, createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { execa, type ResultPromise } from 'execa'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { launchChromium } from '../helpers/browser.js'
import { ROOT, createSandbox, readyUrl, startCli, type Sandbox } from '../helpers/cli.js'
import { readDevEvents } from '../helpers/dev-events.js'
import { endAll } from '../helpers/processes.js'
import { until } from '../helpers/until.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

/**
 * The README's journey as a newcomer walks it: a project from a template, its secret set, `centrali
 * dev` with the provider mapped to a local stand-in, and the page's calls, here through the common
 * set-up where the frontend's dev server (Vite and the like) proxies `/endpoints` to dev.
 */

const T = 30_000
const WAIT = 10_000

let sandbox: Sandbox
const processes: ResultPromise[] = []
const servers: { close(): Promise<void> }[] = []

beforeEach(async () => {
  sandbox = await createSandbox()
})

afterEach(async () => {
  await endAll(processes, servers)
  await sandbox.cleanup()
})

/**
 * A frontend dev server: serves `page` at `/` and centrali/client at `/client.js`, and proxies
 * everything else (`/endpoints/*`) to dev with every header, as Vite's proxy does.
 */
async function startPageProxy(target: string, page = ''): Promise<{ origin: string }> {
  const clientJs = await readFile(join(ROOT, 'dist/client/index.js'), 'utf8')
  const server: Server = createServer((req, res) => {
    if (req.url === '/' || req.url === '/client.js') {
      res.writeHead(200, { 'content-type': req.url === '/' ? 'text/html' : 'text/javascript' })
      res.end(req.url === '/' ? page : clientJs)
      return
    }
    const forward = httpRequest(
      new URL(req.url ?? '/', target),
      { method: req.method, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(res)
      },
    )
    forward.on('error', () => {
      res.writeHead(502)
      res.end()
    })
    req.pipe(forward)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  servers.push({
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  })
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
}

/**
 * A project from the openai template with its key set, and a stand-in for api.openai.com that
 * answers `{ id }`.
 */
async function openaiProject(id: string): Promise<{ app: string; upstream: Upstream }> {
  const created = await sandbox.run(['init', 'app', '--template', 'openai', '--yes'])
  expect(created.exitCode, created.stderr).toBe(0)
  const app = join(sandbox.dir, 'app')
  const stored = await sandbox.run(['secrets', 'set', 'OPENAI_API_KEY'], {
    cwd: app,
    input: 'sk-test-journey-123\n',
  })
  expect(stored.exitCode, stored.stderr).toBe(0)
  const upstream = await startUpstream(() => ({ json: { id } }))
  servers.push(upstream)
  return { app, upstream }
}

/** `centrali dev --json` in `app`, with api.openai.com mapped to the stand-in; once it is ready. */
async function startMappedDev(app: string, upstream: Upstream) {
  const dev = startCli(['dev', '--port', '0', '--json', '--map', `api.openai.com=${upstream.origin}`], {
    cwd: app,
    env: sandbox.env,
  })
  processes.push(dev.child)
  const devEvents = readDevEvents(dev, WAIT)
  return { devEvents, ready: await devEvents.next('ready') }
}

describe('the openai template behind a frontend dev server', () => {
  it(
    "does not warn that a browser will refuse a page's own same-origin call through its proxy",
    async () => {
      const { app, upstream } = await openaiProject('chatcmpl-1')
      const { devEvents, ready } = await startMappedDev(app, upstream)

      // The page at 127.0.0.1:<proxy> is not among the template's cors.origins (localhost:5173), but
      // it calls its own server, which forwards: the browser says same-origin and needs no CORS.
      const page = await startPageProxy(ready.url)
      const body = JSON.stringify({ payload: { messages: [{ role: 'user', content: 'Hi' }] } })
      const sent = { 'content-type': 'application/json', origin: page.origin }
      const proxied = await fetch(`${page.origin}/endpoints/openai-chat`, {
        method: 'POST',
        headers: { ...sent, 'sec-fetch-site': 'same-origin' },
        body,
      })
      expect(proxied.status).toBe(200)
      expect(await proxied.json()).toEqual({ success: true, data: { id: 'chatcmpl-1' } })
      expect(upstream.requests).toHaveLength(1)
      expect(upstream.requests[0]!.authorization).toBe('Bearer sk-test-journey-123')
      await devEvents.next(
        'invocation.end',
        (event) => event.requestId === proxied.headers.get('x-request-id'),
      )

      // The same origin calling dev directly is cross-origin: that one the browser refuses, and dev
      // says so. Its event is the only one: the proxied call above had none.
      const direct = await fetch(`${ready.url}/endpoints/openai-chat`, {
        method: 'POST',
        headers: sent,
        body,
      })
      expect(direct.status).toBe(200)
      expect(direct.headers.get('access-control-allow-origin')).toBeNull()
      // Its cors.refused follows its invocation.end (the event goes out once the answer is sent).
      const directEnd = await devEvents.next(
        'invocation.end',
        (event) => event.requestId === direct.headers.get('x-request-id'),
      )
      const refused = await devEvents.next('cors.refused', () => true, devEvents.events.indexOf(directEnd))
      expect(refused).toMatchObject({ trigger: 'openai-chat', origin: page.origin })
      expect(devEvents.events.filter((event) => event.type === 'cors.refused')).toEqual([refused])
    },
    T,
  )
})

/** Runs a printed command line as a user who pastes it into a shell would. */
async function runPasted(line: string): Promise<{ exitCode: number | undefined; stdout: string }> {
  const { exitCode, stdout } = await execa('sh', ['-c', line], { reject: false, timeout: WAIT })
  return { exitCode, stdout }
}

describe('the curl lines dev prints', () => {
  it(
    "send the trigger's example payload: pasted into a shell they reach the provider, and an edited example is printed again",
    async () => {
      const { app, upstream } = await openaiProject('chatcmpl-curl')
      const config = JSON.parse(await readFile(join(app, 'centrali.json'), 'utf8')) as {
        triggers: Record<string, { examplePayload?: unknown }>
      }
      const example = { messages: [{ role: 'user', content: 'Say hello' }] }
      expect(config.triggers['openai-chat']!.examplePayload).toEqual(example)

      const { devEvents, ready } = await startMappedDev(app, upstream)
      const [endpoint] = ready.endpoints
      expect(endpoint?.trigger).toBe('openai-chat')

      const pasted = await runPasted(endpoint!.curl)
      expect(pasted.exitCode).toBe(0)
      expect(JSON.parse(pasted.stdout)).toEqual({ success: true, data: { id: 'chatcmpl-curl' } })
      expect(JSON.parse(upstream.requests[0]!.body)).toMatchObject(example)

      // An example with a quote in it, as a user might write: dev prints the line again, still
      // one shell word, and the provider gets the text exactly.
      const quoted = { messages: [{ role: 'user', content: `It's "quoted" \\ and $HOME \`id\`` }] }
      config.triggers['openai-chat']!.examplePayload = quoted
      await writeFile(join(app, 'centrali.json'), JSON.stringify(config, null, 2))
      const reprinted = await devEvents.next('endpoint', (event) => event.trigger === 'openai-chat')
      expect(reprinted.url).toBe(endpoint!.url)
      const again = await runPasted(reprinted.curl)
      expect(again.exitCode).toBe(0)
      expect(JSON.parse(again.stdout)).toMatchObject({ success: true })
      expect(JSON.parse(upstream.requests[1]!.body)).toMatchObject(quoted)
    },
    T,
  )
})

describe("the project README's deploy step", () => {
  it(
    'deploys to `centrali serve` with the token it printed, after a missing token says where to find it',
    async () => {
      const created = await sandbox.run(['init', 'app', '--template', 'openai', '--yes'])
      expect(created.exitCode, created.stderr).toBe(0)
      const app = join(sandbox.dir, 'app')
      expect(await readFile(join(app, 'README.md'), 'utf8')).toContain('centrali serve')
      const stored = await sandbox.run(['secrets', 'set', 'OPENAI_API_KEY'], {
        cwd: app,
        input: 'sk-test-journey-123\n',
      })
      expect(stored.exitCode, stored.stderr).toBe(0)

      const upstream = await startUpstream(() => ({ json: { id: 'chatcmpl-2' } }))
      servers.push(upstream)
      const serve = startCli(
        [
          'serve',
          '--port',
          '0',
          '--data-dir',
          join(sandbox.dir, 'runtime'),
          '--map',
          `api.openai.com=${upstream.origin}`,
        ],
        {
          cwd: sandbox.dir,
          env: { ...sandbox.env, CENTRALI_RUNTIME_TOKEN: undefined, CENTRALI_MASTER_KEY: undefined },
        },
      )
      processes.push(serve.child)
      const url = await until(() => readyUrl(serve.lines), serve.show, {
        child: serve.child,
        name: 'serve',
        timeoutMs: WAIT,
      })
      const token = await until(() => /\b(crt_[\w-]+)/.exec(serve.stderr())?.[1], serve.show, {
        child: serve.child,
        name: 'serve',
        timeoutMs: WAIT,
      })
      // The template's target is serve's default port; this one listens where it could.
      const configPath = join(app, 'centrali.json')
      await writeFile(configPath, (await readFile(configPath, 'utf8')).replace('http://127.0.0.1:8788', url))

      const noToken = await sandbox.run(['deploy', '--yes'], { cwd: app, env: { CENTRALI_TOKEN: undefined } })
      expect(noToken.exitCode).toBe(1)
      expect(noToken.stderr).toContain('DEPLOY_TOKEN_MISSING')
      expect(noToken.stderr).toContain('`centrali serve` prints once, on its first start')

      const withToken = { cwd: app, env: { CENTRALI_TOKEN: token } }
      const pushed = await sandbox.run(['secrets', 'push', '--yes'], withToken)
      expect(pushed.exitCode, pushed.stderr).toBe(0)
      const deployed = await sandbox.run(['deploy', '--yes'], withToken)
      expect(deployed.exitCode, deployed.stderr).toBe(0)
      expect(deployed.stdout).toContain(`${url}/endpoints/openai-chat`)

      const answer = await fetch(`${url}/endpoints/openai-chat`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ payload: { messages: [{ role: 'user', content: 'Hi' }] } }),
      })
      expect(await answer.json()).toEqual({ success: true, data: { id: 'chatcmpl-2' } })
      expect(upstream.requests.map((seen) => seen.authorization)).toEqual(['Bearer sk-test-journey-123'])
    },
    T,
  )
})

describe('--help on an 80-column terminal', () => {
  it.each(['dev', 'deploy', 'serve', 'secrets set'])(
    '`%s --help` wraps its description once, to the terminal, not at each source line',
    async (command) => {
      const result = await sandbox.run([...command.split(' '), '--help'], { env: { OCLIF_COLUMNS: '80' } })
      expect(result.exitCode, result.stderr).toBe(0)
      const lines = result.stdout.split('\n')
      const description = lines.slice(lines.indexOf('DESCRIPTION') + 1, lines.indexOf('EXAMPLES'))
      expect(description.join(' ').length).toBeGreaterThan(100)
      // Wrapped once, at the width: a line that another line of its paragraph follows ends there
      // because the next word would not fit, never at a line break of the source.
      const short = description.filter((line, index) => {
        const next = (description[index + 1] ?? '').trim()
        return line.trim() !== '' && next !== '' && line.length + 1 + next.split(' ')[0]!.length <= 80
      })
      expect(short).toEqual([])
      expect(Math.max(...description.map((line) => line.length))).toBeLessThanOrEqual(80)
    },
    T,
  )
})

describe('centrali/client in Chromium, on a page whose origin the trigger does not list', () => {
  it(
    "names CORS and the origin to list when the browser hides a refused answer; through the page's own proxy it works",
    async () => {
      const { app, upstream } = await openaiProject('chatcmpl-3')
      const dev = startCli(['dev', '--port', '0', '--map', `api.openai.com=${upstream.origin}`], {
        cwd: app,
        env: sandbox.env,
      })
      processes.push(dev.child)
      const devUrl = await until(() => readyUrl(dev.lines), dev.show, {
        child: dev.child,
        name: 'dev',
        timeoutMs: WAIT,
      })
      const page = await startPageProxy(
        devUrl,
        `<!doctype html><script type="module">
          import { createClient } from '/client.js'
          window.call = async (url) => {
            try {
              return { result: await createClient({ url }).triggers.invokeEndpoint('openai-chat', {
                payload: { messages: [{ role: 'user', content: 'Hi' }] },
              }) }
            } catch (error) {
              return { code: error.code, status: error.status, message: error.message }
            }
          }
        </script>`,
      )

      const browser = await launchChromium()
      servers.push({ close: () => browser.close() })
      const tab = await browser.newPage()
      await tab.goto(`${page.origin}/`)
      await tab.waitForFunction(() => 'call' in globalThis)
      const call = (url: string) =>
        tab.evaluate(
          (target) => (globalThis as unknown as { call(url: string): Promise<unknown> }).call(target),
          url,
        )

      // The template lists http://localhost:5173; this page is http://127.0.0.1:<port>.
      const direct = (await call(devUrl)) as { code: string; status: number; message: string }
      expect(direct).toMatchObject({ code: 'NETWORK_ERROR', status: 0 })
      expect(direct.message).toContain(`cors.origins in centrali.json must list ${page.origin}`)
      expect(await call('/')).toEqual({ result: { success: true, data: { id: 'chatcmpl-3' } } })
    },
    T,
  )
})
