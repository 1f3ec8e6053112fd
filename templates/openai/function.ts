/**
 * {{functionName}}: proxies chat completions to OpenAI. The browser sends
 * `{ messages, model? }`; the API key never leaves the server.
 *
 * Trigger params: `openaiKey` (secret), `model` (used when the payload names none).
 */

interface ChatPayload {
  messages?: unknown
  model?: unknown
}

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool'])

export async function run() {
  const apiKey = triggerParams.openaiKey
  if (typeof apiKey !== 'string' || apiKey === '') {
    return { success: false, error: 'API key not configured' }
  }

  const { messages, model } = (executionParams.payload ?? {}) as ChatPayload
  if (!Array.isArray(messages) || messages.length === 0) {
    return { success: false, error: 'messages must be a non-empty array of { role, content }' }
  }
  const invalid = messages.findIndex(
    (message) =>
      typeof message !== 'object' ||
      message === null ||
      !ROLES.has((message as { role?: unknown }).role as string) ||
      !('content' in message),
  )
  if (invalid !== -1) {
    return {
      success: false,
      error: `messages[${invalid}] needs a role (${[...ROLES].join(', ')}) and content`,
    }
  }
  if (model !== undefined && (typeof model !== 'string' || model === '')) {
    return { success: false, error: 'model must be a non-empty string' }
  }

  try {
    const response = await api.httpPost(
      'https://api.openai.com/v1/chat/completions',
      { model: model ?? String(triggerParams.model ?? 'gpt-4o-mini'), messages },
      { headers: { Authorization: `Bearer ${apiKey}` } },
    )
    return { success: true, data: response }
  } catch (error) {
    // An upstream error status (401, 429, 500, ...) is a failure, never `success: true`.
    const { status, body } = error as { status?: number; body?: { error?: { message?: string } } }
    const message = body?.error?.message ?? (error as Error).message
    api.logError({ upstreamStatus: status, error: message })
    return { success: false, status, error: message }
  }
}
