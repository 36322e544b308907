import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { buildTestApp } from '../helpers/build-test-app.js'

// Runs the README's "API by example" literally: every ```sh block of that section, in
// order, in one bash session, against a listening app, each checked against the ```text
// block after it (what the README says it prints; "…" stands for any text). A block with
// no such block must print nothing. Blocks added to the section later run too.

const root = fileURLToPath(new URL('../../', import.meta.url))

interface Example {
  script: string
  expected?: string
}

function examples(readme: string): Example[] {
  const start = readme.indexOf('\n## API by example\n')
  expect(start, 'a "## API by example" section in README.md').toBeGreaterThan(-1)
  const end = readme.indexOf('\n## ', start + 1)
  const section = readme.slice(start, end === -1 ? undefined : end)
  const fences = [...section.matchAll(/^```(\w*)\n([\s\S]*?)^```\n?/gm)]
  return fences.flatMap((fence, i) => {
    if (fence[1] !== 'sh') return []
    const next = fences[i + 1]
    const adjacent =
      next?.[1] === 'text' &&
      section.slice(fence.index! + fence[0].length, next.index).trim() === ''
    return [{ script: fence[2]!, expected: adjacent ? next[2] : undefined }]
  })
}

/** The expected text as a pattern: literal, but "…" matches anything. */
function matches(actual: string, expected: string): boolean {
  const pattern = expected
    .trimEnd()
    .split('…')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('[\\s\\S]*?')
  return new RegExp(`^${pattern}$`).test(actual.trimEnd())
}

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

const port = await freePort()
const base = `http://127.0.0.1:${port}`
// The links Satchel hands out (file urls, share links) must point where the examples call.
const t = await buildTestApp({ PUBLIC_BASE_URL: base })
await t.app.listen({ port, host: '127.0.0.1' })
const work = await mkdtemp(join(tmpdir(), 'satchel-readme-'))
afterAll(async () => {
  await t.close()
  await rm(work, { recursive: true, force: true })
})

// Read at collection, so each block is a test of its own below.
const blocks = examples(await readFile(join(root, 'README.md'), 'utf8'))

describe('README: API by example', () => {
  let run: Promise<{ code: number; failed?: number; stderr: string }> | undefined

  /** Runs every block once, each block's output to its own file; stops at the first failure. */
  const runAll = async () => {
    const parts = blocks.map(
      (block, i) =>
        `echo ${i} > "$WORK/current"\n{\n${block.script}\n} > "$WORK/${i}.out" 2> "$WORK/${i}.err"\n`,
    )
    const script = join(work, 'examples.sh')
    await writeFile(script, `set -euo pipefail\n${parts.join('')}echo done > "$WORK/current"\n`)
    const env = {
      ...process.env,
      BASE: base,
      WORK: work,
      // The WebSocket example requires `ws`, a dev dependency, as it would in the repository.
      NODE_PATH: join(root, 'node_modules'),
      PATH: `${dirname(process.execPath)}:${process.env.PATH}`,
    }
    const code = await new Promise<number>((resolve) => {
      execFile('bash', [script], { cwd: work, env, timeout: 60_000 }, (err) =>
        resolve(err ? ((err as { code?: number }).code ?? 1) : 0),
      )
    })
    const current = (await readFile(join(work, 'current'), 'utf8')).trim()
    const failed = current === 'done' ? undefined : Number(current)
    const stderr =
      failed === undefined
        ? ''
        : await readFile(join(work, `${failed}.err`), 'utf8').catch(() => '')
    return { code, failed, stderr }
  }

  it('has examples, each saying what it prints', () => {
    expect(blocks.length).toBeGreaterThan(10)
  })

  it.each(blocks.map((block, i) => [i, block.script.split('\n')[0], block] as const))(
    'block %i (%s) exits 0 and prints what the README shows',
    { timeout: 90_000 },
    async (i, _title, block) => {
      run ??= runAll()
      const { code, failed, stderr } = await run
      if (failed !== undefined && failed <= i) {
        expect.fail(`block ${failed} failed (exit ${code}) before block ${i} finished: ${stderr}`)
      }
      const output = await readFile(join(work, `${i}.out`), 'utf8')
      if (block.expected === undefined) expect(output, 'prints nothing').toBe('')
      else expect(matches(output, block.expected), `printed:\n${output}`).toBe(true)
    },
  )
})
