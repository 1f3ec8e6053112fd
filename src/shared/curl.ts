/**
 * The ready-to-paste `curl` for an endpoint, as `init`, `dev` and the dev console print it. No Node
 * imports: the console's browser bundle uses it too.
 */
export function endpointCurl(baseUrl: string, trigger: string, examplePayload: unknown = {}): string {
  const body = JSON.stringify({ payload: examplePayload })
  const url = `${baseUrl}/endpoints/${trigger}`
  return `curl -s ${shellWord(url)} -H 'content-type: application/json' -d ${shellQuote(body)}`
}

/** One POSIX shell word whatever the text holds: single quotes, each `'` written as `'\''`. */
export function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`
}

/**
 * The text as is when no shell reads anything into it (a URL such as http://127.0.0.1:8787/…), else
 * quoted: the brackets of an IPv6 host are a pattern to zsh, which fails when no file matches.
 */
function shellWord(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : shellQuote(text)
}
