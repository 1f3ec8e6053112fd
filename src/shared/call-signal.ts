/**
 * The abort signal of one outbound call. undici, undici's body `dump()` and `stream.pipeline()`
 * accept any object with `aborted`, `reason` and add/removeEventListener('abort'); an
 * AbortController (an EventTarget) costs several times more to make and to listen to, and every
 * call made two of them. Listeners are called at most once, with no event.
 */
export interface AbortSource {
  readonly aborted: boolean
  readonly reason: unknown
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void
  removeEventListener(type: 'abort', listener: () => void): void
}

export class CallSignal implements AbortSource {
  aborted = false
  reason: unknown = undefined
  private listeners: (() => void)[] = []

  addEventListener(_type: 'abort', listener: () => void): void {
    if (!this.aborted) this.listeners.push(listener)
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const index = this.listeners.indexOf(listener)
    if (index !== -1) this.listeners.splice(index, 1)
  }

  throwIfAborted(): void {
    if (this.aborted) throw this.reason
  }

  abort(reason: unknown = new Error('aborted')): void {
    if (this.aborted) return
    this.aborted = true
    this.reason = reason
    for (const listener of this.listeners.splice(0)) listener()
  }
}

/** For APIs typed AbortSignal that only read what a CallSignal has (see above). */
export function asAbortSignal(signal: CallSignal): AbortSignal {
  return signal as unknown as AbortSignal
}
