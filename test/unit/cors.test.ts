import { describe, expect, it } from 'vitest'
import { decideCors, policyForUnknownTrigger, type CorsDecision } from '../../src/server/cors.js'

const APP = 'http://app.example'
const EVIL = 'http://evil.example'
const POST_PREFLIGHT = { method: 'POST', headers: 'content-type' }

function sentHeaders(decision: CorsDecision): Record<string, string> {
  if (decision.allowed !== true) throw new Error(`expected CORS headers, got ${JSON.stringify(decision)}`)
  return decision.headers
}

describe('decideCors: credentials never go with "*"', () => {
  it('gives a credentialed policy with "*" (say, `dev --cors *` on it) "*" without credentials for unlisted origins', () => {
    const policy = { origins: [APP, '*'], credentials: true }
    for (const preflight of [undefined, POST_PREFLIGHT]) {
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
    const headers = sentHeaders(decideCors({ origins: ['*'], credentials: true }, EVIL, undefined))
    expect(headers['access-control-allow-origin']).toBe('*')
    expect(headers).not.toHaveProperty('access-control-allow-credentials')
  })

  it('reflects a listed origin with credentials, and answers "*" alike to all without them', () => {
    const listed = sentHeaders(decideCors({ origins: [APP], credentials: true }, APP, undefined))
    expect(listed).toMatchObject({
      'access-control-allow-origin': APP,
      'access-control-allow-credentials': 'true',
      vary: 'Origin',
    })
    const open = sentHeaders(decideCors({ origins: ['*'] }, EVIL, undefined))
    expect(open['access-control-allow-origin']).toBe('*')
    expect(open).not.toHaveProperty('vary')
  })

  it('a "*" from one trigger and credentials from another: the unknown-trigger policy credits only listed origins', () => {
    const policies = [{ origins: ['*'] }, { origins: [APP], credentials: true }]
    const foreign = sentHeaders(decideCors(policyForUnknownTrigger(policies, EVIL), EVIL, POST_PREFLIGHT))
    expect(foreign['access-control-allow-origin']).toBe('*')
    expect(foreign).not.toHaveProperty('access-control-allow-credentials')
    const listed = sentHeaders(decideCors(policyForUnknownTrigger(policies, APP), APP, POST_PREFLIGHT))
    expect(listed['access-control-allow-origin']).toBe(APP)
    expect(listed['access-control-allow-credentials']).toBe('true')
  })

  it("gives an origin credentials on an unknown trigger only when a trigger gives them to it, not from another trigger's", () => {
    const OTHER = 'http://other.example'
    const policies = [{ origins: [OTHER] }, { origins: [APP], credentials: true }]
    for (const preflight of [undefined, POST_PREFLIGHT]) {
      const other = sentHeaders(decideCors(policyForUnknownTrigger(policies, OTHER), OTHER, preflight))
      expect(other['access-control-allow-origin']).toBe(OTHER)
      expect(other).not.toHaveProperty('access-control-allow-credentials')
      const app = sentHeaders(decideCors(policyForUnknownTrigger(policies, APP), APP, preflight))
      expect(app['access-control-allow-credentials']).toBe('true')
    }
  })
})

describe('decideCors: what a preflight asks for', () => {
  const policy = { origins: [APP], headers: ['X-Custom'] }
  const preflight = (method: string | undefined, headers?: string) =>
    decideCors(policy, APP, { method, headers })

  it('allows the methods and headers the trigger allows, names compared case-insensitively in a spaced comma list', () => {
    for (const headers of [
      undefined,
      '',
      'content-type',
      'Content-Type ,X-CUSTOM',
      ' x-custom,authorization ',
    ]) {
      expect(preflight('POST', headers).allowed, headers).toBe(true)
    }
  })

  it('needs no listing for the CORS-safelisted request headers, and allows them with any value', () => {
    // A browser names them in a preflight only when their value is not the safelisted kind, and
    // then refuses unless they are allowed: so they are, on every trigger.
    const decision = preflight('POST', 'accept, accept-language, content-language, content-type, range')
    expect(decision.allowed).toBe(true)
    expect(sentHeaders(decision)['access-control-allow-headers']).toBe(
      'content-type, authorization, x-request-id, accept, accept-language, content-language, range, x-custom',
    )
  })

  it('refuses a header the trigger does not allow, naming it, and still sends the CORS headers', () => {
    const decision = preflight('POST', 'content-type, X-User-Token')
    expect(decision).toMatchObject({
      allowed: false,
      refusal: {
        refused: 'headers',
        headers: ['x-user-token'],
        reason: expect.stringContaining(`the preflight from ${APP} asks to send the header x-user-token`),
      },
    })
    // What the browser needs to say which header it lacks: the origin allowed, the headers listed.
    expect(decision.allowed === false && decision.headers).toMatchObject({
      'access-control-allow-origin': APP,
      'access-control-allow-methods': 'POST, OPTIONS',
    })
    expect(decision.allowed === false && decision.headers['access-control-allow-headers']).not.toContain(
      'x-user-token',
    )
    const two = preflight('POST', 'x-a,x-custom, x-b')
    expect(two.allowed === false && two.refusal).toMatchObject({
      headers: ['x-a', 'x-b'],
      reason: expect.stringContaining('asks to send the headers x-a, x-b, which this trigger does not allow'),
    })
  })

  it('refuses a method other than POST that a browser would need allowed, naming it', () => {
    for (const method of ['PUT', 'DELETE', 'PATCH', 'patch']) {
      const decision = preflight(method, 'content-type')
      expect(decision.allowed === false && decision.refusal, method).toEqual({
        refused: 'method',
        method,
        reason: `the preflight from ${APP} asks for ${method}; endpoints take POST only`,
      })
      expect(decision.allowed === false && decision.headers['access-control-allow-origin']).toBe(APP)
    }
    // CORS-safelisted methods pass a preflight without being allowed; the request then reads 405.
    for (const method of ['GET', 'HEAD', 'POST', undefined])
      expect(preflight(method).allowed, method).toBe(true)
  })

  it('a "*" among the headers allows any header, except to a request with credentials', () => {
    expect(
      decideCors({ origins: [APP], headers: ['*'] }, APP, { method: 'POST', headers: 'x-any' }).allowed,
    ).toBe(true)
    const credentialed = decideCors({ origins: [APP], headers: ['*'], credentials: true }, APP, {
      method: 'POST',
      headers: 'x-any',
    })
    expect(credentialed.allowed === false && credentialed.refusal.refused).toBe('headers')
  })

  it('an origin that is not allowed gets no CORS headers at all, whatever it asks for', () => {
    const decision = decideCors(policy, EVIL, { method: 'PUT', headers: 'x-user-token' })
    expect(decision).toEqual({
      allowed: false,
      refusal: { refused: 'origin', reason: expect.stringContaining(EVIL) },
      headers: {},
    })
  })
})
