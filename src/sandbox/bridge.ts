import type { EgressClient } from '../egress/client.js'
import type { CallHandler } from './pool.js'
import { parseResponseText } from './api-values.js'
import type { BridgeResponse } from './protocol.js'

/**
 * The host end of `api.*`: hands a function's call to the egress guard and turns the answer into
 * what the function sees: the body parsed as JSON when the response says it is JSON, else text.
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
      body: parseBody(response.body, response.headers['content-type']),
    } satisfies BridgeResponse
  }
}

export function parseBody(bytes: Uint8Array, contentType: string | undefined): unknown {
  return parseResponseText(new TextDecoder().decode(bytes), contentType)
}
