import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { NotAuthenticatedError, TooManyAttemptsError } from '../errors.js'
import type { QuotaRepository, Usage } from '../files/quota-repository.js'
import type { AttemptLimiter } from '../infra/attempt-limiter.js'
import type { AccessTokens } from './access-tokens.js'
import { canonicalEmail, normalizeEmail } from './email-address.js'
import { hashPassword, verifyPassword } from './passwords.js'
import type { SessionsRepository } from './sessions-repository.js'
import {
  AccountDisabledError,
  EmailTakenError,
  InvalidCredentialsError,
  InvalidInviteError,
  InvalidRefreshTokenError,
  RegistrationClosedError,
} from './users-errors.js'
import type { UserRecord, UsersRepository } from './users-repository.js'

/** Who may create an account through POST /register (REGISTRATION). */
export type RegistrationPolicy = 'open' | 'closed' | 'invite'

/** Told after a commit that took access away from some of a user's tokens. */
export interface RevocationNotifier {
  revoked(userId: string, reason: string): Promise<void>
}

// Kept on the session only to show it back to its owner; longer ones are cut.
const MAX_USER_AGENT = 512

export interface TokenPair {
  access_token: string
  token_type: 'Bearer'
  expires_in: number
  refresh_token: string
}

/** Who is logging in, as the request shows it; kept on the session. */
export interface LoginClient {
  ip: string
  userAgent?: string
}

export interface UsersServiceDeps {
  users: UsersRepository
  quotas: QuotaRepository
  sessions: SessionsRepository
  accessTokens: AccessTokens
  refreshTokenTtlSeconds: number
  /** Wrong passwords per email and client. */
  loginAttempts: AttemptLimiter
  registration: RegistrationPolicy
  revocations: RevocationNotifier
}

export class UsersService {
  // Verified against when the email is unknown, so both failures cost one argon2 verify.
  private dummyHash?: Promise<string>

  constructor(private readonly deps: UsersServiceDeps) {}

  /**
   * Creates an account as REGISTRATION allows. An invite is spent in the transaction that
   * creates the user, so a registration refused (email taken) leaves it unspent, and of
   * parallel registrations with one invite exactly one gets it.
   */
  async register(rawEmail: string, password: string, invite?: string): Promise<UserRecord> {
    const { registration } = this.deps
    if (registration === 'closed') throw new RegistrationClosedError()
    if (registration === 'invite' && !invite) throw new InvalidInviteError()
    const email = normalizeEmail(rawEmail)
    const passwordHash = await hashPassword(password)
    if (registration === 'open') {
      const user = await this.deps.users.insert(email, passwordHash)
      if (!user) throw new EmailTakenError()
      return user
    }
    return this.deps.users.transaction(async (tx) => {
      const inviteId = await tx.invites.spend(digest(invite ?? ''))
      if (!inviteId) throw new InvalidInviteError()
      const user = await tx.users.insert(email, passwordHash)
      if (!user) throw new EmailTakenError()
      await tx.invites.recordUser(inviteId, user.id)
      return user
    })
  }

  /**
   * Starts a session. The attempt is counted before the password is checked, so parallel
   * guesses cannot all pass a check made before any was recorded; a right password gives
   * its count back. Guessing is limited per email and client IP.
   */
  async login(rawEmail: string, password: string, client: LoginClient): Promise<TokenPair> {
    const email = canonicalEmail(rawEmail)
    const attempt = await this.deps.loginAttempts.attempt(`${email}:${client.ip}`, async () => {
      const user = await this.deps.users.findByEmail(email)
      this.dummyHash ??= hashPassword(randomBytes(16).toString('hex'))
      const ok = await verifyPassword(user?.password_hash ?? (await this.dummyHash), password)
      return ok && user ? { id: user.id, passwordHash: user.password_hash } : undefined
    })
    if (attempt.blocked) throw new TooManyAttemptsError(attempt.retryAfterSeconds)
    const verified = attempt.passed
    if (!verified) throw new InvalidCredentialsError()
    return this.deps.users.transaction(async (tx) => {
      // The password was checked against a row read before this lock: a change, disable or
      // deletion that committed since then must win, or its revocation would miss this session.
      const now = await tx.users.lockCredentials(verified.id, 'share')
      if (now?.password_hash !== verified.passwordHash) throw new InvalidCredentialsError()
      if (now.disabled_at) throw new AccountDisabledError()
      return this.startSession(tx.sessions, verified.id, client)
    })
  }

