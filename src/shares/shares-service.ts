import { randomUUID } from 'node:crypto'
import { ServiceUnavailableError, TooManyAttemptsError } from '../errors.js'
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

/** Why a link can serve no more, if it cannot. */
function goneReason(share: ShareRecord, file: FileRecord): 'expired' | 'exhausted' | undefined {
  if (share.expires_at && share.expires_at.getTime() <= Date.now()) return 'expired'
  if (share.max_downloads !== null && share.bytes_reserved >= budget(share.max_downloads, file))
    return 'exhausted'
  return undefined
}

/** The options of a GET /share/:file_id request in one canonical text; '' for none. */
function requestOptions({ expiresIn, maxDownloads }: ShareOptions): string {
  const parts: string[] = []
  if (expiresIn !== undefined) parts.push(`expires_in=${expiresIn}`)
  if (maxDownloads !== undefined && maxDownloads !== null)
    parts.push(`max_downloads=${maxDownloads}`)
  return parts.join('&')
}

// Each round that does not return lost to a link another request made in the meantime,
// which is usable, so the next round finds it; the bound only guards against a surprise.
const MAX_FIND_OR_CREATE_ROUNDS = 3

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

  /**
   * The link GET /share/:file_id hands out, safe to repeat: the one an earlier GET made for
   * the same options (expires_in, max_downloads; none for the file's default link) while it
   * can still serve, else a new one. A link that expired or ran out is retired (it stays
   * listed, and its owner may still extend it) and replaced. The unique index on
   * (file_id, request_options) makes concurrent callers agree on one link.
   */
  async getOrCreateDefault(
    ownerId: string,
    fileId: string,
    options: Pick<ShareOptions, 'expiresIn' | 'maxDownloads'>,
  ): Promise<{ share: ShareRecord; created: boolean }> {
    const file = await this.ownedFile(ownerId, fileId)
    const key = requestOptions(options)
    for (let round = 0; round < MAX_FIND_OR_CREATE_ROUNDS; round++) {
      const found = await this.deps.shares.findByRequest(fileId, key)
      if (found && !goneReason(found, file)) return { share: found, created: false }
      if (found) await this.deps.shares.retire(found.id, key)
      const made = await this.insert(ownerId, fileId, options, key)
      if (made) return { share: made, created: true }
    }
    throw new ServiceUnavailableError('The link changed while it was being made; retry')
  }

  async create(ownerId: string, fileId: string, options: ShareOptions): Promise<ShareRecord> {
    await this.ownedFile(ownerId, fileId)
    // Only links made for request options can conflict; this one always goes in.
    return (await this.insert(ownerId, fileId, options, null))!
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
   * the password (if any) is right, its file is visible, and it has not expired or run out.
   * The password comes first: a protected link tells nothing of its state to someone who
   * does not know it. `client` identifies the caller (an IP) for the wrong-password limit.
   */
  async open(
    token: string,
    password: string | undefined,
    client: string,
  ): Promise<{ share: ShareRecord; file: FileRecord }> {
    const share = await this.deps.shares.findByTokenHash(this.deps.tokens.hash(token))
    if (!share) throw new ShareNotFoundError()
    if (share.password_hash) await this.checkPassword(share, password, `${share.id}:${client}`)
    const file = await this.deps.files.findVisibleById(share.file_id)
    if (!file) throw new ShareNotFoundError()
    const gone = goneReason(share, file)
    if (gone) throw new ShareGoneError(gone)
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

  url(share: Pick<ShareRecord, 'id'>): string {
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

  private async insert(
    ownerId: string,
    fileId: string,
    options: ShareOptions,
    requestKey: string | null,
  ) {
    const id = randomUUID()
    return this.deps.shares.insert({
      id,
      fileId,
      ownerId,
      tokenHash: this.deps.tokens.hash(this.deps.tokens.tokenFor(id)),
      requestOptions: requestKey,
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
