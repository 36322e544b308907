import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { buildApp } from '../../src/app.js'
import { parseConfig } from '../../src/config.js'
import { MemoryEventBus } from '../../src/events/memory-event-bus.js'
import { openDatabase } from '../../src/infra/db.js'
import { createLogger } from '../../src/infra/logger.js'
import type { DB } from '../../src/schema.js'
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.js'
import { TEST_JWT_SECRET } from '../helpers/build-test-app.js'
import { createTestDatabase } from '../helpers/databases.js'
import { freePort, runMain, type ServerProcess, startServer } from '../helpers/server-process.js'

let dataDir: string
beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'satchel-process-'))
})
afterAll(() => rm(dataDir, { recursive: true, force: true }))

async function postJson(url: string, body: unknown) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

async function waitForOutput(server: ServerProcess, text: string, ms = 10_000) {
  const deadline = Date.now() + ms
  while (!server.output().includes(text)) {
    if (Date.now() > deadline) throw new Error(`no "${text}" in:\n${server.output()}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

describe('configuration', () => {
  it.each([
    ['PORT', { PORT: 'eighty' }],
    ['STORAGE_DRIVER', { STORAGE_DRIVER: 'floppy' }],
    ['MAX_UPLOAD_BYTES', { MAX_UPLOAD_BYTES: '-5' }],
    ['JWT_SECRET', { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres' }],
  ])('a bad %s exits non-zero with one line naming it', async (name, env) => {
    const { exited, output } = runMain({ DATA_DIR: dataDir, ...env })
    expect(await exited).not.toBe(0)
    const lines = output().trim().split('\n')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain(name)
  })

  it('parses defaults', () => {
    const config = parseConfig({})
    expect(config).toMatchObject({
      port: 8080,
      host: '0.0.0.0',
      dataDir: './data',
      logLevel: 'info',
    })
    expect(config.publicBaseUrl).toBe('http://localhost:8080')
  })
})

describe('the embedded mode (PGlite, no database server)', () => {
  it('starts with no configuration, serves register and login, keeps its JWT secret, and stops on SIGTERM', async () => {
    // PGlite's first open of a data directory takes seconds, many more on a loaded machine.
    const server = await startServer({ DATA_DIR: dataDir }, 120_000)
    try {
      expect(server.output()).toContain('"database":"pglite"')
      const reg = await postJson(`${server.url}/register`, {
        email: 'embedded@example.test',
        password: 'password1',
      })
      expect(reg.status).toBe(201)
      const login = await postJson(`${server.url}/login`, {
        email: 'embedded@example.test',
        password: 'password1',
      })
      expect(login.status).toBe(200)
      expect(login.body.token_type).toBe('Bearer')
    } finally {
      expect(await server.stop('SIGTERM')).toBe(0)
    }
    const secret = await readFile(join(dataDir, 'secrets', 'jwt_secret'), 'utf8')
    expect(secret.length).toBeGreaterThanOrEqual(32)

    // A restart reuses the database and the secret: the account still logs in.
    const again = await startServer({ DATA_DIR: dataDir }, 120_000)
    try {
      const login = await postJson(`${again.url}/login`, {
        email: 'embedded@example.test',
        password: 'password1',
      })
      expect(login.status).toBe(200)
    } finally {
      expect(await again.stop('SIGINT')).toBe(0)
    }
  }, 300_000)
})

describe('PostgreSQL mode', () => {
  it('uses DATABASE_URL, finishes an in-flight request on SIGTERM, then exits 0', async () => {
    const testDb = await createTestDatabase()
    const server = await startServer({
      DATA_DIR: dataDir,
      DATABASE_URL: testDb.url,
      JWT_SECRET: TEST_JWT_SECRET,
    })
    try {
      expect(server.output()).toContain('"database":"postgres"')
      // argon2 keeps this request in flight for tens of milliseconds while the signal lands;
      // the signal waits until the server has taken the request in (on a loaded machine that
      // can take longer than the request itself would).
      const pending = postJson(`${server.url}/register`, {
        email: 'pg@example.test',
        password: 'password1',
      })
      await waitForOutput(server, '"url":"/register"')
      const exit = server.stop('SIGTERM')
      expect((await pending).status).toBe(201)
      expect(await exit).toBe(0)
    } finally {
      await server.stop('SIGKILL')
      await testDb.drop()
    }
  })
})

describe('GET /readyz', () => {
  it('is 503 with Retry-After when the database is unreachable', async () => {
    const logger = createLogger('silent')
    const config = parseConfig({
      DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none',
      JWT_SECRET: TEST_JWT_SECRET,
      DATA_DIR: dataDir,
    })
    const database = await openDatabase<DB>({ url: config.databaseUrl, dataDir, logger })
    const app = await buildApp(config, {
      database,
      store: new MemoryBlobStore(),
      logger,
      events: new MemoryEventBus({ logger }),
    })
    try {
      const ready = await app.inject({ url: '/readyz' })
      expect(ready.statusCode).toBe(503)
      expect(ready.headers['retry-after']).toBeDefined()
      expect(ready.json()).toMatchObject({ code: 'service_unavailable' })
      expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200)
    } finally {
      await app.close()
      await database.close()
    }
  })
})

describe('shutdown (PostgreSQL mode)', () => {
  let testDb: Awaited<ReturnType<typeof createTestDatabase>>
  beforeAll(async () => {
    testDb = await createTestDatabase()
  })
  afterAll(() => testDb.drop())

  const serverEnv = (extra: Record<string, string> = {}) => ({
    DATA_DIR: dataDir,
    DATABASE_URL: testDb.url,
    JWT_SECRET: TEST_JWT_SECRET,
    ...extra,
  })

  async function signUpOver(url: string) {
    const email = `${Math.random().toString(36).slice(2)}@example.test`
    await postJson(`${url}/register`, { email, password: 'password1' })
    const login = await postJson(`${url}/login`, { email, password: 'password1' })
    return login.body.access_token as string
  }

  /** An upload over real HTTP whose body the test sends in pieces. */
  function openUpload(url: string, token: string, name: string, content: string) {
    const head =
      `--cut\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\n` +
      'Content-Type: text/plain\r\n\r\n'
    const tail = '\r\n--cut--\r\n'
    const req = request(`${url}/upload`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'multipart/form-data; boundary=cut',
        'content-length': String(head.length + content.length + tail.length),
      },
    })
    const answer = new Promise<number>((resolve, reject) => {
      req.on('error', reject)
      req.on('response', (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      })
    })
    answer.catch(() => undefined)
    req.write(`${head}${content.slice(0, 1)}`)
    return { answer, finish: () => req.end(`${content.slice(1)}${tail}`) }
  }

  async function fileRows(name: string) {
    const client = new pg.Client({ connectionString: testDb.url })
    await client.connect()
    try {
      const { rows } = await client.query('SELECT status FROM files WHERE name = $1', [name])
      return rows.map((r) => r.status as string)
    } finally {
      await client.end()
    }
  }

  it('refuses new connections, lets an in-flight upload finish within the grace, exits 0', async () => {
    const server = await startServer(serverEnv({ SHUTDOWN_GRACE_SECONDS: '20' }))
    try {
      const token = await signUpOver(server.url)
      const upload = openUpload(server.url, token, 'in-flight.txt', 'finished after SIGTERM')
      await new Promise((r) => setTimeout(r, 200))
      const exit = server.stop('SIGTERM')
      await waitForOutput(server, 'shutting down')
      const late = await fetch(`${server.url}/healthz`).then(
        (res) => res.status,
        () => 'refused',
      )
      expect([503, 'refused']).toContain(late)
      // Longer than a moment, well inside the grace.
      await new Promise((r) => setTimeout(r, 1500))
      upload.finish()
      expect(await upload.answer).toBe(201)
      expect(await exit).toBe(0)
      expect(await fileRows('in-flight.txt')).toEqual(['available'])
    } finally {
      await server.stop('SIGKILL')
    }
  })

  it('cuts what is still in flight after SHUTDOWN_GRACE_SECONDS, exits 0, and keeps no visible file', async () => {
    const server = await startServer(serverEnv({ SHUTDOWN_GRACE_SECONDS: '1' }))
    try {
      const token = await signUpOver(server.url)
      const upload = openUpload(server.url, token, 'cut.txt', 'never finished')
      await new Promise((r) => setTimeout(r, 200))
      const started = Date.now()
      const code = await server.stop('SIGTERM')
      const tookMs = Date.now() - started
      expect({ code, tookMs: tookMs < 8000 }).toEqual({ code: 0, tookMs: true })
      await expect(upload.answer).rejects.toThrow()
      expect(await fileRows('cut.txt')).not.toContain('available')
    } finally {
      await server.stop('SIGKILL')
    }
  })

  it('closes WebSockets with 1001 (going away) on SIGTERM', async () => {
    const server = await startServer(serverEnv())
    try {
      const token = await signUpOver(server.url)
      const ticket = await fetch(`${server.url}/ws/ticket`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
      })
      const { ticket: value } = (await ticket.json()) as { ticket: string }
      const socket = new WebSocket(
        `${server.url.replace(/^http/, 'ws')}/ws?ticket=${encodeURIComponent(value)}`,
      )
      await once(socket, 'message')
      const closed = once(socket, 'close') as Promise<[number, Buffer]>
      const exit = server.stop('SIGTERM')
      const [code] = await closed
      expect(code).toBe(1001)
      expect(await exit).toBe(0)
    } finally {
      await server.stop('SIGKILL')
    }
  })
})

/** Every process whose parent chain leads to `root`, from /proc. */
async function descendants(root: number): Promise<number[]> {
  const parents = new Map<number, number>()
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '')
    // The command name in parentheses may hold spaces; the ppid is the 2nd field after it.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
    if (ppid) parents.set(Number(entry), ppid)
  }
  const found: number[] = []
  const visit = (pid: number) => {
    for (const [child, parent] of parents) {
      if (parent === pid) {
        found.push(child)
        visit(child)
      }
    }
  }
  visit(root)
  return found
}

const commandOf = async (pid: number) =>
  (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).replaceAll('\0', ' ').trim()

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('npm start', () => {
  it.each([
    // What docker, systemd or kill send to the process they started.
    ['SIGTERM to npm', (npm: ChildProcess) => npm.kill('SIGTERM')],
    // What a terminal's Ctrl-C does: every process of the foreground group gets SIGINT, and
    // npm passes its own on to node as well.
    [
      'Ctrl-C (SIGINT to the process group)',
      (npm: ChildProcess) => process.kill(-npm.pid!, 'SIGINT'),
    ],
  ])('stops node on %s: npm exits 0 and leaves no process behind', async (_, signal) => {
    // package.json's real start script, run by the real npm, in a directory whose
    // dist/main.js loads src/main.ts through tsx instead of the compiled build: the test then
    // neither compiles the tree nor depends on a stale dist/.
    const project = await mkdtemp(join(tmpdir(), 'satchel-npm-start-'))
    const testDb = await createTestDatabase()
    const root = new URL('../../', import.meta.url)
    const { scripts } = JSON.parse(await readFile(new URL('package.json', root), 'utf8'))
    await writeFile(
      join(project, 'package.json'),
      JSON.stringify({ name: 'start-check', private: true, scripts: { start: scripts.start } }),
    )
    await mkdir(join(project, 'dist'))
    const tsx = new URL('node_modules/tsx/dist/esm/api/index.mjs', root).href
    const main = new URL('src/main.ts', root).href
    await writeFile(
      join(project, 'dist', 'main.js'),
      `import { register } from '${tsx}'\nregister()\nawait import('${main}')\n`,
    )
    const port = await freePort()
    const npm = spawn('npm', ['start'], {
      cwd: project,
      env: {
        PATH: process.env.PATH,
        HOME: project,
        npm_config_update_notifier: 'false',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        HOST: '127.0.0.1',
        PORT: String(port),
        DATA_DIR: join(project, 'data'),
        DATABASE_URL: testDb.url,
        JWT_SECRET: TEST_JWT_SECRET,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, as a shell gives a foreground job.
      detached: true,
    })
    let output = ''
    npm.stdout.on('data', (chunk) => {
      output += chunk
    })
    npm.stderr.on('data', (chunk) => {
      output += chunk
    })
    const exited = once(npm, 'exit') as Promise<[number | null, string | null]>
    let started: number[] = []
    try {
      const deadline = Date.now() + 30_000
      while (!output.includes('satchel ready')) {
        if (npm.exitCode !== null || Date.now() > deadline) throw new Error(output)
        await new Promise((r) => setTimeout(r, 50))
      }
      started = await descendants(npm.pid!)
      const commands = await Promise.all(started.map(commandOf))
      expect(commands).toContainEqual(expect.stringMatching(/^node .*dist\/main\.js$/))
      signal(npm)
      const [code] = await exited
      // Children that exit on their own once node is gone (tsx's esbuild) get a few seconds.
      const settled = Date.now() + 5000
      while (started.some(alive) && Date.now() < settled) {
        await new Promise((r) => setTimeout(r, 100))
      }
      const left = await Promise.all(started.filter(alive).map(commandOf))
      expect({ code, left }).toEqual({ code: 0, left: [] })
      expect(output).toContain('stopped')
    } finally {
      for (const pid of started.filter(alive)) process.kill(pid, 'SIGKILL')
      if (npm.exitCode === null) npm.kill('SIGKILL')
      await testDb.drop()
      await rm(project, { recursive: true, force: true })
    }
  })
})
