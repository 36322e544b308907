import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { buildTestApp } from '../helpers/build-test-app.js'

// `redocly lint` on the document the server serves, with the repository's redocly.yaml.
const root = fileURLToPath(new URL('../../', import.meta.url))
const t = await buildTestApp()
const document = (await t.app.inject({ url: '/openapi.json' })).json()
const dir = await mkdtemp(join(tmpdir(), 'satchel-openapi-'))
afterAll(async () => {
  await t.close()
  await rm(dir, { recursive: true, force: true })
})

interface LintProblem {
  ruleId: string
  severity: 'error' | 'warn'
  message: string
  location: { pointer: string }[]
}

async function lint(): Promise<LintProblem[]> {
  const file = join(dir, 'openapi.json')
  await writeFile(file, JSON.stringify(document, null, 2))
  const args = ['lint', file, '--config', join(root, 'redocly.yaml'), '--format=json']
  const run = promisify(execFile)(join(root, 'node_modules/.bin/redocly'), args, {
    env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
    maxBuffer: 64 * 1024 * 1024,
  })
  // It exits 1 when it finds errors; the report is on stdout either way.
  const { stdout } = await run.catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }))
  return (JSON.parse(stdout) as { problems: LintProblem[] }).problems
}

type Operation = { responses: Record<string, { content?: Record<string, unknown> }> } & Record<
  string,
  unknown
>
const operations = Object.entries(
  document.paths as Record<string, Record<string, Operation>>,
).flatMap(([path, item]) =>
  Object.entries(item).map(([method, op]) => ({ name: `${method.toUpperCase()} ${path}`, op })),
)

describe('/openapi.json', () => {
  it('passes redocly lint with no error and no warning', { timeout: 60_000 }, async () => {
    const problems = await lint()
    const lines = problems.map(
      (p) => `${p.severity} ${p.ruleId} ${p.location[0]?.pointer}: ${p.message}`,
    )
    expect(lines).toEqual([])
  })

  // What the rules redocly.yaml turns off would check, with the exceptions that are real.
  it('declares a 2xx for every operation but the WebSocket (101)', () => {
    const without = operations
      .filter(({ op }) => !Object.keys(op.responses).some((status) => status.startsWith('2')))
      .map(({ name }) => name)
    expect(without).toEqual(['GET /ws'])
  })

  it('declares a 4xx for every operation but the probes', () => {
    const without = operations
      .filter(({ op }) => !Object.keys(op.responses).some((status) => status.startsWith('4')))
      .map(({ name }) => name)
    expect(without.sort()).toEqual(['GET /healthz', 'GET /readyz'])
  })

  it('gives every error the one problem+json schema', () => {
    const off = operations.flatMap(({ name, op }) =>
      Object.entries(op.responses)
        .filter(([status, response]) => Number(status) >= 400 && response.content)
        .filter(([, response]) => {
          const media = response.content?.['application/problem+json'] as { schema?: unknown }
          return (media?.schema as { $ref?: string })?.$ref !== '#/components/schemas/Problem'
        })
        .map(([status]) => `${name} ${status}`),
    )
    expect(off).toEqual([])
  })

  it('marks query parameters with a default optional, as the server takes them', () => {
    const required = operations.flatMap(({ name, op }) =>
      ((op.parameters ?? []) as { in: string; name: string; required?: boolean }[])
        .filter((p) => p.in === 'query' && p.required)
        .map((p) => `${name} ${p.name}`),
    )
    expect(required).toEqual(['GET /ws ticket'])
  })

  it('describes the upload as a multipart form with binary file parts, for /docs', () => {
    const upload = document.paths['/upload'].post
    const schema = upload.requestBody.content['multipart/form-data'].schema
    expect(schema.properties.file.items).toEqual({ type: 'string', format: 'binary' })
    expect(schema.required).toEqual(['file'])
  })

  it('says in the security scheme how to get a token and how long it lives', () => {
    const scheme = document.components.securitySchemes.bearerAuth
    expect(scheme.description).toContain('POST /login')
    expect(scheme.description).toContain('POST /token/refresh')
    expect(scheme.description).toContain(`${t.config.accessTokenTtlSeconds} here`)
  })
})
