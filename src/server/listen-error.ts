import { UserError } from '../shared/errors.js'

/**
 * Why `dev` or `serve` could not listen, as an error a person can act on: the port taken or
 * privileged, or a --host that is no address of this machine. Undefined for anything else.
 */
export function describeListenError(error: unknown, host: string, port: number): UserError | undefined {
  switch ((error as NodeJS.ErrnoException).code) {
    case 'EADDRINUSE':
      return new UserError('PORT_IN_USE', `Port ${port} on ${host} is already in use.`, {
        hint: 'Stop what is using it, or pass --port with another port (--port 0 picks a free one).',
      })
    case 'EACCES':
      return new UserError('PORT_NOT_ALLOWED', `Port ${port} needs privileges this process does not have.`, {
        hint: 'Ports below 1024 usually do: pass --port with a higher one (--port 0 picks a free one).',
      })
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
    case 'EADDRNOTAVAIL':
      return new UserError(
        'HOST_INVALID',
        `Cannot listen on ${host}: it is not an address of this machine.`,
        {
          hint: 'Pass --host with one of its addresses: 127.0.0.1 (the default), ::1, or 0.0.0.0 for all of them.',
        },
      )
    default:
      return undefined
  }
}
