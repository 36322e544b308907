import { type FileHandle, mkdir, open, rename, rm, stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import {
  assertAppendKey,
  assertBlock,
  assertBlockSize,
  assertCompletion,
  type BlockRef,
  exactLength,
} from './append-rules.js'
import type { AppendHandle } from './appendable-blob-store.js'
import { FileWriter } from './file-writer.js'
import {
  appendPartialName,
  isMissing,
  syncDirectory,
  TMP_DIR,
  unlessMissing,
} from './local-files.js'
import { safeJoin } from './safe-path.js'
import { AppendNotFoundError, InvalidAppendError } from './storage-errors.js'

/**
 * Appendable blobs on local disk: block i is written at `i × blockSize` into one partial file
 * beside put's temporary files, named after the key, so listPartials reports it with its key
 * (its mtime moves with every block) and removePartial discards it. completeAppend truncates
 * it to the blob's size and renames it to its key, so the blob appears whole or not at all.
 */
export class LocalAppends {
  readonly #root: string

  constructor(root: string) {
    this.#root = root
  }

  async begin(key: string, options: { blockSize: number }): Promise<AppendHandle> {
    assertAppendKey(key)
    assertBlockSize(options.blockSize)
    const tmpDir = join(this.#root, TMP_DIR)
    await mkdir(tmpDir, { recursive: true })
    await (await open(safeJoin(tmpDir, appendPartialName(key)), 'wx')).close()
    // Durable before the caller records the handle: a crash must not lose a file it names.
    await syncDirectory(tmpDir)
    return { key, blockSize: options.blockSize, state: {} }
  }

  async write(
    handle: AppendHandle,
    block: BlockRef,
    body: Readable,
    options: { signal?: AbortSignal; sync?: boolean } = {},
  ): Promise<void> {
    assertBlock(handle, block)
    const path = this.#partialOf(handle)
    const file = await this.#openPartial(handle, path)
    try {
      await pipeline(
        body,
        exactLength(block.length),
        new FileWriter(file, block.index * handle.blockSize),
        { signal: options.signal },
      )
      if (options.sync !== false) await file.datasync()
      // Removed (aborted, or reaped as abandoned) while the block streamed: its bytes went
      // into a file nobody can complete any more.
      const current = await unlessMissing(stat(path))
      if (current?.ino !== (await file.stat()).ino) throw new AppendNotFoundError(handle.key)
    } finally {
      // A failed close must not mask why the write failed.
      await file.close().catch(() => undefined)
    }
  }

  /** fdatasync works on the file, not the descriptor: it covers what other handles wrote. */
  async sync(handle: AppendHandle): Promise<void> {
    const file = await this.#openPartial(handle, this.#partialOf(handle))
    try {
      await file.datasync()
    } finally {
      await file.close().catch(() => undefined)
    }
  }

  async complete(
    handle: AppendHandle,
    options: { blocks: number; size: number },
  ): Promise<{ envelope?: string }> {
    assertCompletion(handle, options)
    const path = this.#partialOf(handle)
    const target = safeJoin(this.#root, handle.key)
    const file = await unlessMissing(open(path, 'r+'))
    if (!file) {
      // Already completed: a caller that never heard the answer asks again.
      if ((await unlessMissing(stat(target)))?.size === options.size) return {}
      throw new AppendNotFoundError(handle.key)
    }
    try {
      // Short of the size means the final block was never written; a block missing before it
      // would read as zeros, which only the caller's record of the blocks written can tell.
      if ((await file.stat()).size < options.size) {
        throw new InvalidAppendError(`blocks written do not make ${options.size} bytes`)
      }
      // Drops anything a longer final block written earlier left past the end.
      await file.truncate(options.size)
      await file.sync()
    } finally {
      await file.close()
    }
    await mkdir(dirname(target), { recursive: true })
    await rename(path, target).catch(async (error: unknown) => {
      // Another process completed it between our open and rename.
      if (isMissing(error) && (await unlessMissing(stat(target)))?.size === options.size) return
      throw error
    })
    // The rename is durable only once its directory entry is on disk.
    await syncDirectory(dirname(target))
    return {}
  }

  async abort(handle: AppendHandle): Promise<void> {
    await rm(this.#partialOf(handle), { force: true })
  }

  async #openPartial(handle: AppendHandle, path: string): Promise<FileHandle> {
    // r+: writes land where asked, and a partial already removed is not created again.
    const file = await unlessMissing(open(path, 'r+'))
    if (!file) throw new AppendNotFoundError(handle.key)
    return file
  }

  #partialOf(handle: AppendHandle): string {
    assertAppendKey(handle.key)
    return safeJoin(join(this.#root, TMP_DIR), appendPartialName(handle.key))
  }
}
