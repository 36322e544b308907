import { randomBytes, randomInt } from 'node:crypto'
import { copyFile, mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openDatabase } from '../../src/infra/db.js'
import { createLogger } from '../../src/infra/logger.js'
import { migrate } from '../../src/infra/migrator.js'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'
import { createTestDatabase } from '../helpers/databases.js'

let t: TestApp
beforeAll(async () => {
  t = await buildTestApp({ REGISTRATION: 'open' })
})
afterAll(() => t.close())

const password = 'password one two'
const register = (email: string) =>
  t.app.inject({ method: 'POST', url: '/register', payload: { email, password } })
const login = (email: string) =>
  t.app.inject({ method: 'POST', url: '/login', payload: { email, password } })
/** A fresh ASCII local part, so each case has its own account. */
const fresh = () => `jo${randomBytes(4).toString('hex')}`

describe('emails are compared in one canonical form (NFKC, lower case)', () => {
  const lookAlikes: [string, (local: string) => string][] = [
    ['fullwidth letters', (local) => `${[...local].map(fullwidth).join('')}@example.com`],
    ['a fullwidth at sign', (local) => `${local}\uff20example.com`],
    ['mathematical bold letters', (local) => `${[...local].map(bold).join('')}@example.com`],
    ['upper case and spaces around', (local) => `  ${local.toUpperCase()}@EXAMPLE.COM  `],
    ['an ideographic space around', (local) => `\u3000${local}@example.com\u3000`],
  ]

  it.each(lookAlikes)(
    'a look-alike with %s of an existing account is 409 email_taken',
    async (_, variant) => {
      const local = fresh()
      const first = await register(`${local}@example.com`)
      expect(first.statusCode, first.body).toBe(201)
      const email = variant(local)
      const res = await register(email)
      expect(res.statusCode, `${JSON.stringify(email)}: ${res.body}`).toBe(409)
      expect(res.json().code).toBe('email_taken')
      // Logging in normalises the same way, so the look-alike reaches the same account.
      const signedIn = await login(email)
      expect(signedIn.statusCode, signedIn.body).toBe(200)
    },
  )

  it('NFD and NFC spellings of an accented address are one account', async () => {
    const local = fresh()
    const nfc = `${local}jos\u00e9@example.com`
    const nfd = `${local}jose\u0301@example.com`
    const first = await register(nfc)
    expect(first.statusCode, first.body).toBe(201)
    expect(first.json().email).toBe(nfc)
    expect((await register(nfd)).statusCode).toBe(409)
    expect((await login(nfd)).statusCode).toBe(200)
  })

  it('the stored and returned email is the canonical form', async () => {
    const local = fresh()
    const res = await register(`${[...local.toUpperCase()].map(fullwidth).join('')}@EXAMPLE.com`)
    expect(res.statusCode, res.body).toBe(201)
    expect(res.json().email).toBe(`${local}@example.com`)
  })
})

