/** Secret names, as in `{ "secret": "OPENAI_API_KEY" }`: what an environment variable could be called. */
export const SECRET_NAME_PATTERN = /^[A-Z_][A-Z0-9_]*$/
