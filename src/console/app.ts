/**
 * The dev console page: the project (functions, triggers, domains, secrets) and a live stream of
 * invocations, from `centrali dev` over server-sent events. Plain DOM, no framework: it is bundled
 * into one HTML file the CLI serves, and must stay a few tens of KB.
 */
import { endpointCurl } from '../shared/curl.js'
import {
  CONSOLE_PATH,
  CONSOLE_TOKEN_HEADER,
  type ConsoleEvent,
  type ConsoleState,
  type ConsoleTrigger,
  type InvocationRecord,
} from './types.js'

const token = new URLSearchParams(location.search).get('token') ?? ''
const api = `${CONSOLE_PATH}/api`
/** Cards kept on the page; older ones (and all they held) are let go. */
const MAX_RECORDS = 200

let state: ConsoleState | undefined

type Child = Node | string | false | undefined | null
function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string | boolean | ((event: Event) => void)> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag)
  for (const [name, value] of Object.entries(attributes)) {
    if (typeof value === 'function') element.addEventListener(name.slice(2).toLowerCase(), value)
    else if (value === true) element.setAttribute(name, '')
    else if (value !== false) element.setAttribute(name, value)
  }
  for (const child of children) if (child !== false && child != null) element.append(child)
  return element
}

const show = (value: unknown): string =>
  typeof value === 'string' ? value : (JSON.stringify(value, null, 2) ?? 'undefined')
/** A payload or a result as JSON: the string "null" and null must not look alike. */
const showJson = (value: unknown): string => JSON.stringify(value, null, 2) ?? 'undefined'

