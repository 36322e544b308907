import type { Kysely } from 'kysely'
import type { DB, IdempotencyKeysTable } from '../schema.js'

export type IdempotencyRecord = Pick<
  IdempotencyKeysTable,
  'status' | 'fingerprint' | 'lease_until' | 'response_status' | 'response_body' | 'created_at'
>

export interface KeyRef {
  userId: string
  key: string
}

export interface NewClaim extends KeyRef {
  claim: string
  fingerprint: string | null
  leaseUntil: Date
  now: Date
  /** A row created at or before this is past its lifetime and counts as absent. */
  expiredBefore: Date
}

/** The rows behind Idempotency-Key; every change is one conditional statement. */
export class IdempotencyRepository {
  constructor(private readonly db: Kysely<DB>) {}

  /**
   * Takes the key: inserts the row, or takes over one that is past its lifetime or whose
   * holder's lease lapsed. ON CONFLICT re-checks that condition on the row's latest version,
   * so of concurrent claimants exactly one gets true.
   */
  async claim(c: NewClaim): Promise<boolean> {
    const row = await this.db
      .insertInto('idempotency_keys')
      .values({
        user_id: c.userId,
        key: c.key,
        claim: c.claim,
        status: 'processing',
        fingerprint: c.fingerprint,
        lease_until: c.leaseUntil,
        created_at: c.now,
      })
      .onConflict((oc) =>
        oc
          .columns(['user_id', 'key'])
          .doUpdateSet((eb) => ({
            claim: eb.ref('excluded.claim'),
            status: 'processing',
            fingerprint: eb.ref('excluded.fingerprint'),
            lease_until: eb.ref('excluded.lease_until'),
            response_status: null,
            response_body: null,
            created_at: eb.ref('excluded.created_at'),
          }))
          .where((eb) =>
            eb.or([
              eb('idempotency_keys.created_at', '<=', c.expiredBefore),
              eb.and([
                eb('idempotency_keys.status', '=', 'processing'),
                eb('idempotency_keys.lease_until', '<', c.now),
              ]),
            ]),
          ),
      )
      .returning('claim')
      .executeTakeFirst()
    return row?.claim === c.claim
  }

  find(ref: KeyRef): Promise<IdempotencyRecord | undefined> {
    return this.db
      .selectFrom('idempotency_keys')
      .select([
        'status',
        'fingerprint',
        'lease_until',
        'response_status',
        'response_body',
        'created_at',
      ])
      .where('user_id', '=', ref.userId)
      .where('key', '=', ref.key)
      .executeTakeFirst()
  }

  /** Extends the holder's lease; false once the claim is no longer its own. */
  async renew(ref: KeyRef, claim: string, leaseUntil: Date): Promise<boolean> {
    const result = await this.db
      .updateTable('idempotency_keys')
      .set({ lease_until: leaseUntil })
      .where('user_id', '=', ref.userId)
      .where('key', '=', ref.key)
      .where('claim', '=', claim)
      .where('status', '=', 'processing')
      .executeTakeFirst()
    return Number(result.numUpdatedRows) > 0
  }

  /** Records the response; false if the claim was lost (its lease lapsed and was taken). */
  async complete(
    ref: KeyRef,
    claim: string,
    result: { fingerprint: string; status: number; body: string },
  ): Promise<boolean> {
    const updated = await this.db
      .updateTable('idempotency_keys')
      .set({
        status: 'completed',
        fingerprint: result.fingerprint,
        response_status: result.status,
        response_body: result.body,
        lease_until: null,
      })
      .where('user_id', '=', ref.userId)
      .where('key', '=', ref.key)
      .where('claim', '=', claim)
      .where('status', '=', 'processing')
      .executeTakeFirst()
    return Number(updated.numUpdatedRows) > 0
  }

  /** Frees the key for a retry, unless another request holds it by now. */
  async release(ref: KeyRef, claim: string): Promise<void> {
    await this.db
      .deleteFrom('idempotency_keys')
      .where('user_id', '=', ref.userId)
      .where('key', '=', ref.key)
      .where('claim', '=', claim)
      .where('status', '=', 'processing')
      .execute()
  }
}
