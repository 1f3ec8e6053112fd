/**
 * The three parts of undici the egress client uses, imported from their own modules: undici's
 * index loads everything it has (fetch, WebSocket, caches, mocks), which doubled the time of a
 * function's first outbound call. The paths are undici 7's layout; the egress tests exercise each.
 */
import type { Agent as AgentClass, buildConnector as buildConnectorFunction, Dispatcher } from 'undici'
// @ts-expect-error -- a module of undici without type declarations of its own; typed below
import agentModule from 'undici/lib/dispatcher/agent.js'
// @ts-expect-error -- as above
import connectModule from 'undici/lib/core/connect.js'
// @ts-expect-error -- as above
import requestModule from 'undici/lib/api/api-request.js'

export const Agent = agentModule as typeof AgentClass
export type Agent = AgentClass
export const buildConnector = connectModule as typeof buildConnectorFunction
export type Connector = buildConnectorFunction.connector
export type ConnectorOptions = buildConnectorFunction.Options
export type { Dispatcher }

const dispatcherRequest = requestModule as Dispatcher['request']

/** `agent.request(options)` as undici's index would add it to every dispatcher. */
export function request(
  agent: AgentClass,
  options: Dispatcher.RequestOptions,
): Promise<Dispatcher.ResponseData> {
  return dispatcherRequest.call(agent, options) as Promise<Dispatcher.ResponseData>
}
