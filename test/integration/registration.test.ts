import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config.js'
import { QuotaRepository } from '../../src/files/quota-repository.js'
import { AccountsAdmin } from '../../src/users/accounts-admin.js'
import { ClosedAccountsRepository } from '../../src/users/closed-accounts-repository.js'
import { InvitesRepository } from '../../src/users/invites-repository.js'
import { SessionsRepository } from '../../src/users/sessions-repository.js'
import { UsersRepository } from '../../src/users/users-repository.js'
import { uniqueEmail } from '../helpers/accounts.js'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'

const PARALLEL = 20
const password = 'correct horse battery staple'

describe('REGISTRATION', () => {
  it('defaults to open in the embedded mode and closed with DATABASE_URL', () => {
    expect(parseConfig({}).registration).toBe('open')
    const production = { DATABASE_URL: 'postgres://x/y', JWT_SECRET: 'x'.repeat(32) }
    expect(parseConfig(production).registration).toBe('closed')
    expect(parseConfig({ ...production, REGISTRATION: 'invite' }).registration).toBe('invite')
    expect(() => parseConfig({ REGISTRATION: 'maybe' })).toThrow(/REGISTRATION/)
  })

  it('closed refuses every registration with 403 registration_closed', async () => {
    const t = await buildTestApp({ REGISTRATION: 'closed' })
    try {
      const res = await t.app.inject({
        method: 'POST',
        url: '/register',
        payload: { email: uniqueEmail(), password },
      })
      expect(res.statusCode).toBe(403)
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/)
      expect(res.json().code).toBe('registration_closed')
    } finally {
      await t.close()
    }
  })
})

describe('REGISTRATION=invite', () => {
  let t: TestApp
  let admin: AccountsAdmin
  beforeAll(async () => {
    t = await buildTestApp({ REGISTRATION: 'invite' })
    const { db } = t.database
    admin = new AccountsAdmin({
      users: new UsersRepository(db),
      sessions: new SessionsRepository(db),
      invites: new InvitesRepository(db),
      closedAccounts: new ClosedAccountsRepository(db),
      quotas: new QuotaRepository(db, 0),
      revocations: { revoked: async () => {} },
      onFilesHidden: async () => {},
    })
  }, 60_000)
  afterAll(() => t?.close())

  const register = (email: string, invite?: string) =>
    t.app.inject({ method: 'POST', url: '/register', payload: { email, password, invite } })

  it('refuses no invite, an unknown one and an expired one alike', async () => {
    const expired = await admin.createInvite(1, null)
    await t.database.db
      .updateTable('invites')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('id', '=', expired.id)
      .execute()
    for (const invite of [undefined, 'not-an-invite', expired.token]) {
      const res = await register(uniqueEmail(), invite)
      expect([res.statusCode, res.json().code]).toEqual([403, 'invalid_invite'])
    }
  })

  it(`lets exactly one of ${PARALLEL} parallel registrations spend one invite`, async () => {
    const { token } = await admin.createInvite(3600, 'for one person')
    const results = await Promise.all(
      Array.from({ length: PARALLEL }, () => register(uniqueEmail('race'), token)),
    )
    const statuses = results.map((r) => r.statusCode)
    expect(statuses.filter((s) => s === 201)).toHaveLength(1)
    expect(statuses.filter((s) => s === 403)).toHaveLength(PARALLEL - 1)
    const winner = results.find((r) => r.statusCode === 201)!.json()
    const invite = await t.database.db
      .selectFrom('invites')
      .select(['used_at', 'used_by'])
      .where('note', '=', 'for one person')
      .executeTakeFirstOrThrow()
    expect(invite.used_by).toBe(winner.id)
    expect((await register(uniqueEmail(), token)).statusCode).toBe(403)
  })

  it('leaves the invite unspent when the email is taken', async () => {
    const taken = uniqueEmail()
    await admin.add(taken, password)
    const { token } = await admin.createInvite(3600, null)
    const res = await register(taken, token)
    expect([res.statusCode, res.json().code]).toEqual([409, 'email_taken'])
    expect((await register(uniqueEmail(), token)).statusCode).toBe(201)
  })
})
