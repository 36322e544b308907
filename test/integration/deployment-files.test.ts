import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { parse as parseYaml } from 'yaml'

// The deployment files are checked as text against the code they deploy; nothing here
// imports src/, builds an image or needs Docker.
const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8')

interface Instruction {
  keyword: string
  args: string
}

/** Dockerfile → stages of instructions (comments dropped, continuation lines joined). */
function dockerfileStages(text: string): Instruction[][] {
  const stages: Instruction[][] = []
  const joined = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ')
  for (const line of joined.split('\n')) {
    const match = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line)
    if (!match) continue
    const instruction = { keyword: match[1]!.toUpperCase(), args: match[2]!.trim() }
    if (instruction.keyword === 'FROM') stages.push([])
    stages.at(-1)?.push(instruction)
  }
  return stages
}

/** `KEY=value KEY2=value` (the ENV form this Dockerfile uses) → names. */
const envNames = (args: string) =>
  [...args.matchAll(/(?:^|\s)([A-Z][A-Z0-9_]*)=/g)].map((m) => m[1]!)

/** Variable names declared in config.ts's EnvSchema, the one source of configuration. */
function configVariables(): Set<string> {
  const source = read('src/config.ts')
  const block = /const EnvSchema = Type\.Object\(\{\n([\s\S]*?)\n\}\)/.exec(source)?.[1]
  expect(block, 'EnvSchema block in src/config.ts').toBeDefined()
  return new Set([...block!.matchAll(/^ {2}([A-Z][A-Z0-9_]*):/gm)].map((m) => m[1]!))
}

const stages = dockerfileStages(read('Dockerfile'))
const runtime = stages.at(-1) ?? []
const find = (stage: Instruction[], keyword: string) => stage.filter((i) => i.keyword === keyword)

interface ComposeService {
  image?: string
  build?: unknown
  environment?: Record<string, string>
  depends_on?: Record<string, { condition: string }>
  healthcheck?: { test: string[] }
  stop_grace_period?: string
}
const compose = parseYaml(read('compose.yaml')) as { services: Record<string, ComposeService> }

describe('Dockerfile', () => {
  it('is multi-stage on node 20 bookworm-slim', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2)
    for (const stage of stages) expect(stage[0]!.args).toMatch(/^node:20-bookworm-slim\b/)
  })

  it("starts the image with exactly the command of package.json's start script, in exec form", () => {
    const start = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts
      .start!
    const [cmd, ...others] = find(runtime, 'CMD')
    expect(others).toHaveLength(0)
    // Exec form: node is PID 1 and receives SIGTERM itself (graceful shutdown in main.ts).
    expect(JSON.parse(cmd!.args)).toEqual(start.trim().split(/\s+/))
    expect(find(runtime, 'ENTRYPOINT')).toHaveLength(0)
  })

  it('compiles in the build stage and installs only production dependencies at runtime', () => {
    const buildRuns = stages
      .slice(0, -1)
      .flatMap((s) => find(s, 'RUN'))
      .map((i) => i.args)
    expect(buildRuns.some((r) => /\bnpm ci\b/.test(r))).toBe(true)
    expect(buildRuns.some((r) => /\bnpm run build\b/.test(r))).toBe(true)
    const runtimeRuns = find(runtime, 'RUN').map((i) => i.args)
    expect(runtimeRuns.some((r) => /\bnpm ci\b.*--omit=dev/.test(r))).toBe(true)
  })

  it('ships dist/ and migrations/ side by side, where the migrator looks for them', () => {
    expect(read('src/infra/migrator.ts')).toContain("new URL('../../migrations/', import.meta.url)")
    const copies = find(runtime, 'COPY').map((i) => i.args)
    expect(copies).toContainEqual(expect.stringMatching(/^--from=\w+ \/app\/dist \.\/dist$/))
    expect(copies).toContainEqual('migrations ./migrations')
  })

  it('runs as a non-root user', () => {
    const user = find(runtime, 'USER').at(-1)?.args
    expect(user).toBeDefined()
    expect(user).not.toMatch(/^(root|0)(:|$)/)
  })

  it('checks /healthz with node, on the port it exposes', () => {
    const [healthcheck] = find(runtime, 'HEALTHCHECK')
    const command = JSON.parse(healthcheck!.args.replace(/^.*?\bCMD\s+/, '')) as string[]
    expect(command[0]).toBe('node')
    expect(command.join(' ')).toMatch(/\/healthz['"]/)
    const env = find(runtime, 'ENV')
      .map((i) => i.args)
      .join(' ')
    expect(env).toMatch(/\bPORT=8080\b/)
    expect(find(runtime, 'EXPOSE').map((i) => i.args)).toEqual(['8080'])
  })

  it('sets only variables that config.ts knows, besides NODE_ENV and the AWS SDK switch', () => {
    const known = configVariables()
    const names = find(runtime, 'ENV').flatMap((i) => envNames(i.args))
    expect(names).toEqual(expect.arrayContaining(['DATA_DIR', 'PORT', 'HOST', 'NODE_ENV']))
    const outside = ['NODE_ENV', 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED']
    expect(names.filter((n) => !known.has(n) && !outside.includes(n))).toEqual([])
  })
})

describe('.dockerignore', () => {
  it('keeps local state and secrets out of the build context', () => {
    const entries = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
    for (const entry of ['node_modules', 'dist', 'data', '.git', '.env']) {
      expect(entries).toContain(entry)
    }
  })
})

describe('compose.yaml', () => {
  const satchel = compose.services.satchel!

  it('sets only variables that config.ts knows', () => {
    const known = configVariables()
    const names = Object.keys(satchel.environment ?? {})
    expect(names.length).toBeGreaterThan(0)
    expect(names.filter((n) => !known.has(n))).toEqual([])
  })

  it('takes every secret from the environment, never from the file', () => {
    const env = satchel.environment!
    expect(env.JWT_SECRET).toMatch(/^\$\{JWT_SECRET:\?[^}]+\}$/)
    expect(env.S3_SECRET_ACCESS_KEY).toMatch(/^\$\{\w+:\?[^}]+\}$/)
    expect(env.DATABASE_URL).toMatch(/:\$\{POSTGRES_PASSWORD:\?[^}]+\}@/)
    expect(compose.services.postgres!.environment!.POSTGRES_PASSWORD).toMatch(
      /^\$\{POSTGRES_PASSWORD:\?[^}]+\}$/,
    )
  })

  it('starts Satchel once its dependencies are ready and gives it time to shut down', () => {
    expect(satchel.build).toBeDefined()
    expect(satchel.depends_on).toEqual({
      postgres: { condition: 'service_healthy' },
      redis: { condition: 'service_healthy' },
      'minio-init': { condition: 'service_completed_successfully' },
    })
    for (const name of ['postgres', 'redis', 'minio']) {
      expect(compose.services[name]!.healthcheck?.test.length).toBeGreaterThan(0)
    }
    expect(satchel.stop_grace_period).toBe('30s')
  })

  it('creates the bucket Satchel is configured with', () => {
    const bucket = satchel.environment!.S3_BUCKET!
    const init = JSON.stringify(compose.services['minio-init'])
    expect(init).toContain(`mc mb --ignore-existing local/${bucket}`)
  })
})

describe('docs/deploy-aws.md', () => {
  it('documents every configuration variable', () => {
    const doc = read('docs/deploy-aws.md')
    const rows = new Set([...doc.matchAll(/^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|/gm)].map((m) => m[1]))
    const missing = [...configVariables()].filter((name) => !rows.has(name))
    expect(missing).toEqual([])
  })
})
