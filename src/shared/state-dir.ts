/**
 * A project's git-ignored folder of centrali's own state: the secrets store, the build cache, the
 * editor's JSON Schema and what `deploy` sent.
 */
export const STATE_DIR = '.centrali'