describe('emails with invisible, direction-control or mixed-script text are refused', () => {
  const invisible: [string, string][] = [
    ['zero-width space', '\u200b'],
    ['zero-width non-joiner', '\u200c'],
    ['zero-width joiner', '\u200d'],
    ['word joiner', '\u2060'],
    ['byte order mark', '\ufeff'],
    ['soft hyphen', '\u00ad'],
    ['right-to-left override', '\u202e'],
    ['left-to-right embedding', '\u202a'],
    ['first strong isolate', '\u2068'],
    ['pop directional isolate', '\u2069'],
    ['right-to-left mark', '\u200f'],
    ['variation selector', '\ufe0f'],
    ['Hangul filler', '\u3164'],
  ]

  it.each(invisible)(
    'a %s → 400 invalid_email, also beside an existing address',
    async (_, char) => {
      const local = fresh()
      expect((await register(`${local}@example.com`)).statusCode).toBe(201)
      for (const email of [
        `${local.slice(0, 3)}${char}${local.slice(3)}@example.com`,
        `${local}@exam${char}ple.com`,
      ]) {
        const res = await register(email)
        expect(res.statusCode, `${JSON.stringify(email)}: ${res.body}`).toBe(400)
        expect(res.json().code).toBe('invalid_email')
      }
    },
  )

  it('a label that mixes Latin with Cyrillic or Greek look-alikes → 400 invalid_email', async () => {
    const local = fresh()
    expect((await register(`${local}a@example.com`)).statusCode).toBe(201)
    for (const email of [
      `${local}\u0430@example.com`, // Cyrillic а
      `${local}@ex\u0430mple.com`,
      `${local}\u03bf@example.com`, // Greek ο
      `p\u0430ypal-${local}@example.com`,
    ]) {
      const res = await register(email)
      expect(res.statusCode, `${JSON.stringify(email)}: ${res.body}`).toBe(400)
      expect(res.json().code).toBe('invalid_email')
    }
  })

  it('single-script addresses in other scripts, and Japanese, still register', async () => {
    // Digits belong to no script, so the tag keeps each label in one.
    const tag = randomInt(1e9)
    for (const email of [
      `\u0430\u043b\u0438\u0441\u0430${tag}@\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444`,
      `\u03b1\u03bb\u03af\u03ba\u03b7${tag}@example.gr`,
      `\u3084\u307e\u3060\u592a\u90ce\u30bf\u30ed\u30a6${tag}@example.jp`,
    ]) {
      const res = await register(email)
      expect(res.statusCode, `${JSON.stringify(email)}: ${res.body}`).toBe(201)
    }
  })
})

describe('migration 0010 on accounts registered before canonical emails', () => {
  it('moves each legacy address to its canonical form unless that is taken', async () => {
    const testDb = await createTestDatabase()
    const dir = await mkdtemp(join(tmpdir(), 'satchel-migrations-'))
    const database = await openDatabase({ url: testDb.url, dataDir: dir, logger: silent })
    try {
      const source = new URL('../../migrations/', import.meta.url)
      const copy = async (name: string) => copyFile(new URL(name, source), join(dir, name))
      const files = (await readdir(source)).filter((name) => /^\d{4}_/.test(name))
      for (const name of files.filter((name) => name < '0010')) await copy(name)
      const dirUrl = pathToFileURL(`${dir}/`)
      await migrate(database.db, silent, dirUrl)
      // As the old code stored them: trimmed and lower-cased, nothing more.
      const legacy = [
        ['\uff41\uff4c\uff49\uff43\uff45@example.com', '2020-01-01'],
        ['bob@example.com', '2020-01-01'],
        ['\uff42\uff4f\uff42@example.com', '2020-01-02'],
        ['\uff43\uff41\uff52\uff4f\uff4c@example.com', '2020-01-01'],
        ['\u{1d41c}\u{1d41a}\u{1d42b}\u{1d428}\u{1d425}@example.com', '2020-01-02'],
      ]
      for (const [email, createdAt] of legacy) {
        await sql`insert into users (email, password_hash, created_at)
          values (${email}, 'x', ${createdAt}::timestamptz)`.execute(database.db)
      }
      await copy(files.find((name) => name.startsWith('0010_'))!)
      expect(await migrate(database.db, silent, dirUrl)).toHaveLength(1)
      const rows = await sql<{ email: string }>`select email from users order by email`.execute(
        database.db,
      )
      expect(rows.rows.map((row) => row.email).sort()).toEqual(
        [
          'alice@example.com',
          'bob@example.com',
          // A look-alike of an existing account keeps its old text.
          '\uff42\uff4f\uff42@example.com',
          // Of two legacy look-alikes, the older one moves.
          'carol@example.com',
          '\u{1d41c}\u{1d41a}\u{1d42b}\u{1d428}\u{1d425}@example.com',
        ].sort(),
      )
    } finally {
      await database.close()
      await testDb.drop()
      await rm(dir, { recursive: true, force: true })
    }
  })
})

const silent = createLogger('silent')

function fullwidth(char: string) {
  return /[a-z0-9]/i.test(char) ? String.fromCodePoint(char.codePointAt(0)! + 0xfee0) : char
}

function bold(char: string) {
  if (/[a-z]/.test(char)) return String.fromCodePoint(0x1d41a + char.charCodeAt(0) - 97)
  if (/[0-9]/.test(char)) return String.fromCodePoint(0x1d7ce + char.charCodeAt(0) - 48)
  return char
}
