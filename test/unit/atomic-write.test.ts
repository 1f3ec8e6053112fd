import { describe, it, expect, beforeEach, afterEach } from 'vitest'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { writeFileAtomic } from '../../src/shared/atomic-write.js'

const atomicWriteSource = fileURLToPath(new URL('../../src/shared/atomic-write.ts', import.meta.url))
const projectRoot = fileURLToPath(new URL('../../', import.meta.url))

let tmp: string

beforeEach(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'centrali-'))
})

afterEach(async () => {
  await rm(tmp, { recursive: true, force: true })
})

async function modeOf(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777
}

/** Temporary files writeFileAtomic leaves (or would leave) beside `name`. */
async function temporaryFiles(name: string): Promise<string[]> {
  const pattern = new RegExp(`^\\.${name.replace(/\./g, '\\.')}\\..+\\.tmp$`)
  return (await readdir(tmp)).filter((entry) => pattern.test(entry))
}

describe('writeFileAtomic', () => {
  it('creates a new file with the content and the default mode 0644 (less the umask)', async () => {
    const target = join(tmp, 'new.txt')
    await writeFileAtomic(target, 'hello\n')
    expect(await readFile(target, 'utf8')).toBe('hello\n')
    // What a plain 0644 file gets under this process's umask.
    const control = join(tmp, 'control')
    await writeFile(control, '', { mode: 0o644 })
    expect(await modeOf(target)).toBe(await modeOf(control))
    expect(await temporaryFiles('new.txt')).toEqual([])
  })

  it('writes bytes as given', async () => {
    const target = join(tmp, 'bytes.bin')
    const bytes = new Uint8Array([0, 1, 2, 255, 254, 0x0a, 0])
    await writeFileAtomic(target, bytes)
    expect(new Uint8Array(await readFile(target))).toEqual(bytes)
  })

  it('replaces an existing file whole, including a longer one', async () => {
    const target = join(tmp, 'file.json')
    await writeFile(target, 'x'.repeat(10_000))
    await writeFileAtomic(target, '{"short":true}\n')
    expect(await readFile(target, 'utf8')).toBe('{"short":true}\n')
    expect(await temporaryFiles('file.json')).toEqual([])
  })

  // 0664 and 0666 are common for files shared with a group; the umask must not quietly narrow them.
  it.each(['600', '640', '644', '700', '755', '664', '666'])(
    'an existing file keeps its mode %s',
    async (octal) => {
      const mode = parseInt(octal, 8)
      const target = join(tmp, 'kept.txt')
      await writeFile(target, 'old')
      await chmod(target, mode)
      await writeFileAtomic(target, 'new')
      expect(await readFile(target, 'utf8')).toBe('new')
      expect((await modeOf(target)).toString(8)).toBe(octal)
    },
  )

  it.each([
    { existing: 0o644, mode: 0o600, title: '600 over an existing 644' },
    { existing: 0o600, mode: 0o644, title: '644 over an existing 600' },
    { existing: undefined, mode: 0o600, title: '600 for a new file' },
    { existing: undefined, mode: 0o640, title: '640 for a new file' },
  ])('an explicit mode wins: $title', async ({ existing, mode }) => {
    const target = join(tmp, 'explicit.txt')
    if (existing !== undefined) {
      await writeFile(target, 'old')
      await chmod(target, existing)
    }
    await writeFileAtomic(target, 'new', { mode })
    expect(await readFile(target, 'utf8')).toBe('new')
    expect((await modeOf(target)).toString(8)).toBe(mode.toString(8))
  })

  it('fails without creating anything when the folder does not exist', async () => {
    const target = join(tmp, 'missing', 'file.txt')
    await expect(writeFileAtomic(target, 'x')).rejects.toMatchObject({ code: 'ENOENT' })
    expect(await readdir(tmp)).toEqual([])
  })

  it('removes its temporary file when the final rename fails', async () => {
    const target = join(tmp, 'folder')
    await mkdir(target)
    await writeFile(join(target, 'inside'), 'keep me')
    await expect(writeFileAtomic(target, 'x')).rejects.toThrow()
    expect(await readdir(tmp)).toEqual(['folder'])
    expect(await readFile(join(target, 'inside'), 'utf8')).toBe('keep me')
  })

  it('leaves one complete version when writers race', async () => {
    const target = join(tmp, 'race.txt')
    const contents = Array.from({ length: 12 }, (_, index) =>
      `${index}:`.padEnd(50_000 + index * 1000, 'abc'),
    )
    await Promise.all(contents.map((content) => writeFileAtomic(target, content)))
    expect(contents).toContain(await readFile(target, 'utf8'))
    expect(await temporaryFiles('race.txt')).toEqual([])
  })

  it('keeps the old content when the writer is killed in the middle of writing', async () => {
    const target = join(tmp, 'target.txt')
    await writeFile(target, 'old content')
    const size = 300 * 1024 * 1024
    const script = [
      `const { writeFileAtomic } = await import(${JSON.stringify(pathToFileURL(atomicWriteSource).href)})`,
      `const content = Buffer.alloc(${size}, 0x61)`,
      `await writeFileAtomic(${JSON.stringify(target)}, content)`,
      `process.stdout.write('finished\\n')`,
    ].join('\n')
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '--eval', script], {
      cwd: projectRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
    let running = true
    void exited.then(() => (running = false))

    try {
      let seen: string[] = []
      const deadline = Date.now() + 15_000
      while (running && seen.length === 0 && Date.now() < deadline) {
        seen = await temporaryFiles('target.txt')
        if (seen.length === 0) await new Promise((resolve) => setTimeout(resolve, 2))
      }
      expect(seen, `the writer never created its temporary file; output: ${output}`).toHaveLength(1)
      child.kill('SIGKILL')
      const [code, signal] = await exited
      expect({ code, signal }, `the writer finished before it could be killed; output: ${output}`).toEqual({
        code: null,
        signal: 'SIGKILL',
      })
      expect(output).not.toContain('finished')

      expect(await readFile(target, 'utf8')).toBe('old content')
      // The crash left the half-written temporary file beside the target, never in its place.
      const [temporary] = await temporaryFiles('target.txt')
      expect(temporary).toMatch(/^\.target\.txt\.[0-9a-f]{12}\.tmp$/)
      expect((await stat(join(tmp, temporary!))).size).toBeLessThanOrEqual(size)
    } finally {
      if (running) child.kill('SIGKILL')
      await exited
    }
  }, 20_000)
})
