import { describe, expect, it } from 'vitest'
import { IdTable } from '../../src/shared/id-table.js'

describe('IdTable', () => {
  it('sets, gets, counts and deletes by id', () => {
    const table = new IdTable<string>()
    table.set(1, 'one')
    table.set(2, 'two')
    table.set(2, 'two again')
    expect(table.size).toBe(2)
    expect(table.get(2)).toBe('two again')
    expect(table.has(1)).toBe(true)
    expect(table.delete(1)).toBe(true)
    expect(table.delete(1)).toBe(false)
    expect(table.has(1)).toBe(false)
    expect(table.get(1)).toBeUndefined()
    expect(table.size).toBe(1)
    expect(table.values()).toEqual(['two again'])
  })

  it('holds only what is in it while ids keep growing and old ones leave', () => {
    const table = new IdTable<{ id: number }>()
    for (let id = 0; id < 100_000; id += 1) {
      table.set(id, { id })
      if (id >= 10) table.delete(id - 10)
    }
    expect(table.size).toBe(10)
    expect(table.values().map((entry) => entry.id)).toEqual([
      99_990, 99_991, 99_992, 99_993, 99_994, 99_995, 99_996, 99_997, 99_998, 99_999,
    ])
  })
})
