import { describe, expect, it } from 'vitest'
import { decideCors, policyForUnknownTrigger, type CorsDecision } from '../../src/server/cors.js'

const APP = 'http://app.example'
const EVIL = 'http://evil.example'

function sentHeaders(decision: CorsDecision): Record<string, string> {
  if (decision.allowed !== true) throw new Error(`expected CORS headers, got ${JSON.stringify(decision)}`)
  return decision.headers
}

describe('decideCors: credentials never go with "*"', () => {
  it('gives a credentialed policy with "*" (say, `dev --cors *` on it) "*" without credentials for unlisted origins', () => {
    const policy = { origins: [APP, '*'], credentials: true }
    for (const preflight of [false, true]) {
      const foreign = sentHeaders(decideCors(policy, EVIL, preflight))
      expect(foreign['access-control-allow-origin']).toBe('*')
      expect(foreign).not.toHaveProperty('access-control-allow-credentials')
      // The listed origin keeps its credentials, so the answer varies with the Origin.
      const listed = sentHeaders(decideCors(policy, APP, preflight))
      expect(listed['access-control-allow-origin']).toBe(APP)
      expect(listed['access-control-allow-credentials']).toBe('true')
      expect(listed.vary).toBe('Origin')
      expect(foreign.vary).toBe('Origin')
    }
  })

  it('never reflects an origin with credentials for a policy of "*" alone', () => {
    const headers = sentHeaders(decideCors({ origins: ['*'], credentials: true }, EVIL, false))
    expect(headers['access-control-allow-origin']).toBe('*')
    expect(headers).not.toHaveProperty('access-control-allow-credentials')
  })

  it('reflects a listed origin with credentials, and answers "*" alike to all without them', () => {
    const listed = sentHeaders(decideCors({ origins: [APP], credentials: true }, APP, false))
    expect(listed).toMatchObject({
      'access-control-allow-origin': APP,
      'access-control-allow-credentials': 'true',
      vary: 'Origin',
    })
    const open = sentHeaders(decideCors({ origins: ['*'] }, EVIL, false))
    expect(open['access-control-allow-origin']).toBe('*')
    expect(open).not.toHaveProperty('vary')
  })

  it('a "*" from one trigger and credentials from another: the unknown-trigger policy credits only listed origins', () => {
    const policy = policyForUnknownTrigger([{ origins: ['*'] }, { origins: [APP], credentials: true }])
    const foreign = sentHeaders(decideCors(policy, EVIL, true))
    expect(foreign['access-control-allow-origin']).toBe('*')
    expect(foreign).not.toHaveProperty('access-control-allow-credentials')
    const listed = sentHeaders(decideCors(policy, APP, true))
    expect(listed['access-control-allow-origin']).toBe(APP)
    expect(listed['access-control-allow-credentials']).toBe('true')
  })
})
