import { randomUUID } from 'node:crypto'
import { constants, createWriteStream } from 'node:fs'
import { access, mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { AppendHandle } from './appendable-blob-store.js'
import { assertBlobKey, BLOB_KEY_PREFIX, isOwnBlobKey } from './blob-key.js'
import type { BlobInfo, BlobStore, ByteRange, PartialWrite, PutResult } from './blob-store.js'
import { assertByteRange } from './byte-range.js'
import { HashingMeter } from './hashing-meter.js'
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
// How much of an upload may queue while a write is in flight; the queue goes out as one
// writev. At Node's 16 KiB a 1 GiB upload took 3.3–3.9 s of CPU and ran at 0.72–0.79× a bare
// server; at 1 MiB, 2.3–2.5 s and 0.91–0.96× (bench/upload.ts). Costs about this much memory
// per upload.
const WRITE_BUFFER_BYTES = 1024 * 1024

/** Blobs as files under `root`; each key is a relative path. */
export class LocalBlobStore implements BlobStore {
  readonly driver = 'local'
  readonly #root: string
  readonly #appends: LocalAppends

  constructor(options: { root: string }) {
    this.#root = resolve(options.root)
    this.#appends = new LocalAppends(this.#root)
  }

  async put(key: string, body: Readable, options?: { signal?: AbortSignal }): Promise<PutResult> {
    const target = this.#pathOf(key)
    const tmpDir = join(this.#root, TMP_DIR)
    await mkdir(tmpDir, { recursive: true })
    const tmp = safeJoin(tmpDir, randomUUID())
    const meter = new HashingMeter()
    try {
      await writeDurably(tmp, body, meter, options?.signal)
      await mkdir(dirname(target), { recursive: true })
      await rename(tmp, target)
      // The rename is durable only once its directory entry is on disk.
      await syncDirectory(dirname(target))
    } catch (error) {
      await rm(tmp, { force: true }).catch(() => undefined)
      throw error
    }
    return meter.result()
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    if (range) assertByteRange(range)
    const path = this.#pathOf(key)
    // Opening first turns a missing blob into a rejection here rather than an error event
    // on a stream the caller may already have handed to a response.
    const file = await open(path, 'r').catch((error: unknown) => {
      throw isMissing(error) ? new BlobNotFoundError(key) : error
    })
    try {
      if (!(await file.stat()).isFile()) throw new BlobNotFoundError(key)
    } catch (error) {
      await file.close()
      throw error
    }
    return file.createReadStream({ ...range, highWaterMark: READ_CHUNK_BYTES })
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

  #pathOf(key: string): string {
    assertBlobKey(key)
    return safeJoin(this.#root, key)
  }
}

async function writeDurably(
  path: string,
  body: Readable,
  meter: HashingMeter,
  signal: AbortSignal | undefined,
): Promise<void> {
  const file = await open(path, 'wx')
  try {
    // A write stream gathers the chunks that queue up during a write into one writev; a
    // stream on the bare descriptor (not file.createWriteStream()) leaves it open for sync().
    const stream = createWriteStream(path, {
      fd: file.fd,
      autoClose: false,
      highWaterMark: WRITE_BUFFER_BYTES,
    })
    await pipeline(body, meter, stream, { signal })
    await file.sync()
  } catch (error) {
    // A failed close must not mask why the write failed.
    await file.close().catch(() => undefined)
    throw error
  }
  await file.close()
}

/** A directory's entries in code-unit order (byte order for these ASCII names); none if absent. */
async function sortedNames(dir: string): Promise<string[]> {
  const names = (await unlessMissing(readdir(dir))) ?? []
  return names.sort()
}
