import type { Readable } from 'node:stream'

/** Calls `onLine` with each whole line a child process prints on `stream` (UTF-8), as it arrives. */
export function readLines(stream: Readable, onLine: (line: string) => void): void {
  let pending = ''
  stream.setEncoding('utf8')
  stream.on('data', (chunk: string) => {
    pending += chunk
    for (let end = pending.indexOf('\n'); end !== -1; end = pending.indexOf('\n')) {
      const line = pending.slice(0, end)
      pending = pending.slice(end + 1)
      onLine(line)
    }
  })
}
