import type { Kysely, Selectable, UpdateQueryBuilder, UpdateResult } from 'kysely'
import { releaseUsage } from '../files/quota-repository.js'
import type { DB, FileStatus, TusConcat, TusUploadsTable } from '../schema.js'

type HeldUpdate = UpdateQueryBuilder<DB, 'tus_uploads', 'tus_uploads', UpdateResult>

/** A tus upload with what it needs of its files row. */
export type TusUpload = Selectable<TusUploadsTable> & {
  file_status: FileStatus
  reserved_bytes: number
  storage_key: string
  name: string
  envelope: string | null
}

export interface NewUpload {
  id: string
  fileId: string
  ownerId: string
  name: string
  storageKey: string
  driver: string
  claimedContentType: string | null
  fileExpiresAt: Date | null
  length: number | null
  concat: TusConcat
  metadata: string | null
  appendHandle: string | null
  expiresAt: Date
}

export interface Advance {
  from: number
  to: number
  /** The carry blob the row names from now on (null: none). */
  carry: { key: string; envelope: string | null } | null
  expiresAt: Date
}

const UPLOAD_COLUMNS = [
  'tus_uploads.id',
  'tus_uploads.file_id',
  'tus_uploads.owner_id',
  'tus_uploads.upload_length',
  'tus_uploads.upload_offset',
  'tus_uploads.concat',
  'tus_uploads.metadata',
  'tus_uploads.append_handle',
  'tus_uploads.carry_key',
  'tus_uploads.carry_envelope',
  'tus_uploads.holder',
  'tus_uploads.lease_until',
  'tus_uploads.expires_at',
  'tus_uploads.completed_at',
  'tus_uploads.created_at',
  'files.status as file_status',
  'files.reserved_bytes',
  'files.storage_key',
  'files.name',
  'files.envelope',
] as const

/** tus uploads' rows. Every change to an upload in progress is conditional on its lease holder. */
export class UploadsRepository {
  constructor(private readonly db: Kysely<DB>) {}

