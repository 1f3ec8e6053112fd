import { UserError } from '../shared/errors.js'

/** Reads all of stdin as UTF-8 (for piped values); with `maxBytes`, refuses more instead of buffering it. */
export async function readStdin(maxBytes = Infinity): Promise<string> {
  const chunks: Buffer[] = []
  let total = 0
  for await (const chunk of process.stdin) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer)
    total += bytes.length
    if (total > maxBytes) {
      process.stdin.destroy()
      throw new UserError(
        'PAYLOAD_TOO_LARGE',
        `stdin holds more than ${maxBytes} bytes, the most this command takes.`,
      )
    }
    chunks.push(bytes)
  }
  return Buffer.concat(chunks).toString('utf8')
}
