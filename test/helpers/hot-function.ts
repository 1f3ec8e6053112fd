// The function the hot-reload tests of dev edit: TypeScript that imports a local module.

/** functions/hot.ts at a version: returns `{ version, label }`, `label` from ./lib. */
export const hotFunction = (version: number) => `import { label } from './lib'

export async function run() {
  const version: number = ${version}
  return { version, label }
}
`

/** functions/lib.ts, the module it imports. */
export const hotLib = (label: string) => `export const label: string = '${label}'\n`
