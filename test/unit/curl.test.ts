import { execFileSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { endpointCurl } from '../../src/shared/curl.js'

/**
 * The words a shell makes of a printed line, with `curl` standing in to print its arguments. bash
 * with failglob fails on a pattern that matches no file, as zsh (macOS's shell) does by default.
 */
function wordsOf(line: string): string[] {
  const script = `curl() { printf '%s\\0' "$@"; }\n${line}`
  const out = execFileSync('bash', ['-O', 'failglob', '-c', script], { cwd: '/', encoding: 'utf8' })
  return out.split('\0').slice(0, -1)
}

describe('endpointCurl', () => {
  const example = { text: `it's "quoted" $(id) \`id\` $HOME \\ * ? [a] \n é 😀` }

  it('is one shell word per argument whatever the example holds', () => {
    const line = endpointCurl('http://127.0.0.1:8787', 'chat', example)
    expect(line).toBe(
      `curl -s http://127.0.0.1:8787/endpoints/chat -H 'content-type: application/json' -d '${JSON.stringify({ payload: example }).replaceAll("'", `'\\''`)}'`,
    )
    expect(wordsOf(line)).toEqual([
      '-s',
      'http://127.0.0.1:8787/endpoints/chat',
      '-H',
      'content-type: application/json',
      '-d',
      JSON.stringify({ payload: example }),
    ])
  })

  it('quotes an IPv6 URL, whose brackets a shell would read as a pattern (dev --host ::1)', () => {
    const line = endpointCurl('http://[::1]:8787', 'chat')
    expect(wordsOf(line)).toEqual([
      '-s',
      'http://[::1]:8787/endpoints/chat',
      '-H',
      'content-type: application/json',
      '-d',
      '{"payload":{}}',
    ])
  })
})
