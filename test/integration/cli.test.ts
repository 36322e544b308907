import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { uniqueEmail } from '../helpers/accounts.js'
import { buildTestApp, TEST_JWT_SECRET, type TestApp } from '../helpers/build-test-app.js'
import { TEST_REDIS_URL } from '../helpers/redis.js'

const CLI = new URL('../../src/cli/satchel.ts', import.meta.url).pathname

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/** The real command, as `npm run satchel --` runs it, against the app's database and Redis. */
describe('the operator CLI', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await buildTestApp({ REDIS_URL: TEST_REDIS_URL, REGISTRATION: 'invite' })
  }, 60_000)
  afterAll(() => t?.close())

  async function satchel(args: string[], stdin?: string): Promise<Run> {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
      env: {
        PATH: process.env.PATH,
        DATABASE_URL: t.config.databaseUrl,
        JWT_SECRET: TEST_JWT_SECRET,
        REDIS_URL: TEST_REDIS_URL,
        REDIS_PREFIX: t.config.redisPrefix,
        LOG_LEVEL: 'warn',
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c) => {
      stdout += c
    })
    child.stderr.on('data', (c) => {
      stderr += c
    })
    child.stdin.end(stdin ?? '')
    const [code] = await once(child, 'exit')
    return { code: code as number | null, stdout, stderr }
  }
  const me = (token: string) =>
    t.app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })

  it('users add, list, disable, enable, sessions revoke and delete', async () => {
    const email = uniqueEmail('cli')
    const add = await satchel(['users', 'add', email, '--password-stdin'], 'a chosen password\n')
    expect(add, add.stderr).toMatchObject({ code: 0 })
    expect(add.stdout).toMatch(/^created [0-9a-f-]{36} /)
    const login = await t.app.inject({
      method: 'POST',
      url: '/login',
      payload: { email, password: 'a chosen password' },
    })
    expect(login.statusCode, login.body).toBe(200)
    const token = login.json().access_token
    expect((await me(token)).json()).toMatchObject({ used_bytes: 0, quota_bytes: null })

    const quota = await satchel(['users', 'set-quota', email, '4096'])
    expect([quota.code, quota.stdout], quota.stderr).toEqual([
      0,
      expect.stringMatching(/ uses 0 of 4096 bytes\n$/),
    ])
    expect((await me(token)).json()).toMatchObject({ used_bytes: 0, quota_bytes: 4096 })
    expect((await satchel(['users', 'set-quota', email, 'lots'])).code).toBe(2)

    const list = await satchel(['users', 'list', '--json'])
    expect(list.code, list.stderr).toBe(0)
    const listed = list.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
    expect(listed).toContainEqual(expect.objectContaining({ email, status: 'active' }))

    const disable = await satchel(['users', 'disable', email])
    expect(disable.code, disable.stderr).toBe(0)
    // The command has published; the running app refuses at once.
    expect((await me(token)).json().code).toBe('account_disabled')
    expect((await satchel(['users', 'enable', email])).code).toBe(0)
    expect((await me(token)).statusCode).toBe(200)

    const revoke = await satchel(['sessions', 'revoke', email])
    expect([revoke.code, revoke.stdout.trim()]).toEqual([0, 'revoked 1 session'])
    expect((await me(token)).statusCode).toBe(401)

    const del = await satchel(['users', 'delete', email])
    expect(del.code, del.stderr).toBe(0)
    const again = await satchel(['users', 'delete', email])
    expect(again.code).toBe(1)
    expect(again.stderr).toMatch(/No account/)
  }, 120_000)

  it('invites create prints a one-time token that POST /register accepts once', async () => {
    const run = await satchel(['invites', 'create', '--days', '1', '--note', 'for bob'])
    expect(run.code, run.stderr).toBe(0)
    const invite = run.stdout.trim()
    const register = (email: string) =>
      t.app.inject({
        method: 'POST',
        url: '/register',
        payload: { email, password: 'bob password', invite },
      })
    expect((await register(uniqueEmail('bob'))).statusCode).toBe(201)
    expect((await register(uniqueEmail('bob'))).statusCode).toBe(403)
  }, 60_000)

  it('exits 2 with the usage for a command line it cannot run', async () => {
    const run = await satchel(['users', 'frobnicate'])
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(/unknown command "users frobnicate"[\s\S]*usage: satchel/)
  }, 60_000)
})
