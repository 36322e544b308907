import { InvalidCursorError } from '../files/files-errors.js'
import type { ClosedAccountsRepository } from './closed-accounts-repository.js'
import { hashPassword } from './passwords.js'
import type { SessionsRepository } from './sessions-repository.js'
import { InvalidCredentialsError, SessionNotFoundError } from './users-errors.js'
import type { UsersRepository } from './users-repository.js'
import type { LoginClient, RevocationNotifier, TokenPair, UsersService } from './users-service.js'

export interface SessionView {
  id: string
  created_at: Date
  last_used_at: Date
  user_agent: string | null
  ip: string | null
  current: boolean
}

export interface AccountServiceDeps {
  users: UsersRepository
  sessions: SessionsRepository
  closedAccounts: ClosedAccountsRepository
  auth: UsersService
  revocations: RevocationNotifier
  /** A session unused this long has no refresh token left that works: not listed. */
  refreshTokenTtlSeconds: number
  /** Called with a deleted account's files once they are hidden (caches). */
  onFilesHidden: (ids: string[]) => Promise<void>
}

/** What a signed-in user does to their own account: sessions, password, deletion. */
export class AccountService {
  constructor(private readonly deps: AccountServiceDeps) {}

  async listSessions(
    userId: string,
    currentSessionId: string,
    page: { limit: number; cursor?: string },
  ): Promise<{ items: SessionView[]; nextCursor: string | null }> {
    const activeSince = new Date(Date.now() - this.deps.refreshTokenTtlSeconds * 1000)
    const after = page.cursor === undefined ? undefined : decodeCursor(page.cursor)
    const rows = await this.deps.sessions.listLive(userId, activeSince, {
      limit: page.limit + 1,
      after,
    })
    const items = rows
      .slice(0, page.limit)
      .map((row) => ({ ...row, current: row.id === currentSessionId }))
    const last = items.at(-1)
    const nextCursor = rows.length > page.limit && last ? encodeCursor(last) : null
    return { items, nextCursor }
  }

  /** Ends one of the user's sessions: its refresh and access tokens stop working. */
  async revokeSession(userId: string, sessionId: string): Promise<void> {
    if (!(await this.deps.sessions.revokeOwn(userId, sessionId))) throw new SessionNotFoundError()
    await this.deps.revocations.revoked(userId, 'session_revoked')
  }

  /**
   * Checks the current password (counted like a login), stores the new one, revokes every
   * session, the caller's included, and starts a new one for the caller, all in one
   * transaction: a token issued before the change, to anyone, stops working, and the caller
   * carries on with the pair returned.
   */
  async changePassword(
    userId: string,
    change: { currentPassword: string; newPassword: string },
    client: LoginClient,
  ): Promise<TokenPair> {
    const checkedHash = await this.deps.auth.confirmPassword(userId, change.currentPassword, client)
    const newHash = await hashPassword(change.newPassword)
    const pair = await this.deps.users.transaction(async (tx) => {
      const now = await tx.users.lockCredentials(userId, 'update')
      // Changed (or the account deleted) since the check: the current password is no longer.
      if (now?.password_hash !== checkedHash) throw new InvalidCredentialsError()
      await tx.users.setPasswordHash(userId, newHash)
      await tx.sessions.revokeAllOf(userId)
      return this.deps.auth.startSession(tx.sessions, userId, client)
    })
    await this.deps.revocations.revoked(userId, 'password_changed')
    return pair
  }

  /** Deletes the caller's account after checking the password: see deleteAccount(). */
  async deleteOwnAccount(userId: string, password: string, client: LoginClient): Promise<void> {
    await this.deps.auth.confirmPassword(userId, password, client)
    await closeAccount(this.deps, userId)
  }
}

/**
 * Hides the account, revokes its sessions and hides its files in one commit, then tells
 * every instance and drops the files' cached metadata (so share links and signed URLs stop).
 * The sweeper removes the blobs, then the rows, then the user. A crash after the commit
 * leaves only caches to expire (bounded by their TTLs) and the sweeper's work to do.
 */
export async function closeAccount(
  deps: Pick<AccountServiceDeps, 'closedAccounts' | 'revocations' | 'onFilesHidden'>,
  userId: string,
): Promise<boolean> {
  const hidden = await deps.closedAccounts.close(userId)
  if (!hidden) return false
  await deps.revocations.revoked(userId, 'account_deleted')
  await deps.onFilesHidden(hidden)
  return true
}

function encodeCursor(session: SessionView): string {
  return Buffer.from(JSON.stringify([session.created_at.toISOString(), session.id])).toString(
    'base64url',
  )
}

function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    throw new InvalidCursorError()
  }
  if (!Array.isArray(parsed) || parsed.length !== 2) throw new InvalidCursorError()
  const [createdAt, id] = parsed
  if (typeof createdAt !== 'string' || Number.isNaN(Date.parse(createdAt)))
    throw new InvalidCursorError()
  if (typeof id !== 'string' || !/^[0-9a-f-]{36}$/.test(id)) throw new InvalidCursorError()
  return { createdAt: new Date(createdAt), id }
}
