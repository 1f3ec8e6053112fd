/**
 * The ready-to-paste `curl` for an endpoint, as `init`, `dev` and the dev console print it. No Node
 * imports: the console's browser bundle uses it too.
 */
export function endpointCurl(baseUrl: string, trigger: string, examplePayload: unknown = {}): string {
  const body = JSON.stringify({ payload: examplePayload })
  return `curl -s ${baseUrl}/endpoints/${trigger} -H 'content-type: application/json' -d ${shellQuote(body)}`
}

/** One POSIX shell word whatever the text holds: single quotes, each `'` written as `'\''`. */
export function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`
}
