import { randomUUID } from 'node:crypto'
import { constants } from 'node:fs'
import {
  access,
  type FileHandle,
  mkdir,
  open,
  readdir,
  rename,
  rm,
  stat,
  unlink,
} from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { countedAsFresh } from '../infra/fresh-buffers.js'
import type { AppendHandle } from './appendable-blob-store.js'
import { assertBlobKey, BLOB_KEY_PREFIX, isOwnBlobKey } from './blob-key.js'
import type {
  BlobInfo,
  BlobStore,
  ByteRange,
  PartialWrite,
  PutOptions,
  PutResult,
  StoredBlob,
} from './blob-store.js'
import { assertByteRange } from './byte-range.js'
import { FileWriter } from './file-writer.js'
import { HashingMeter } from './hashing-meter.js'
import { BufferPool, filePieces, type LendingStore, type LentPieces } from './lent-pieces.js'
import { LocalAppends } from './local-append.js'
import {
  isMissing,
  keyOfPartial,
  syncDirectory,
  TMP_DIR,
  TMP_NAME,
  unlessMissing,
} from './local-files.js'
import { safeJoin } from './safe-path.js'
import { BlobNotFoundError } from './storage-errors.js'

// The fan-out directories newBlobKey() makes under its prefix.
const FAN_OUT_NAME = /^[0-9a-f]{2}$/
// Four times Node's default. Each chunk costs a read, a Buffer and a socket write; at 256 KiB
// ranged downloads took ~35% less CPU per byte than at 64 KiB (bench/api.ts, part b).
const READ_CHUNK_BYTES = 256 * 1024

/** Blobs as files under `root`; each key is a relative path. */
export class LocalBlobStore implements BlobStore, LendingStore {
  readonly driver = 'local'
  readonly #root: string
  readonly #appends: LocalAppends
  // Two per read in progress; enough for a few at once, 2 MiB at most.
  readonly #lentBuffers = new BufferPool({ size: READ_CHUNK_BYTES, keep: 8 })

  constructor(options: { root: string }) {
    this.#root = resolve(options.root)
    this.#appends = new LocalAppends(this.#root)
  }