async function post(path: string, body: unknown): Promise<{ ok: boolean; data: unknown }> {
  const response = await fetch(`${api}/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', [CONSOLE_TOKEN_HEADER]: token },
    body: JSON.stringify(body),
  })
  return { ok: response.ok, data: await response.json().catch(() => null) }
}

function notice(text: string, kind: 'ok' | 'error' = 'ok'): void {
  const area = document.getElementById('notice')!
  area.className = `notice ${kind}`
  area.textContent = text
}

// ---------------------------------------------------------------------------------------------
// The project

function renderProject(): void {
  if (!state) return
  const current = state
  document
    .getElementById('config-error')!
    .replaceChildren(
      ...(current.configError
        ? [h('p', { class: 'notice error', role: 'alert' }, `${current.configFile}: ${current.configError}`)]
        : []),
    )
  document
    .getElementById('triggers')!
    .replaceChildren(
      ...current.triggers.map((trigger) =>
        h(
          'li',
          { class: 'card' },
          h('h3', {}, trigger.name, h('span', { class: 'tag' }, trigger.type)),
          h(
            'dl',
            {},
            h('dt', {}, 'function'),
            h('dd', {}, trigger.function),
            h('dt', {}, 'timeout'),
            h('dd', {}, `${trigger.timeoutMs} ms`),
            h('dt', {}, 'memory'),
            h('dd', {}, `${trigger.memoryMb} MB`),
            h('dt', {}, 'CORS'),
            h('dd', {}, trigger.cors ? trigger.cors.origins.join(', ') : 'same origin only'),
            ...trigger.params.flatMap((param) => [
              h('dt', {}, `param ${param.name}`),
              h(
                'dd',
                {},
                param.secret === undefined
                  ? h('code', {}, JSON.stringify(param.value))
                  : secretBadge(param.secret),
              ),
            ]),
          ),
          h('code', { class: 'curl' }, curlFor(trigger)),
        ),
      ),
    )
  document
    .getElementById('domains')!
    .replaceChildren(
      ...(current.domains.length === 0
        ? [h('li', { class: 'muted' }, 'none: every outbound call is blocked')]
        : current.domains.map((domain) => h('li', {}, h('code', {}, domain)))),
    )
  document
    .getElementById('secrets')!
    .replaceChildren(
      ...(current.secrets.length === 0
        ? [h('li', { class: 'muted' }, 'no trigger needs a secret')]
        : current.secrets.map((secret) =>
            h(
              'li',
              {},
              secretBadge(secret.name),
              h('span', { class: 'muted' }, ` used by ${secret.usedBy.join(', ')}`),
            ),
          )),
    )
  document
    .getElementById('functions')!
    .replaceChildren(
      ...current.functions.map((fn) =>
        h(
          'li',
          {},
          h('code', {}, fn.entry),
          ' ',
          h('span', { class: `tag ${fn.build === 'ok' ? 'good' : 'bad'}` }, fn.build),
          fn.error ? h('pre', { class: 'error-text' }, fn.error) : false,
        ),
      ),
    )
  const select = document.getElementById('invoke-trigger') as HTMLSelectElement
  const chosen = select.value
  select.replaceChildren(
    ...current.triggers.map((trigger) => h('option', { value: trigger.name }, trigger.name)),
  )
  if (current.triggers.some((trigger) => trigger.name === chosen)) select.value = chosen
  fillExamplePayload()
  // A host allowed since its call was blocked: its button has done its work.
  for (const button of document.querySelectorAll<HTMLButtonElement>('button.allow')) {
    if (current.domains.includes(button.dataset.host ?? ''))
      button.replaceWith(h('span', { class: 'tag good' }, 'allowed now'))
  }
}

function secretBadge(name: string): HTMLElement {
  const set = state?.secrets.find((secret) => secret.name === name)?.set ?? false
  return h(
    'span',
    { class: `tag ${set ? 'good' : 'bad'}`, title: set ? 'set in the local store' : 'not set' },
    `secret ${name}: ${set ? 'set' : 'missing'}`,
  )
}

function curlFor(trigger: ConsoleTrigger): string {
  return endpointCurl(state?.url ?? '', trigger.name, trigger.examplePayload)
}

/** The payload text the page itself last put in the form: a text the user typed is never replaced. */
let filledPayload = '{}'

/** Puts the chosen trigger's example payload in the form, unless the user has written their own. */
function fillExamplePayload(): void {
  const textarea = document.getElementById('invoke-payload') as HTMLTextAreaElement
  if (textarea.value.trim() !== '' && textarea.value !== filledPayload) return
  const chosen = (document.getElementById('invoke-trigger') as HTMLSelectElement).value
  const example = state?.triggers.find((trigger) => trigger.name === chosen)?.examplePayload
  // An example of null is sent as null, as the curl line sends it.
  filledPayload = JSON.stringify(example === undefined ? {} : example, null, 2)
  textarea.value = filledPayload
}

// ---------------------------------------------------------------------------------------------
// The invocation stream

function renderRecord(record: InvocationRecord): HTMLElement {
  const failed = record.status >= 400
  const running = record.status === 0
  return h(
    'li',
    { class: `card invocation ${failed ? 'failed' : ''}`, id: `inv-${record.requestId}` },
    h(
      'div',
      { class: 'line' },
      h('time', {}, new Date(record.time).toLocaleTimeString()),
      h('strong', {}, record.trigger),
      h(
        'span',
        { class: `tag ${running ? '' : failed ? 'bad' : 'good'}`, 'data-status': String(record.status) },
        running ? 'running' : String(record.status),
      ),
      h('span', { class: 'muted' }, `${record.durationMs} ms / ${record.timeoutMs} ms`),
      record.stale ? h('span', { class: 'tag bad' }, 'stale build') : false,
      h(
        'button',
        {
          type: 'button',
          class: 'replay',
          onClick: () => void invoke(record.trigger, record.payload),
        },
        'Replay',
      ),
    ),
    record.error ? h('p', { class: 'error-text' }, `${record.error.code}: ${record.error.message}`) : false,
    record.error?.stack ? h('pre', { class: 'error-text stack' }, record.error.stack.join('\n')) : false,
    ...record.calls.map((call) =>
      h(
        'div',
        { class: `call ${call.blocked ? 'blocked' : ''}` },
        call.blocked ? '✖ blocked ' : '→ ',
        h('bdi', {}, call.method),
        ' ',
        h('bdi', {}, call.host),
        ' ',
        call.status === undefined ? (call.error?.code ?? '') : String(call.status),
        ` ${call.durationMs} ms`,
        // Only where adding the domain is the fix (not an address refused by policy, nor an IP literal,
        // which needs `--ip`): then the call's fix is a plain `centrali domains add <host>`.
        call.blocked && call.fix === `centrali domains add ${call.host}`
          ? h(
              'button',
              {
                type: 'button',
                class: 'allow',
                'data-host': call.host,
                onClick: () => void allowDomain(call.host),
              },
              `Allow domain ${call.host}`,
            )
          : false,
      ),
    ),
    ...record.logs.map((log) =>
      h('div', { class: `log ${log.level === 'error' ? 'error-text' : ''}` }, `log ${show(log.value)}`),
    ),
    h(
      'details',
      {},
      h('summary', {}, 'payload and result'),
      h('pre', {}, `payload ${showJson(record.payload)}`),
      'result' in record
        ? h(
            'pre',
            { class: 'result' },
            record.resultChars === undefined
              ? `result ${showJson(record.result)}`
              : `result (its first ${String(record.result).length} of ${record.resultChars} characters; the response has it whole) ${String(record.result)}`,
          )
        : false,
    ),
  )
}

function addRecord(record: InvocationRecord): void {
  const list = document.getElementById('stream')!
  const element = renderRecord(record)
  const existing = document.getElementById(`inv-${record.requestId}`)
  if (existing) existing.replaceWith(element)
  else list.prepend(element)
  while (list.children.length > MAX_RECORDS) list.lastElementChild!.remove()
  document.getElementById('stream-empty')!.hidden = true
}

async function invoke(trigger: string, payload: unknown): Promise<void> {
  const { ok, data } = await post('invoke', { trigger, payload })
  if (!ok) return notice(`Could not invoke ${trigger}: ${show(data)}`, 'error')
  // A trigger that no longer exists (Replay after centrali.json dropped it) ran nothing, so no
  // card comes over the stream: the answer is the only place that says so.
  const { error } = data as InvocationRecord
  if (error?.code === 'TRIGGER_NOT_FOUND') notice(`Could not invoke ${trigger}: ${error.message}`, 'error')
}

async function allowDomain(host: string): Promise<void> {
  const { ok, data } = await post('domains', { host })
  notice(
    ok ? `${host} is allowed: centrali.json was updated. Replay the invocation to try again.` : show(data),
    ok ? 'ok' : 'error',
  )
}

// ---------------------------------------------------------------------------------------------
// Wiring

document.getElementById('invoke-trigger')!.addEventListener('change', fillExamplePayload)
document.getElementById('invoke-form')!.addEventListener('submit', (event) => {
  event.preventDefault()
  const trigger = (document.getElementById('invoke-trigger') as HTMLSelectElement).value
  const text = (document.getElementById('invoke-payload') as HTMLTextAreaElement).value
  let payload: unknown
  try {
    payload = text.trim() === '' ? {} : (JSON.parse(text) as unknown)
  } catch (error) {
    notice(`The payload is not JSON: ${(error as Error).message}`, 'error')
    return
  }
  void invoke(trigger, payload)
})

const status = document.getElementById('connection')!
const events = new EventSource(`${api}/events?token=${encodeURIComponent(token)}`)
events.addEventListener('open', () => {
  status.textContent = 'live'
  status.className = 'tag good'
})
events.addEventListener('error', () => {
  status.textContent = 'disconnected: is centrali dev running?'
  status.className = 'tag bad'
})
events.addEventListener('message', (message: MessageEvent<string>) => {
  const event = JSON.parse(message.data) as ConsoleEvent
  if (event.type === 'state') {
    state = event.state
    renderProject()
  } else {
    addRecord(event.record)
  }
})