  /**
   * Counts and checks a password the signed-in user gives again (password change, account
   * deletion), against the same budget as logging in with that email from that client.
   */
  async confirmPassword(userId: string, password: string, client: LoginClient): Promise<string> {
    const user = await this.deps.users.findCredentials(userId)
    if (!user) throw new NotAuthenticatedError('The account no longer exists')
    const attempt = await this.deps.loginAttempts.attempt(`${user.email}:${client.ip}`, async () =>
      (await verifyPassword(user.password_hash, password)) ? user.password_hash : undefined,
    )
    if (attempt.blocked) throw new TooManyAttemptsError(attempt.retryAfterSeconds)
    if (!attempt.passed) throw new InvalidCredentialsError()
    return attempt.passed
  }

  /** A new session with its first token pair; call it inside the transaction that allows it. */
  async startSession(
    sessions: SessionsRepository,
    userId: string,
    client: LoginClient,
  ): Promise<TokenPair> {
    const sessionId = randomUUID()
    const { token, record } = this.newRefreshToken(sessionId)
    await sessions.insert({
      id: sessionId,
      userId,
      userAgent: client.userAgent?.slice(0, MAX_USER_AGENT) ?? null,
      ip: client.ip,
    })
    await sessions.insertToken(record)
    return this.pair(userId, sessionId, token)
  }

  /**
   * Rotates a refresh token, under its session's row lock: the session must not be revoked
   * and the token neither used nor expired; then the token is spent and its successor
   * stored, in the same transaction. A used token is a replay (the token was stolen, or a
   * client raced itself), so its session is revoked, and that revocation is committed. An
   * expired token is refused and left as it is, so presenting it again is no replay.
   */
  async refresh(refreshToken: string): Promise<TokenPair> {
    const tokenHash = digest(refreshToken)
    const rotated = await this.deps.sessions.transaction(async (tx) => {
      const session = await tx.lockSessionOf(tokenHash)
      if (!session || session.revoked_at || session.deleted_at) return undefined
      // Refused, but nothing spent: the token works again if the operator enables the user.
      if (session.disabled_at) return 'disabled'
      // Read only now: a rotation that spent this token committed before the lock was ours.
      const token = await tx.findToken(tokenHash)
      if (!token) return undefined
      if (token.used_at) {
        await tx.revoke(session.id)
        return undefined
      }
      if (token.expires_at.getTime() <= Date.now()) return undefined
      const next = this.newRefreshToken(session.id)
      await tx.markTokenUsed(token.id)
      await tx.insertToken(next.record)
      await tx.touch(session.id)
      return { userId: session.user_id, sessionId: session.id, token: next.token }
    })
    if (rotated === 'disabled') throw new AccountDisabledError()
    if (!rotated) throw new InvalidRefreshTokenError()
    return this.pair(rotated.userId, rotated.sessionId, rotated.token)
  }

  /**
   * Revokes the session; once this returns, none of its refresh tokens rotates again, and
   * no instance accepts its access tokens.
   */
  async logout(userId: string, sessionId: string): Promise<void> {
    await this.deps.sessions.revoke(sessionId)
    await this.deps.revocations.revoked(userId, 'logout')
  }

  async me(userId: string): Promise<UserRecord & { usage: Usage }> {
    const [user, usage] = await Promise.all([
      this.deps.users.findById(userId),
      this.deps.quotas.usage(userId),
    ])
    if (!user || !usage) throw new NotAuthenticatedError('The account no longer exists')
    return { ...user, usage }
  }

  private newRefreshToken(sessionId: string) {
    const token = randomBytes(32).toString('base64url')
    const expiresAt = new Date(Date.now() + this.deps.refreshTokenTtlSeconds * 1000)
    return { token, record: { sessionId, tokenHash: digest(token), expiresAt } }
  }

  private async pair(userId: string, sessionId: string, refreshToken: string): Promise<TokenPair> {
    return {
      access_token: await this.deps.accessTokens.sign({ userId, sessionId }),
      token_type: 'Bearer',
      expires_in: this.deps.accessTokens.ttlSeconds,
      refresh_token: refreshToken,
    }
  }
}

// Refresh tokens carry 256 random bits, so a fast unsalted hash is enough to store them.
function digest(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}

export { normalizeEmail }
