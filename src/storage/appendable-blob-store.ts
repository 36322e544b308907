import type { Readable } from 'node:stream'

/**
 * Where a blob written block by block stands. The caller keeps it (it is JSON-safe) with
 * the upload's row and hands it back on every later call, from any process: nothing about
 * an appendable write lives only in one process's memory or on one instance's disk.
 */
export interface AppendHandle {
  key: string
  /**
   * Plaintext bytes of every block but the final one, as given to beginAppend. Stores keep
   * it nowhere else, so a caller may change it (within beginAppend's rules) while it counts
   * on no block written so far: those must all be written again.
   */
  blockSize: number
  /** What the store needs to go on (an S3 upload id, an encrypted store's wrapped data key). */
  state: Record<string, string>
}

/**
 * A blob written as a run of fixed-size blocks across requests and processes (tus uploads).
 * Block `i` covers plaintext bytes `i × blockSize` up to the next block; every block but the
 * final one holds exactly `blockSize` bytes. Writing a block again replaces it, so a write
 * whose outcome the caller never recorded is simply repeated. Blocks past the count given to
 * completeAppend are ignored. Nothing is readable at `key` until completeAppend.
 */
export interface AppendableBlobStore {
  /**
   * `key` comes from newBlobKey() (listPartials reports no other). `blockSize` is a multiple
   * of 64 KiB and at least 5 MiB (S3's smallest part). S3 takes at most 10,000 parts, so a
   * blob of up to `max` bytes needs `blockSize ≥ max / 10,000`.
   */
  beginAppend(key: string, options: { blockSize: number }): Promise<AppendHandle>
  /**
   * Writes block `index` from `body`, which yields exactly `length` bytes; resolves once the
   * bytes are durable, or with `sync: false` once they are written: durable only after a
   * later syncAppend, so a caller may record them only then. `length` must equal blockSize
   * unless `final`; only block 0 may be empty (an empty blob). Rejects with the body's error
   * (or the signal's) and then the block counts as never written; with AppendNotFoundError
   * once the append is aborted or removed.
   */
  appendBlock(
    handle: AppendHandle,
    block: { index: number; length: number; final: boolean },
    body: Readable,
    options?: { signal?: AbortSignal; sync?: boolean },
  ): Promise<void>
  /**
   * Makes every block written so far durable (one sync for many blocks written with
   * `sync: false`). Rejects with AppendNotFoundError if the append is known to be gone; a
   * store whose every write is durable at once (S3) resolves without asking.
   */
  syncAppend(handle: AppendHandle): Promise<void>
  /**
   * Makes blocks 0..blocks-1 (the last one written with `final`) the blob at `key`, `size`
   * plaintext bytes long, readable with BlobStore.get and the returned envelope. Asked again
   * after it succeeded (its answer lost), it answers the same.
   */
  completeAppend(
    handle: AppendHandle,
    options: { blocks: number; size: number },
  ): Promise<{ envelope?: string }>
  /** Discards every block written. Idempotent. */
  abortAppend(handle: AppendHandle): Promise<void>
}
