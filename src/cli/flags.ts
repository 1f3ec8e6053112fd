import * as Flags from '@oclif/core/flags'

/** Flags shared by the commands that talk to a deploy target (deploy, versions, rollback, secrets push). */
export const targetFlag = Flags.string({
  char: 't',
  description:
    'Target from "targets" in centrali.json (default: the one named "default", else the only one).',
})

export const confirmFlag = (what: string) =>
  Flags.boolean({ char: 'y', description: `${what} without asking (required without a terminal).` })
