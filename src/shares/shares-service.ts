import { randomUUID } from 'node:crypto'
import { TooManyAttemptsError } from '../errors.js'
import { type EventBus, newEvent } from '../events/event-bus.js'
import { resolveExpiry } from '../files/expiry.js'
import type { FileCache } from '../files/file-cache.js'
import { FileNotFoundError } from '../files/files-errors.js'
import type { FileRecord } from '../files/files-repository.js'
import type { AttemptLimiter } from '../infra/attempt-limiter.js'
import { hashPassword, verifyPassword } from '../users/passwords.js'
import type { ShareTokens } from './share-tokens.js'
import {
  InvalidShareOptionsError,
  ShareGoneError,
  ShareNotFoundError,
  SharePasswordError,
} from './shares-errors.js'
import type { ShareChanges, ShareRecord, SharesRepository } from './shares-repository.js'

export interface ShareOptions {
  expiresIn?: number
  expiresAt?: string | null
  maxDownloads?: number | null
  password?: string | null
}

/** Called once when a response ends, with the body bytes it handed to the client. */
export type SettleDownload = (sent: number, complete: boolean) => Promise<void>

/** A link may serve max_downloads copies' worth of bytes; an empty file counts as one byte. */
const budget = (maxDownloads: number, file: FileRecord) => maxDownloads * Math.max(file.size, 1)

export interface SharesServiceDeps {
  shares: SharesRepository
  files: FileCache
  events: EventBus
  tokens: ShareTokens
  passwordAttempts: AttemptLimiter
  publicBaseUrl: string
}

export class SharesService {
  constructor(private readonly deps: SharesServiceDeps) {}

  /** The file's default link, created on first request; or a new link when options are given. */
  async getOrCreateDefault(
    ownerId: string,
    fileId: string,
    options: ShareOptions,
  ): Promise<ShareRecord> {
    const hasOptions = options.expiresIn !== undefined || options.maxDownloads !== undefined
    if (hasOptions) return this.create(ownerId, fileId, options)
    await this.ownedFile(ownerId, fileId)
    return (await this.deps.shares.findDefault(fileId)) ?? this.insert(ownerId, fileId, {}, true)
  }

  async create(ownerId: string, fileId: string, options: ShareOptions): Promise<ShareRecord> {
    await this.ownedFile(ownerId, fileId)
    return this.insert(ownerId, fileId, options, false)
  }

  async list(ownerId: string, fileId: string): Promise<ShareRecord[]> {
    await this.ownedFile(ownerId, fileId)
    return this.deps.shares.listForFile(ownerId, fileId)
  }

  async update(ownerId: string, id: string, options: ShareOptions): Promise<ShareRecord> {
    const changes: ShareChanges = {
      expires_at: resolveExpiry(options),
      max_downloads: options.maxDownloads,
      password_hash: await this.passwordHash(options.password),
    }
    const share = await this.deps.shares.update(ownerId, id, changes)
    if (!share) throw new ShareNotFoundError()
    return share
  }

  async revoke(ownerId: string, id: string): Promise<void> {
    if (!(await this.deps.shares.delete(ownerId, id))) throw new ShareNotFoundError()
  }

  /**
   * The share and file behind a public token, after every read-time check: the link exists,
   * its file is visible, it has not expired or run out, and the password (if any) is right.
   * `client` identifies the caller (an IP) for the wrong-password limit.
   */
  async open(
    token: string,
    password: string | undefined,
    client: string,
  ): Promise<{ share: ShareRecord; file: FileRecord }> {
    const share = await this.deps.shares.findByTokenHash(this.deps.tokens.hash(token))
    const file = share && (await this.deps.files.findVisibleById(share.file_id))
    if (!share || !file) throw new ShareNotFoundError()
    if (share.expires_at && share.expires_at.getTime() <= Date.now())
      throw new ShareGoneError('expired')
    if (share.max_downloads !== null && share.bytes_reserved >= budget(share.max_downloads, file))
      throw new ShareGoneError('exhausted')
    if (share.password_hash) await this.checkPassword(share, password, `${share.id}:${client}`)
    return { share, file }
  }

