import { execFileSync } from 'node:child_process'
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

/** The exact Node version .ci/run installs and runs the suite on. */
const ciNodeVersion = /^NODE_VERSION=(\d+)\.\d+\.\d+$/m.exec(read('.ci/run'))
const compose = parseYaml(read('compose.yaml')) as { services: Record<string, ComposeService> }

describe('Dockerfile', () => {
  it("is multi-stage on the Node major that CI tests (.ci/run's NODE_VERSION)", () => {
    expect(ciNodeVersion, 'NODE_VERSION=x.y.z in .ci/run').not.toBeNull()
    expect(stages.length).toBeGreaterThanOrEqual(2)
    for (const stage of stages) {
      expect(stage[0]!.args).toMatch(new RegExp(`^node:${ciNodeVersion![1]}-bookworm-slim\\b`))
    }
  })

  it('targets a Node that package.json engines admits', () => {
    const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines
    const minimum = /^>=(\d+)$/.exec(engines.node)
    expect(minimum, `engines.node ${engines.node} in the form >=N`).not.toBeNull()
    expect(Number(ciNodeVersion![1])).toBeGreaterThanOrEqual(Number(minimum![1]))
  })

  it("starts the image with exactly the command of package.json's start script, in exec form", () => {
    const start = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts
      .start!
    const [cmd, ...others] = find(runtime, 'CMD')
    expect(others).toHaveLength(0)
    // Exec form: node is PID 1 and receives SIGTERM itself (graceful shutdown in main.ts).
    // The script's `exec` does the same under npm: the shell npm starts becomes node.
    expect(start).toMatch(/^exec node /)
    const command = start
      .replace(/^exec /, '')
      .trim()
      .split(/\s+/)
    expect(JSON.parse(cmd!.args)).toEqual(command)
    expect(find(runtime, 'ENTRYPOINT')).toHaveLength(0)
  })

  it("tells those who run the build another way the start script's node flags", () => {
    const start = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts
      .start!
    const flags = start.split(/\s+/).filter((word) => word.startsWith('--'))
    const speedFlags = flags.filter((flag) => flag !== '--enable-source-maps').join(' ')
    const named = `the same node flags as \`npm start\`: \`${speedFlags}\``
    expect(read('README.md').replace(/\s+/g, ' ').includes(named), named).toBe(true)
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

  it('sets only variables that config.ts knows, besides NODE_ENV', () => {
    const known = configVariables()
    const names = find(runtime, 'ENV').flatMap((i) => envNames(i.args))
    expect(names).toEqual(expect.arrayContaining(['DATA_DIR', 'PORT', 'HOST', 'NODE_ENV']))
    expect(names.filter((n) => !known.has(n) && n !== 'NODE_ENV')).toEqual([])
  })
})

describe('tsconfig.build.json', () => {
  it('compiles product code only: no test file lands in dist/ (and the image)', () => {
    const tsc = new URL('../../node_modules/typescript/bin/tsc', import.meta.url).pathname
    const root = new URL('../../', import.meta.url).pathname
    const shown = execFileSync(
      process.execPath,
      [tsc, '-p', 'tsconfig.build.json', '--showConfig'],
      {
        cwd: root,
        encoding: 'utf8',
      },
    )
    const files = (JSON.parse(shown) as { files: string[] }).files
    expect(files).toContain('./src/main.ts')
    expect(files.filter((f) => !f.startsWith('./src/') || /\.test\.ts$/.test(f))).toEqual([])
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
    expect(compose.services.garage!.environment!.GARAGE_RPC_SECRET).toMatch(
      /^\$\{GARAGE_RPC_SECRET:\?[^}]+\}$/,
    )
  })

  it('pins every image to an explicit version', () => {
    const images = Object.entries(compose.services)
      .filter(([, service]) => !service.build)
      .map(([name, service]) => [name, service.image ?? ''])
    expect(images.length).toBeGreaterThanOrEqual(3)
    for (const [name, image] of images) {
      // A tag after the last '/', naming a version (a digit), never 'latest'.
      const tag = /:([^/:@]+)(?:@sha256:[0-9a-f]{64})?$/.exec(image!)?.[1] ?? ''
      expect(tag, `${name}: ${image}`).toMatch(/\d/)
      expect(tag, `${name}: ${image}`).not.toMatch(/latest/)
    }
  })

  it('starts Satchel once its dependencies accept connections, and gives it time to shut down', () => {
    expect(satchel.build).toBeDefined()
    expect(satchel.depends_on).toEqual({
      postgres: { condition: 'service_healthy' },
      redis: { condition: 'service_healthy' },
      garage: { condition: 'service_healthy' },
    })
    // Over TCP: the image's initdb phase serves the Unix socket only.
    expect(compose.services.postgres!.healthcheck!.test).toEqual(
      expect.arrayContaining(['pg_isready', '-h', '127.0.0.1']),
    )
    expect(compose.services.redis!.healthcheck!.test).toEqual(
      expect.arrayContaining(['redis-cli', '-h', '127.0.0.1', 'ping']),
    )
    expect(compose.services.garage!.healthcheck!.test.length).toBeGreaterThan(0)
    // The grace main.ts gives in-flight requests, plus its 10 s to let go, fits before SIGKILL.
    const grace = /SHUTDOWN_GRACE_SECONDS: Int\(\d+, (\d+),/.exec(read('src/config.ts'))
    expect(grace, 'SHUTDOWN_GRACE_SECONDS default in src/config.ts').not.toBeNull()
    expect(Number.parseInt(satchel.stop_grace_period ?? '', 10)).toBeGreaterThan(
      Number(grace![1]) + 10,
    )
  })

  it('creates the bucket and key Satchel is configured with', () => {
    const env = satchel.environment!
    const garage = compose.services.garage!.environment!
    expect(garage.GARAGE_DEFAULT_BUCKET).toBe(env.S3_BUCKET)
    const variable = (value?: string) => /^\$\{(\w+):/.exec(value ?? '')?.[1]
    expect(variable(garage.GARAGE_DEFAULT_ACCESS_KEY)).toBe(variable(env.S3_ACCESS_KEY_ID))
    expect(variable(garage.GARAGE_DEFAULT_SECRET_KEY)).toBe(variable(env.S3_SECRET_ACCESS_KEY))
    expect(env.S3_ENDPOINT).toBe('http://garage:3900')
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

describe('README.md', () => {
  it('gives every configuration variable a row with its default', () => {
    const readme = read('README.md')
    const section = readme.slice(readme.indexOf('\n## Configuration\n'))
    const table = section.slice(0, section.indexOf('\n## ', 1))
    const defaults = new Map<string, string>()
    for (const row of table.matchAll(/^\|([^|]*)\|([^|]*)\|/gm)) {
      // A row may name several variables that share a default ("`S3_PART_SIZE_MB`, `S3_QUEUE_SIZE`").
      for (const name of row[1]!.matchAll(/`([A-Z][A-Z0-9_]*)`/g)) {
        defaults.set(name[1]!, row[2]!.trim())
      }
    }
    const missing = [...configVariables()].filter((name) => !defaults.get(name))
    expect(missing).toEqual([])
  })
})
