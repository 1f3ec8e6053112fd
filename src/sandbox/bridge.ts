import type { EgressClient } from '../egress/client.js'
import type { CallHandler } from './pool.js'
import type { BridgeResponse } from './protocol.js'

/**
 * The host end of `api.*`: hands a function's call to the egress guard and passes the answer on,
 * its body as text (the worker parses it).
 */
export type OutboundClient = Pick<EgressClient, 'request'>

export function createCallHandler(client: OutboundClient): CallHandler {
  return async (request, { deadline, signal }) => {
    const response = await client.request({
      method: request.method,
      url: request.url,
      headers: request.headers,
      ...(request.body === undefined ? {} : { body: request.body }),
      deadline,
      signal,
    })
    return {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
      text: utf8.decode(response.body),
    } satisfies BridgeResponse
  }
}

const utf8 = new TextDecoder()
