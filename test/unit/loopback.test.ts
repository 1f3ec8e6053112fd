import { describe, expect, it } from 'vitest'
import { consoleHost } from '../../src/dev/console.js'
import { isLoopbackHost } from '../../src/shared/loopback.js'

describe('isLoopbackHost', () => {
  it('is true for all of 127.0.0.0/8, ::1 and localhost, in any case, and for nothing else', () => {
    for (const host of [
      '127.0.0.1',
      '127.0.0.2',
      '127.255.255.254',
      '::1',
      'localhost',
      'LOCALHOST',
      '::ffff:127.0.0.1',
    ])
      expect(isLoopbackHost(host), host).toBe(true)
    for (const host of [
      '0.0.0.0',
      '::',
      '10.0.0.1',
      '192.168.1.5',
      '128.0.0.1',
      '127.example.com',
      '::ffff:10.0.0.1',
      '',
    ])
      expect(isLoopbackHost(host), host).toBe(false)
  })
})

describe('consoleHost', () => {
  it('is the listen address as a URL writes it, or 127.0.0.1 when dev listens on every address', () => {
    expect(consoleHost('0.0.0.0')).toBe('127.0.0.1')
    expect(consoleHost('::')).toBe('127.0.0.1')
    expect(consoleHost('127.0.0.2')).toBe('127.0.0.2')
    expect(consoleHost('::1')).toBe('[::1]')
    expect(consoleHost('192.168.1.5')).toBe('192.168.1.5')
    expect(consoleHost('LocalHost')).toBe('localhost')
  })
})