  /** The pending files row (no lease: the tus sweep expires it) and the upload, together. */
  async create(upload: NewUpload): Promise<void> {
    const now = new Date()
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('files')
        .values({
          id: upload.fileId,
          owner_id: upload.ownerId,
          name: upload.name,
          storage_key: upload.storageKey,
          driver: upload.driver,
          claimed_content_type: upload.claimedContentType,
          status: 'pending',
          created_at: now,
          updated_at: now,
          expires_at: upload.fileExpiresAt,
          lease_until: null,
        })
        .execute()
      await trx
        .insertInto('tus_uploads')
        .values({
          id: upload.id,
          file_id: upload.fileId,
          owner_id: upload.ownerId,
          upload_length: upload.length,
          concat: upload.concat,
          metadata: upload.metadata,
          append_handle: upload.appendHandle,
          expires_at: upload.expiresAt,
        })
        .execute()
    })
  }

  find(ownerId: string, id: string): Promise<TusUpload | undefined> {
    return this.joined()
      .where('tus_uploads.id', '=', id)
      .where('tus_uploads.owner_id', '=', ownerId)
      .executeTakeFirst()
  }

  /**
   * Takes the upload for one writer: only if nobody holds a live lease on it and it has
   * neither expired nor completed. Undefined if it could not.
   */
  async claim(ownerId: string, id: string, holder: string, until: Date) {
    const now = new Date()
    const row = await this.#lease({ ownerId, ids: [id], holder, until, now })
      .where('completed_at', 'is', null)
      .where('expires_at', '>', now)
      .returning('id')
      .executeTakeFirst()
    return row ? this.find(ownerId, id) : undefined
  }

  /** Takes the upload to remove it, whatever its state, unless someone holds it. */
  async claimForRemoval(ownerId: string, id: string, holder: string, until: Date) {
    const row = await this.#lease({ ownerId, ids: [id], holder, until, now: new Date() })
      .returning('id')
      .executeTakeFirst()
    return row ? this.find(ownerId, id) : undefined
  }

  /** Several completed partial uploads of one owner, for a final concatenation. */
  async claimPartials(ownerId: string, ids: string[], holder: string, until: Date) {
    const now = new Date()
    const rows = await this.#lease({ ownerId, ids, holder, until, now })
      .where('concat', '=', 'partial')
      .where('completed_at', 'is not', null)
      .where('expires_at', '>', now)
      .returning('id')
      .execute()
    return rows.length
  }

  /** The UPDATE that leases these uploads of the owner to `holder`, where no live lease is. */
  #lease(lease: { ownerId: string; ids: string[]; holder: string; until: Date; now: Date }) {
    const { ownerId, ids, holder, until, now } = lease
    return this.db
      .updateTable('tus_uploads')
      .set({ holder, lease_until: until })
      .where('id', 'in', ids)
      .where('owner_id', '=', ownerId)
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
  }

  async findMany(ownerId: string, ids: string[]): Promise<TusUpload[]> {
    if (ids.length === 0) return []
    return this.joined()
      .where('tus_uploads.id', 'in', ids)
      .where('tus_uploads.owner_id', '=', ownerId)
      .execute()
  }

  /** False once another holder took the upload (this one's lease lapsed). */
  async renew(ids: string[], holder: string, until: Date): Promise<boolean> {
    const result = await this.db
      .updateTable('tus_uploads')
      .set({ lease_until: until })
      .where('id', 'in', ids)
      .where('holder', '=', holder)
      .executeTakeFirst()
    return Number(result.numUpdatedRows) === ids.length
  }

  async release(ids: string[], holder: string): Promise<void> {
    await this.db
      .updateTable('tus_uploads')
      .set({ holder: null, lease_until: null })
      .where('id', 'in', ids)
      .where('holder', '=', holder)
      .execute()
  }

  /** Moves the offset from `from` to `to`, only for the holder and only from where it was. */
  async advance(id: string, holder: string, step: Advance): Promise<boolean> {
    return this.updateHeld(id, holder, (update) =>
      update
        .set({
          upload_offset: step.to,
          carry_key: step.carry?.key ?? null,
          carry_envelope: step.carry?.envelope ?? null,
          expires_at: step.expiresAt,
        })
        .where('upload_offset', '=', step.from),
    )
  }

  /** Another append handle, only while no byte is recorded (nothing relies on the old one). */
  async replaceHandle(id: string, holder: string, appendHandle: string): Promise<boolean> {
    return this.updateHeld(id, holder, (update) =>
      update.set({ append_handle: appendHandle }).where('upload_offset', '=', 0),
    )
  }

  /** A deferred length, once the client knows it; set only once. */
  async setLength(id: string, holder: string, length: number): Promise<boolean> {
    return this.updateHeld(id, holder, (update) =>
      update.set({ upload_length: length }).where('upload_length', 'is', null),
    )
  }

  /** Applies `change` to the upload only while `holder` holds it; whether the row changed. */
  private async updateHeld(
    id: string,
    holder: string,
    change: (update: HeldUpdate) => HeldUpdate,
  ): Promise<boolean> {
    const held = this.db
      .updateTable('tus_uploads')
      .where('id', '=', id)
      .where('holder', '=', holder)
    const result = await change(held).executeTakeFirst()
    return result.numUpdatedRows === 1n
  }

  async markCompleted(id: string, length: number, trx: Kysely<DB> = this.db): Promise<void> {
    await trx
      .updateTable('tus_uploads')
      .set({
        upload_offset: length,
        completed_at: new Date(),
        carry_key: null,
        carry_envelope: null,
        holder: null,
        lease_until: null,
      })
      .where('id', '=', id)
      .execute()
  }

  /** A partial upload's blob is whole: its files row stays pending, never a file by itself. */
  async completePartial(
    id: string,
    fileId: string,
    blob: { size: number; envelope: string | null },
  ) {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('files')
        .set({ size: blob.size, envelope: blob.envelope, updated_at: new Date() })
        .where('id', '=', fileId)
        .where('status', '=', 'pending')
        .execute()
      await this.markCompleted(id, blob.size, trx)
    })
  }

  /**
   * Claims up to `limit` uploads the sweeper must remove: expired ones, and those whose
   * files row was hidden (the account was deleted). Nobody else may hold them.
   */
  async claimStale(limit: number, holder: string, until: Date): Promise<TusUpload[]> {
    const now = new Date()
    const claimed = await this.db
      .updateTable('tus_uploads')
      .set({ holder, lease_until: until })
      .where('id', 'in', (eb) =>
        eb
          .selectFrom('tus_uploads')
          .innerJoin('files', 'files.id', 'tus_uploads.file_id')
          .select('tus_uploads.id')
          .where((w) =>
            w.or([w('tus_uploads.expires_at', '<', now), w('files.status', '=', 'deleted')]),
          )
          .where((w) =>
            w.or([
              w('tus_uploads.lease_until', 'is', null),
              w('tus_uploads.lease_until', '<', now),
            ]),
          )
          .limit(limit)
          .forUpdate()
          .skipLocked(),
      )
      .returning('id')
      .execute()
    if (claimed.length === 0) return []
    return this.joined()
      .where(
        'tus_uploads.id',
        'in',
        claimed.map((row) => row.id),
      )
      .execute()
  }

  /** Forgets an upload whose bytes are gone (or belong to a committed file now). */
  async remove(id: string, holder: string): Promise<void> {
    await this.db
      .deleteFrom('tus_uploads')
      .where('id', '=', id)
      .where('holder', '=', holder)
      .execute()
  }

  /**
   * Turns completed partial uploads into one available file, in one transaction: the
   * partials' files rows become deleted (their blobs are purged next) and hand their
   * reservations to the final file, which now counts its size; the final upload is
   * recorded complete. False, with nothing changed, if a partial or the final row moved on.
   */
  concatenate(input: {
    holder: string
    partials: TusUpload[]
    final: Pick<NewUpload, 'id' | 'fileId' | 'ownerId' | 'metadata' | 'expiresAt'>
    content: { size: number; sha256: string; contentType: string; envelope: string | null }
  }): Promise<boolean> {
    const { holder, partials, final, content } = input
    return this.db
      .transaction()
      .execute(async (trx) => {
        const now = new Date()
        const taken = await trx
          .deleteFrom('tus_uploads')
          .where(
            'id',
            'in',
            partials.map((p) => p.id),
          )
          .where('holder', '=', holder)
          .returning('file_id')
          .execute()
        if (taken.length !== partials.length) throw new Moved()
        const fileIds = taken.map((row) => row.file_id)
        const held = await trx
          .selectFrom('files')
          .select('reserved_bytes')
          .where('id', 'in', fileIds)
          .where('status', '=', 'pending')
          .forUpdate()
          .execute()
        if (held.length !== partials.length) throw new Moved()
        const reserved = held.reduce((sum, row) => sum + row.reserved_bytes, 0)
        await trx
          .updateTable('files')
          .set({ status: 'deleted', reserved_bytes: 0, lease_until: null, updated_at: now })
          .where('id', 'in', fileIds)
          .execute()
        const file = await trx
          .updateTable('files')
          .set({
            status: 'available',
            size: content.size,
            sha256: content.sha256,
            content_type: content.contentType,
            envelope: content.envelope,
            reserved_bytes: 0,
            lease_until: null,
            updated_at: now,
          })
          .where('id', '=', final.fileId)
          .where('status', '=', 'pending')
          .returning('id')
          .executeTakeFirst()
        if (!file) throw new Moved()
        await releaseUsage(trx, [{ ownerId: final.ownerId, bytes: reserved - content.size }])
        await trx
          .insertInto('tus_uploads')
          .values({
            id: final.id,
            file_id: final.fileId,
            owner_id: final.ownerId,
            upload_length: content.size,
            upload_offset: content.size,
            concat: 'final',
            metadata: final.metadata,
            expires_at: final.expiresAt,
            completed_at: now,
          })
          .execute()
        return true
      })
      .catch((err: unknown) => {
        if (err instanceof Moved) return false
        throw err
      })
  }

  private joined() {
    return this.db
      .selectFrom('tus_uploads')
      .innerJoin('files', 'files.id', 'tus_uploads.file_id')
      .select(UPLOAD_COLUMNS)
  }
}

/** Rolls back concatenate when a row it needs has moved on. */
class Moved extends Error {}
