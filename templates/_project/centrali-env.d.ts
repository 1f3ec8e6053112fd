// Types of the globals a centrali function sees at run time (DESIGN §2). Written by `centrali init`
// so your editor knows them without installing anything. The sandbox has exactly these globals:
// no `process`, `require`, `fetch`, file system or sockets; `api` is the only door to the outside.

type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue }

/** What the caller of the endpoint sent, and about the request. Frozen. */
declare const executionParams: Readonly<{
  /** The `payload` of the request body: `{ "payload": ... }`. Validate it before use. */
  payload: unknown
  method: string
  path: string
  query: Readonly<Record<string, string>>
  headers: Readonly<Record<string, string>>
  requestId: string
}>

/** The trigger's `params` from centrali.json; secrets arrive decrypted. Frozen. */
declare const triggerParams: Readonly<Record<string, string | number | boolean | null | undefined>>

interface CentraliRequestOptions {
  headers?: Record<string, string>
  /** Bounded by what is left of the invocation's timeout. */
  timeoutMs?: number
}

interface CentraliResponse<T = unknown> {
  status: number
  headers: Record<string, string>
  body: T
}

/** Thrown by the api.http* helpers when the upstream answers outside 2xx. */
interface HttpError extends Error {
  status: number
  statusText: string
  headers: Record<string, string>
  /** The parsed response body (JSON when the response says so, else text). */
  body: unknown
}

/** Thrown when a call goes to a host that is not in centrali.json "domains". */
interface EgressBlockedError extends Error {
  code: string
  host: string
}

declare const api: {
  httpGet<T = unknown>(url: string, options?: CentraliRequestOptions): Promise<T>
  httpDelete<T = unknown>(url: string, options?: CentraliRequestOptions): Promise<T>
  /** A plain object is sent as JSON; a string is sent as is (set its Content-Type). */
  httpPost<T = unknown>(url: string, body: unknown, options?: CentraliRequestOptions): Promise<T>
  httpPut<T = unknown>(url: string, body: unknown, options?: CentraliRequestOptions): Promise<T>
  httpPatch<T = unknown>(url: string, body: unknown, options?: CentraliRequestOptions): Promise<T>
  /** Never rejects on a status: branch on `status` yourself. */
  request<T = unknown>(
    method: string,
    url: string,
    options?: CentraliRequestOptions & { body?: unknown },
  ): Promise<CentraliResponse<T>>
  log(value: unknown): void
  logError(value: unknown): void
}

declare function setTimeout(callback: () => void, ms?: number): number
declare function clearTimeout(id: number | undefined): void
declare function setInterval(callback: () => void, ms?: number): number
declare function clearInterval(id: number | undefined): void
declare function btoa(data: string): string
declare function atob(data: string): string
declare function structuredClone<T>(value: T): T

declare class URLSearchParams {
  constructor(init?: string | Record<string, string> | [string, string][] | URLSearchParams)
  append(name: string, value: string): void
  delete(name: string): void
  get(name: string): string | null
  getAll(name: string): string[]
  has(name: string): boolean
  set(name: string, value: string): void
  sort(): void
  forEach(callback: (value: string, name: string) => void): void
  entries(): IterableIterator<[string, string]>
  keys(): IterableIterator<string>
  values(): IterableIterator<string>
  readonly size: number
  toString(): string
  [Symbol.iterator](): IterableIterator<[string, string]>
}

declare class URL {
  constructor(url: string, base?: string | URL)
  static canParse(url: string, base?: string): boolean
  hash: string
  host: string
  hostname: string
  href: string
  readonly origin: string
  password: string
  pathname: string
  port: string
  protocol: string
  search: string
  readonly searchParams: URLSearchParams
  username: string
  toString(): string
  toJSON(): string
}

declare class TextEncoder {
  readonly encoding: string
  encode(input?: string): Uint8Array
}

declare class TextDecoder {
  constructor(label?: string, options?: { fatal?: boolean; ignoreBOM?: boolean })
  readonly encoding: string
  decode(input?: ArrayBuffer | ArrayBufferView, options?: { stream?: boolean }): string
}
