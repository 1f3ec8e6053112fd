import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ROOT, createSandbox, type Sandbox } from '../helpers/cli.js'

/**
 * `npm run demo`, the README's first command after the build: scripts/demo.js in a sandbox folder, as
 * the README runs it (a real project from the openai template, the CLI as a person runs it, a local
 * stand-in for api.openai.com).
 */

let sandbox: Sandbox

beforeEach(async () => {
  sandbox = await createSandbox()
})

afterEach(async () => {
  await sandbox.cleanup()
})

/** The demo's made-up key, whole (it prints only its first 8 characters). */
const WHOLE_DEMO_KEY = /sk-demo-[0-9a-f]{24}/

describe('npm run demo', () => {
  it('runs the openai proxy through invoke and dev against the stand-in: the page gets the answer, only the stand-in the key', async () => {
    const folder = join(sandbox.dir, 'demo')
    const demo = await execa(process.execPath, [join(ROOT, 'scripts/demo.js'), folder], {
      cwd: sandbox.dir,
      env: sandbox.env,
      reject: false,
      timeout: 60_000,
      all: true,
    })
    expect(demo.exitCode, demo.all).toBe(0)
    // Once from `centrali invoke`, once in the answer dev gave the page.
    expect(demo.all.split('Hello! (from the local stand-in for api.openai.com)')).toHaveLength(3)
    expect(demo.all).toContain('200, access-control-allow-origin: http://localhost:5173')
    expect(demo.all).toMatch(/openai-chat 200 \d+ ms \/ 30000 ms/)
    expect(demo.all).toContain(
      '✔ The stand-in for api.openai.com got "Authorization: Bearer sk-demo-…" on each of its 2 calls',
    )
    expect(demo.all).not.toMatch(WHOLE_DEMO_KEY)
    // The key is in the project's store, encrypted.
    const store = await readFile(join(folder, '.centrali/secrets.json'), 'utf8')
    expect(store).toContain('OPENAI_API_KEY')
    expect(store).not.toMatch(WHOLE_DEMO_KEY)
  }, 90_000)
})
