/**
 * Records keyed by a numeric id, for a table that lives as long as the process while its entries
 * come and go by the thousand per second (the invocations in flight).
 *
 * Not a Map: when V8 rebuilds a Map's hash table (as deletes pile up) the old table keeps its
 * entries and a link to the new one. Once the table of a long-lived Map has reached the old
 * generation, that chain keeps every later table, and every record any of them held, alive through
 * young collections until the next full one. Under `dev`'s load test the pool's table of
 * invocations promoted 3% of all the main thread allocated (1-1.5 KB per request) and doubled or
 * tripled its young-collection pauses (BENCHMARKS.md). The dictionary of a plain object keeps no
 * such link.
 */
export class IdTable<T> {
  #entries: Record<number, T> = Object.create(null) as Record<number, T>
  #size = 0

  get size(): number {
    return this.#size
  }

  get(id: number): T | undefined {
    return this.#entries[id]
  }

  has(id: number): boolean {
    return id in this.#entries
  }

  set(id: number, value: T): void {
    if (!(id in this.#entries)) this.#size += 1
    this.#entries[id] = value
  }

  /** Whether the id was there. */
  delete(id: number): boolean {
    if (!(id in this.#entries)) return false
    delete this.#entries[id]
    this.#size -= 1
    return true
  }

  values(): T[] {
    return Object.values(this.#entries)
  }
}
