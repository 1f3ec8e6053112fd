/** The longest secret name, here, in centrali.json and on a runtime (`centrali serve` refuses longer). */
export const MAX_SECRET_NAME_LENGTH = 128

/**
 * Secret names, as in `{ "secret": "OPENAI_API_KEY" }`: what an environment variable could be
 * called, at most MAX_SECRET_NAME_LENGTH characters.
 */
export const SECRET_NAME_PATTERN = new RegExp(`^[A-Z_][A-Z0-9_]{0,${MAX_SECRET_NAME_LENGTH - 1}}$`)
