import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { NotAuthenticatedError, TooManyAttemptsError } from '../errors.js'
import type { AttemptLimiter } from '../infra/attempt-limiter.js'
import type { AccessTokens } from './access-tokens.js'
import { hashPassword, verifyPassword } from './passwords.js'
import type { RefreshTokensRepository } from './refresh-tokens-repository.js'
import {
  EmailTakenError,
  InvalidCredentialsError,
  InvalidEmailError,
  InvalidRefreshTokenError,
} from './users-errors.js'
import type { UserRecord, UsersRepository } from './users-repository.js'

// Deliberately simple: one @, no spaces, a dot in the domain. Deliverability is not ours to judge.
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/

export interface TokenPair {
  access_token: string
  token_type: 'Bearer'
  expires_in: number
  refresh_token: string
}

export interface UsersServiceDeps {
  users: UsersRepository
  refreshTokens: RefreshTokensRepository
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

  /** `client` identifies the caller (an IP) so guessing is limited per email and client. */
  async login(rawEmail: string, password: string, client: string): Promise<TokenPair> {
    const email = rawEmail.trim().toLowerCase()
    const attemptKey = `${email}:${client}`
    const wait = await this.deps.loginAttempts.blockedFor(attemptKey)
    if (wait > 0) throw new TooManyAttemptsError(wait)
    const user = await this.deps.users.findByEmail(email)
    this.dummyHash ??= hashPassword(randomBytes(16).toString('hex'))
    const ok = await verifyPassword(user?.password_hash ?? (await this.dummyHash), password)
    if (!user || !ok) {
      await this.deps.loginAttempts.recordFailure(attemptKey)
      throw new InvalidCredentialsError()
    }
    return this.issue(user.id, randomUUID())
  }

  /** Rotates a refresh token. Presenting one that was already rotated revokes its family. */
  async refresh(refreshToken: string): Promise<TokenPair> {
    const { refreshTokens } = this.deps
    const stored = await refreshTokens.findByHash(digest(refreshToken))
    if (!stored || stored.revoked_at) throw new InvalidRefreshTokenError()
    if (stored.used_at || !(await refreshTokens.markUsed(stored.id))) {
      await refreshTokens.revokeFamily(stored.family_id)
      throw new InvalidRefreshTokenError()
    }
    if (stored.expires_at.getTime() <= Date.now()) throw new InvalidRefreshTokenError()
    return this.issue(stored.user_id, stored.family_id)
  }

  logout(sessionId: string): Promise<void> {
    return this.deps.refreshTokens.revokeFamily(sessionId)
  }

  async me(userId: string): Promise<UserRecord> {
    const user = await this.deps.users.findById(userId)
    if (!user) throw new NotAuthenticatedError('The account no longer exists')
    return user
  }

  private async issue(userId: string, familyId: string): Promise<TokenPair> {
    const refreshToken = randomBytes(32).toString('base64url')
    await this.deps.refreshTokens.insert({
      familyId,
      userId,
      tokenHash: digest(refreshToken),
      expiresAt: new Date(Date.now() + this.deps.refreshTokenTtlSeconds * 1000),
    })
    return {
      access_token: await this.deps.accessTokens.sign({ userId, sessionId: familyId }),
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
