import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { NotAuthenticatedError, TooManyAttemptsError } from '../errors.js'
import type { AttemptLimiter } from '../infra/attempt-limiter.js'
import type { AccessTokens } from './access-tokens.js'
import { hashPassword, verifyPassword } from './passwords.js'
import type { SessionsRepository } from './sessions-repository.js'
import {
  EmailTakenError,
  InvalidCredentialsError,
  InvalidEmailError,
  InvalidRefreshTokenError,
} from './users-errors.js'
import type { UserRecord, UsersRepository } from './users-repository.js'

// Deliberately simple: one @, no spaces, a dot in the domain. Deliverability is not ours to judge.
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/
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
  sessions: SessionsRepository
  accessTokens: AccessTokens
  refreshTokenTtlSeconds: number
  /** Wrong passwords per email and client. */
  loginAttempts: AttemptLimiter
}

export class UsersService {
  // Verified against when the email is unknown, so both failures cost one argon2 verify.
  private dummyHash?: Promise<string>

  constructor(private readonly deps: UsersServiceDeps) {}

  async register(rawEmail: string, password: string): Promise<UserRecord> {
    const email = normalizeEmail(rawEmail)
    const user = await this.deps.users.insert(email, await hashPassword(password))
    if (!user) throw new EmailTakenError()
    return user
  }

  /**
   * Starts a session. The attempt is counted before the password is checked, so parallel
   * guesses cannot all pass a check made before any was recorded; a right password gives
   * its count back. Guessing is limited per email and client IP.
   */
  async login(rawEmail: string, password: string, client: LoginClient): Promise<TokenPair> {
    const email = rawEmail.trim().toLowerCase()
    const attempt = await this.deps.loginAttempts.attempt(`${email}:${client.ip}`, async () => {
      const user = await this.deps.users.findByEmail(email)
      this.dummyHash ??= hashPassword(randomBytes(16).toString('hex'))
      const ok = await verifyPassword(user?.password_hash ?? (await this.dummyHash), password)
      return ok ? user?.id : undefined
    })
    if (attempt.blocked) throw new TooManyAttemptsError(attempt.retryAfterSeconds)
    const userId = attempt.passed
    if (!userId) throw new InvalidCredentialsError()
    const sessionId = randomUUID()
    const { token, record } = this.newRefreshToken(sessionId)
    const session = {
      id: sessionId,
      userId,
      userAgent: client.userAgent?.slice(0, MAX_USER_AGENT) ?? null,
      ip: client.ip,
    }
    await this.deps.sessions.transaction(async (tx) => {
      await tx.insert(session)
      await tx.insertToken(record)
    })
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
      if (!session || session.revoked_at) return undefined
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
    if (!rotated) throw new InvalidRefreshTokenError()
    return this.pair(rotated.userId, rotated.sessionId, rotated.token)
  }

  /** Revokes the session; once this returns, none of its refresh tokens rotates again. */
  logout(sessionId: string): Promise<void> {
    return this.deps.sessions.revoke(sessionId)
  }

  async me(userId: string): Promise<UserRecord> {
    const user = await this.deps.users.findById(userId)
    if (!user) throw new NotAuthenticatedError('The account no longer exists')
    return user
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

export function normalizeEmail(raw: string): string {
  const email = raw.trim().toLowerCase()
  if (email.length > 254 || !EMAIL.test(email)) throw new InvalidEmailError()
  return email
}

// Refresh tokens carry 256 random bits, so a fast unsalted hash is enough to store them.
function digest(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}