  /**
   * Reserves the `length` bytes of one response against the link's budget before any is
   * sent (an empty file's response costs one unit). The function returned settles it when
   * the response ends: what was not handed to the client goes back to the budget, so a
   * failed or cut download costs only what it sent, and every whole copy the link has now
   * served is announced.
   */
  async reserveDownload(share: ShareRecord, length: number): Promise<SettleDownload> {
    const cost = Math.max(length, 1)
    if (!(await this.deps.shares.reserveBytes(share.id, cost))) {
      const expired = share.expires_at !== null && share.expires_at.getTime() <= Date.now()
      throw new ShareGoneError(expired ? 'expired' : 'exhausted')
    }
    return async (sent, complete) => {
      const copies = await this.deps.shares.settleBytes(
        share.id,
        cost,
        complete ? cost : Math.min(sent, cost),
      )
      if (!copies || copies.after <= copies.before) return
      const data = { share_id: share.id, file_id: share.file_id }
      await this.deps.events.publish(newEvent('share.downloaded', share.owner_id, data))
    }
  }

  /** Whole copies the link can still serve; null when it has no limit. */
  downloadsRemaining(share: ShareRecord, file: FileRecord): number | null {
    if (share.max_downloads === null) return null
    const left = budget(share.max_downloads, file) - share.bytes_reserved
    return Math.max(0, Math.floor(left / Math.max(file.size, 1)))
  }

  url(share: ShareRecord): string {
    return `${this.deps.publicBaseUrl}/s/${this.deps.tokens.tokenFor(share.id)}`
  }

  /**
   * Counts the guess before verifying it (see AttemptLimiter), so no more than the limit
   * of wrong passwords is ever verified, however many arrive at once. A request without a
   * password guesses nothing and is not counted, but a locked-out client still hears so.
   */
  private async checkPassword(
    share: ShareRecord,
    password: string | undefined,
    attemptKey: string,
  ) {
    const { passwordAttempts } = this.deps
    const tooMany = (wait: number) =>
      new TooManyAttemptsError(wait, 'Too many wrong passwords; try again later')
    if (password === undefined) {
      const wait = await passwordAttempts.blockedFor(attemptKey)
      throw wait > 0 ? tooMany(wait) : new SharePasswordError(false)
    }
    const attempt = await passwordAttempts.attempt(attemptKey, async () =>
      (await verifyPassword(share.password_hash!, password)) ? true : undefined,
    )
    if (attempt.blocked) throw tooMany(attempt.retryAfterSeconds)
    if (!attempt.passed) throw new SharePasswordError(true)
  }

  private async insert(ownerId: string, fileId: string, options: ShareOptions, isDefault: boolean) {
    const id = randomUUID()
    return this.deps.shares.insert({
      id,
      fileId,
      ownerId,
      tokenHash: this.deps.tokens.hash(this.deps.tokens.tokenFor(id)),
      isDefault,
      expiresAt: resolveExpiry(options) ?? null,
      maxDownloads: options.maxDownloads ?? null,
      passwordHash: (await this.passwordHash(options.password)) ?? null,
    })
  }

  private async ownedFile(ownerId: string, fileId: string): Promise<FileRecord> {
    const file = await this.deps.files.findVisible(ownerId, fileId)
    if (!file) throw new FileNotFoundError()
    return file
  }

  private async passwordHash(
    password: string | null | undefined,
  ): Promise<string | null | undefined> {
    if (password === undefined || password === null) return password
    if (password.length < 4 || password.length > 1024) {
      throw new InvalidShareOptionsError('A share password must be 4 to 1024 characters')
    }
    return hashPassword(password)
  }
}
