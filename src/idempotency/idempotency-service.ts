import { createHmac, randomUUID } from 'node:crypto'
import { ServiceUnavailableError } from '../errors.js'
import type { Logger } from '../infra/logger.js'
import { IdempotencyKeyInUseError, IdempotencyKeyReusedError } from './idempotency-errors.js'
import type { IdempotencyRepository, KeyRef } from './idempotency-repository.js'

/** How long a key is remembered: the draft's examples use 24 hours, and so does our README. */
export const KEY_LIFETIME_MS = 24 * 3600 * 1000

// Each round that ends without an answer saw the key freed or lapse in between, so the next
// claim can take it; the bound only guards against a surprise.
const MAX_CLAIM_ROUNDS = 3

export interface StoredResponse {
  status: number
  body: unknown
}

/** What begin() found: the key is ours to run the request under, or it has an answer. */
export type Begun =
  | { kind: 'claimed'; claim: IdempotencyClaim }
  | {
      kind: 'completed'
      /** The stored answer if `fingerprint` is the first request's; 422 otherwise. */
      replay(fingerprint: string): StoredResponse
    }

export interface IdempotencyServiceDeps {
  keys: IdempotencyRepository
  /** How long a claim outlives its request's last renewal (a crashed process's claim). */
  leaseMs: number
  /** Keys the fingerprints' HMAC: a share's body holds its password, never kept in clear. */
  secret: string
  logger: Logger
}

/**
 * Idempotency-Key (draft-ietf-httpapi-idempotency-key-header), for one user's requests on
 * any instance: the database row decides who runs a request, and holds its answer.
 */
export class IdempotencyService {
  private readonly hmacKey: Buffer

  constructor(private readonly deps: IdempotencyServiceDeps) {
    this.hmacKey = createHmac('sha256', deps.secret)
      .update('satchel:idempotency-fingerprint')
      .digest()
  }

  /** What a request is, reduced to a digest that tells it from any other request. */
  fingerprint(description: string): string {
    return createHmac('sha256', this.hmacKey).update(description).digest('hex')
  }

  /**
   * Claims the key for this request, or finds the earlier request that has it. A request
   * whose fingerprint is known up front (a JSON body) and differs gets 422 at once; one
   * still running gets 409. `fingerprint` is null for a body that streams.
   */
  async begin(ref: KeyRef, fingerprint: string | null): Promise<Begun> {
    const { keys, leaseMs } = this.deps
    for (let round = 0; round < MAX_CLAIM_ROUNDS; round++) {
      const now = new Date()
      const expiredBefore = new Date(now.getTime() - KEY_LIFETIME_MS)
      const claim = randomUUID()
      const leaseUntil = new Date(now.getTime() + leaseMs)
      if (await keys.claim({ ...ref, claim, fingerprint, leaseUntil, now, expiredBefore })) {
        return { kind: 'claimed', claim: new IdempotencyClaim(this.deps, ref, claim) }
      }
      const row = await keys.find(ref)
      // Released, past its lifetime or its lease since the claim looked: claim it again.
      if (!row || row.created_at <= expiredBefore) continue
      if (row.status === 'processing' && row.lease_until! < now) continue
      if (fingerprint !== null && row.fingerprint !== null && row.fingerprint !== fingerprint) {
        throw new IdempotencyKeyReusedError()
      }
      if (row.status === 'processing') throw new IdempotencyKeyInUseError()
      return {
        kind: 'completed',
        replay: (retried) => {
          if (retried !== row.fingerprint) throw new IdempotencyKeyReusedError()
          return { status: row.response_status!, body: JSON.parse(row.response_body!) }
        },
      }
    }
    throw new ServiceUnavailableError('The Idempotency-Key changed hands meanwhile; retry')
  }
}

/**
 * A request's hold on its key. The lease is renewed four times per lease while the request
 * runs, however long its body takes to stream, so only a dead process's claim ever lapses.
 */
export class IdempotencyClaim {
  private readonly timer: NodeJS.Timeout

  constructor(
    private readonly deps: IdempotencyServiceDeps,
    private readonly ref: KeyRef,
    readonly id: string,
  ) {
    const { keys, leaseMs, logger } = deps
    this.timer = setInterval(() => {
      keys.renew(ref, id, new Date(Date.now() + leaseMs)).catch((err: unknown) => {
        logger.warn({ err }, 'could not renew an Idempotency-Key lease')
      })
    }, leaseMs / 4)
    this.timer.unref()
  }

  /**
   * Stores the answer for retries. The request has succeeded whatever happens here, so a
   * failure is only logged: the key then frees itself once its lease lapses.
   */
  async complete(fingerprint: string, response: StoredResponse): Promise<void> {
    clearInterval(this.timer)
    const { keys, logger } = this.deps
    const body = JSON.stringify(response.body)
    try {
      if (
        !(await keys.complete(this.ref, this.id, { fingerprint, status: response.status, body }))
      ) {
        logger.warn('an Idempotency-Key claim lapsed before its request finished')
      }
    } catch (err) {
      logger.warn({ err }, 'could not store an Idempotency-Key response')
    }
  }

  /** Frees the key so that a retry runs afresh; a failure leaves it to the lease. */
  async release(): Promise<void> {
    clearInterval(this.timer)
    await this.deps.keys.release(this.ref, this.id).catch((err: unknown) => {
      this.deps.logger.warn({ err }, 'could not release an Idempotency-Key')
    })
  }
}
