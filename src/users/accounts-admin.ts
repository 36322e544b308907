import { createHash, randomBytes } from 'node:crypto'
import { AppError } from '../errors.js'
import type { QuotaRepository, Usage } from '../files/quota-repository.js'
import { closeAccount } from './account-service.js'
import type { ClosedAccountsRepository } from './closed-accounts-repository.js'
import type { InvitesRepository } from './invites-repository.js'
import { hashPassword } from './passwords.js'
import type { SessionsRepository } from './sessions-repository.js'
import { EmailTakenError } from './users-errors.js'
import type { UserRecord, UserSummary, UsersRepository } from './users-repository.js'
import { normalizeEmail, type RevocationNotifier } from './users-service.js'

export class UserNotFoundError extends AppError {
  constructor(who: string) {
    super('user_not_found', 404, `No account ${who}`)
  }
}

export interface AccountsAdminDeps {
  users: UsersRepository
  sessions: SessionsRepository
  invites: InvitesRepository
  closedAccounts: ClosedAccountsRepository
  revocations: RevocationNotifier
  quotas: QuotaRepository
  onFilesHidden: (ids: string[]) => Promise<void>
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** What the operator's command line does; every change tells the serving instances. */
export class AccountsAdmin {
  constructor(private readonly deps: AccountsAdminDeps) {}

  list(limit: number, afterEmail?: string): Promise<UserSummary[]> {
    return this.deps.users.list(limit, afterEmail)
  }

  /** Creates an account whatever REGISTRATION says. */
  async add(rawEmail: string, password: string): Promise<UserRecord> {
    const user = await this.deps.users.insert(
      normalizeEmail(rawEmail),
      await hashPassword(password),
    )
    if (!user) throw new EmailTakenError()
    return user
  }

  async setDisabled(who: string, disabled: boolean): Promise<UserSummary> {
    const user = await this.find(who)
    await this.deps.users.setDisabled(user.id, disabled)
    await this.deps.revocations.revoked(user.id, disabled ? 'account_disabled' : 'account_enabled')
    return user
  }

  async delete(who: string): Promise<UserSummary> {
    const user = await this.find(who)
    if (!(await closeAccount(this.deps, user.id))) throw new UserNotFoundError(who)
    return user
  }

  /** Ends every session of the account; returns how many were live. */
  async revokeSessions(who: string): Promise<number> {
    const user = await this.find(who)
    const revoked = await this.deps.sessions.revokeAllOf(user.id)
    await this.deps.revocations.revoked(user.id, 'sessions_revoked')
    return revoked
  }

  /** A one-time invite; only its hash is stored, so the token is shown this once. */
  async createInvite(validForSeconds: number, note: string | null) {
    const token = randomBytes(24).toString('base64url')
    const tokenHash = createHash('sha256').update(token).digest('hex')
    const expiresAt = new Date(Date.now() + validForSeconds * 1000)
    const invite = await this.deps.invites.insert({ tokenHash, expiresAt, note })
    return { token, ...invite }
  }

  /** `bytes` null returns the account to DEFAULT_QUOTA_BYTES; 0 makes it unlimited. */
  async setQuota(who: string, bytes: number | null): Promise<UserSummary & { usage: Usage }> {
    const user = await this.find(who)
    await this.deps.quotas.setQuota(user.id, bytes)
    const usage = await this.deps.quotas.usage(user.id)
    if (!usage) throw new UserNotFoundError(who)
    return { ...user, usage }
  }

  private async find(who: string): Promise<UserSummary> {
    const user = await this.deps.users.findForOperator(
      UUID.test(who) ? { id: who } : { email: normalizeEmail(who) },
    )
    if (!user) throw new UserNotFoundError(who)
    return user
  }
}
