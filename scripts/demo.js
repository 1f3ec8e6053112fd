// `npm run demo`: the main job end to end, on this machine alone. A project from the openai template,
// its key in the encrypted store, the function run once (`centrali invoke`) and served (`centrali
// dev`), with api.openai.com mapped to a local stand-in: no network and no real key are needed.
// Usage: node scripts/demo.js [folder]   (default ./demo, replaced on each run)
import { Buffer } from 'node:buffer'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { once } from 'node:events'
import { createServer } from 'node:http'
import { basename, dirname, join, resolve } from 'node:path'
import { createInterface } from 'node:readline'

// The page's call, made as a browser's fetch makes it (Node >= 20 has fetch built in).
const { fetch } = globalThis

const cli = join(new URL('..', import.meta.url).pathname, 'bin/run.js')
const folder = resolve(process.argv[2] ?? 'demo')
const trigger = 'openai-chat'
const pageOrigin = 'http://localhost:5173'
// A made-up key: it must reach the stand-in, and nothing else.
const demoKey = `sk-demo-${randomBytes(12).toString('hex')}`
const shownKey = `${demoKey.slice(0, 8)}…`

const bold = process.stderr.isTTY && !process.env.NO_COLOR
const say = (text) => process.stderr.write(bold ? `\n\x1b[1m${text}\x1b[0m\n` : `\n${text}\n`)
const fail = (text) => {
  process.stderr.write(`\n✖ demo: ${text}\n`)
  process.exit(1)
}

/** The stand-in for api.openai.com: answers a chat completion and keeps the Authorization it saw. */
const authorizations = []
const standIn = createServer((request, response) => {
  const chunks = []
  request.on('data', (chunk) => chunks.push(chunk))
  request.on('end', () => {
    authorizations.push(request.headers.authorization ?? '')
    const { model } = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}')
    response.setHeader('content-type', 'application/json')
    response.end(
      JSON.stringify({
        id: 'chatcmpl-demo',
        object: 'chat.completion',
        model,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: 'Hello! (from the local stand-in for api.openai.com)' },
            finish_reason: 'stop',
          },
        ],
      }),
    )
  })
})
await new Promise((done) => standIn.listen(0, '127.0.0.1', done))
const map = `api.openai.com=http://127.0.0.1:${standIn.address().port}`

/**
 * Runs `centrali ARGS` in `cwd` as a person would, its output shown; stops the demo if it fails. Not
 * spawnSync: the stand-in answers from this process's event loop.
 */
async function centrali(args, cwd, input) {
  say(`$ centrali ${args.join(' ')}${input === undefined ? '' : '   (the value on stdin)'}`)
  const child = spawn(process.execPath, [cli, ...args], {
    cwd,
    stdio: [input === undefined ? 'ignore' : 'pipe', 'inherit', 'inherit'],
  })
  child.stdin?.end(input)
  const [code] = await once(child, 'exit')
  if (code !== 0) fail(`centrali ${args[0]} exited ${code}`)
}

rmSync(folder, { recursive: true, force: true })
await centrali(['init', basename(folder), '--template', 'openai', '--yes'], dirname(folder))
await centrali(['secrets', 'set', 'OPENAI_API_KEY'], folder, `${demoKey}\n`)
await centrali(['invoke', trigger, '--map', map], folder)

// dev, and one call to it as the page at localhost:5173 would make it.
say(`$ centrali dev --port 0 --map ${map}`)
const dev = spawn(process.execPath, [cli, 'dev', '--port', '0', '--map', map], {
  cwd: folder,
  stdio: ['ignore', 'pipe', 'inherit'],
})
const devExited = new Promise((done) => dev.once('exit', done))
const lines = createInterface({ input: dev.stdout })
let answered
const ended = new Promise((done) => (answered = done))
let devUrl
await new Promise((found) => {
  lines.on('line', (line) => {
    process.stdout.write(`  │ ${line}\n`)
    const ready = /^Ready on (\S+)/.exec(line)
    if (ready) found((devUrl = ready[1]))
    if (line.includes(` ${trigger} 200 `)) answered()
  })
  devExited.then(() => devUrl ?? fail('centrali dev stopped before it was ready'))
})
const response = await fetch(`${devUrl}/endpoints/${trigger}`, {
  method: 'POST',
  headers: { 'content-type': 'application/json', origin: pageOrigin },
  body: JSON.stringify({ payload: { messages: [{ role: 'user', content: 'Say hello' }] } }),
})
const body = await response.text()
say(`A page at ${pageOrigin} calls POST ${devUrl}/endpoints/${trigger}:`)
process.stdout.write(
  `  ${response.status}, access-control-allow-origin: ${response.headers.get('access-control-allow-origin')}\n  ${body}\n`,
)
// dev's own line for the call, then a clean stop (Ctrl-C).
await Promise.race([ended, new Promise((done) => setTimeout(done, 5000))])
dev.kill('SIGINT')
await devExited
standIn.close()

if (response.status !== 200 || !body.includes('"success":true')) fail('the call through dev did not succeed')
const keyed = authorizations.filter((value) => value === `Bearer ${demoKey}`).length
if (keyed !== authorizations.length || keyed < 2) fail('the stand-in did not get the key on every call')
if (body.includes(demoKey)) fail('the key reached the page')
say(
  `✔ The stand-in for api.openai.com got "Authorization: Bearer ${shownKey}" on each of its ${keyed} calls; the page got the answer and never the key.`,
)
process.stderr.write(
  `\nThe project is in ${folder}. With a real key there: centrali secrets set OPENAI_API_KEY, then centrali dev (no --map).\n`,
)