  put(key: string, body: Readable, options: PutOptions & { hash: false }): Promise<StoredBlob>
  put(key: string, body: Readable, options?: PutOptions): Promise<PutResult>
  async put(key: string, body: Readable, options?: PutOptions): Promise<StoredBlob | PutResult> {
    const target = this.#pathOf(key)
    const tmpDir = join(this.#root, TMP_DIR)
    await mkdir(tmpDir, { recursive: true })
    const tmp = safeJoin(tmpDir, randomUUID())
    // Without a digest to compute, nothing needs to see the bytes between body and file.
    const meter = options?.hash === false ? undefined : new HashingMeter()
    let size: number
    try {
      size = await writeDurably(tmp, body, meter, options?.signal)
      await mkdir(dirname(target), { recursive: true })
      await rename(tmp, target)
      // The rename is durable only once its directory entry is on disk.
      await syncDirectory(dirname(target))
    } catch (error) {
      await rm(tmp, { force: true }).catch(() => undefined)
      throw error
    }
    return meter ? meter.result() : { size }
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    const file = await this.#openBlob(key, range)
    return countedAsFresh(file.createReadStream({ ...range, highWaterMark: READ_CHUNK_BYTES }))
  }

  /** See LendingStore: EncryptedBlobStore reads its ciphertext this way. */
  async lend(key: string, range?: ByteRange): Promise<LentPieces> {
    return filePieces(await this.#openBlob(key, range), this.#lentBuffers, range)
  }

  async head(key: string): Promise<BlobInfo | undefined> {
    const stats = await unlessMissing(stat(this.#pathOf(key)))
    if (!stats?.isFile()) return undefined
    return { key, size: stats.size, lastModified: stats.mtime }
  }

  async delete(key: string): Promise<void> {
    await unlessMissing(unlink(this.#pathOf(key)))
  }

  async *list(options: { after?: string } = {}): AsyncIterable<BlobInfo> {
    const { after } = options
    const prefixDir = join(this.#root, BLOB_KEY_PREFIX)
    for (const fanOut of await sortedNames(prefixDir)) {
      if (!FAN_OUT_NAME.test(fanOut)) continue
      const dirKey = `${BLOB_KEY_PREFIX}${fanOut}/`
      // Past every key in this directory: skip it without reading it.
      if (after !== undefined && after > dirKey && !after.startsWith(dirKey)) continue
      for (const name of await sortedNames(join(prefixDir, fanOut))) {
        const key = dirKey + name
        if (!isOwnBlobKey(key) || (after !== undefined && key <= after)) continue
        // A concurrent delete may remove the file between reading the directory and here.
        const stats = await unlessMissing(stat(join(prefixDir, fanOut, name)))
        if (stats?.isFile()) yield { key, size: stats.size, lastModified: stats.mtime }
      }
    }
  }

  async *listPartials(): AsyncIterable<PartialWrite> {
    const tmpDir = join(this.#root, TMP_DIR)
    for (const name of await sortedNames(tmpDir)) {
      if (!TMP_NAME.test(name)) continue
      // Every write moves mtime on, so a put still streaming always looks recent.
      const stats = await unlessMissing(stat(join(tmpDir, name)))
      if (stats?.isFile()) yield { id: name, key: keyOfPartial(name), since: stats.mtime }
    }
  }

  async removePartial(partial: PartialWrite): Promise<void> {
    if (!TMP_NAME.test(partial.id)) {
      throw new Error(`Not a partial write: ${JSON.stringify(partial.id.slice(0, 100))}`)
    }
    // A put still writing keeps its descriptor and writes on, but its final rename fails.
    await rm(safeJoin(join(this.#root, TMP_DIR), partial.id), { force: true })
  }

  beginAppend(key: string, options: { blockSize: number }): Promise<AppendHandle> {
    return this.#appends.begin(key, options)
  }

  appendBlock(
    handle: AppendHandle,
    block: { index: number; length: number; final: boolean },
    body: Readable,
    options?: { signal?: AbortSignal; sync?: boolean },
  ): Promise<void> {
    return this.#appends.write(handle, block, body, options)
  }

  syncAppend(handle: AppendHandle): Promise<void> {
    return this.#appends.sync(handle)
  }

  completeAppend(handle: AppendHandle, options: { blocks: number; size: number }) {
    return this.#appends.complete(handle, options)
  }

  abortAppend(handle: AppendHandle): Promise<void> {
    return this.#appends.abort(handle)
  }

  async ping(): Promise<void> {
    await mkdir(this.#root, { recursive: true })
    await access(this.#root, constants.R_OK | constants.W_OK)
  }

  // Opening first turns a missing blob into a rejection here rather than an error event on
  // a stream the caller may already have handed to a response.
  async #openBlob(key: string, range: ByteRange | undefined): Promise<FileHandle> {
    if (range) assertByteRange(range)
    const file = await open(this.#pathOf(key), 'r').catch((error: unknown) => {
      throw isMissing(error) ? new BlobNotFoundError(key) : error
    })
    try {
      if (!(await file.stat()).isFile()) throw new BlobNotFoundError(key)
    } catch (error) {
      await file.close()
      throw error
    }
    return file
  }

  #pathOf(key: string): string {
    assertBlobKey(key)
    return safeJoin(this.#root, key)
  }
}

/** Writes `body` (through `meter`, if any) to a new file at `path`; resolves to its size. */
async function writeDurably(
  path: string,
  body: Readable,
  meter: HashingMeter | undefined,
  signal: AbortSignal | undefined,
): Promise<number> {
  const file = await open(path, 'wx')
  let size: number
  try {
    const writer = new FileWriter(file)
    if (meter) await pipeline(body, meter, writer, { signal })
    else await pipeline(body, writer, { signal })
    size = writer.bytesWritten
    await file.sync()
  } catch (error) {
    // A failed close must not mask why the write failed. The close waits for a write still
    // in flight, so nothing lands in a file that reuses the descriptor.
    await file.close().catch(() => undefined)
    throw error
  }
  await file.close()
  return size
}

/** A directory's entries in code-unit order (byte order for these ASCII names); none if absent. */
async function sortedNames(dir: string): Promise<string[]> {
  const names = (await unlessMissing(readdir(dir))) ?? []
  return names.sort()
}
