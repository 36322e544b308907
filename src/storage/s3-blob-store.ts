import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  paginateListObjectsV2,
  S3Client,
} from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import type { S3Config } from '../config.js'
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
import { HashingMeter } from './hashing-meter.js'
import { S3Appends } from './s3-append.js'
import { isNoSuchUpload, isNotFound, unavailable } from './s3-errors.js'
import { BlobNotFoundError, StorageUnavailableError } from './storage-errors.js'

export interface S3BlobStoreOptions {
  client: S3Client
  bucket: string
  partSizeBytes: number
  queueSize: number
}

/** Builds the client for any S3-compatible store. */
export function createS3Client(config: S3Config): S3Client {
  return new S3Client({
    region: config.region,
    endpoint: config.endpoint,
    forcePathStyle: config.forcePathStyle,
    // Without both keys, the default provider chain applies (environment, IAM role …).
    credentials:
      config.accessKeyId && config.secretAccessKey
        ? { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey }
        : undefined,
    // The default "flexible checksums" send aws-chunked bodies, which some S3-compatible
    // servers (s3rver, for one) store verbatim, framing included.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 3,
    // An idle timeout rather than a total one: a multi-GiB part may rightly take minutes,
    // but a peer silent that long (a minute by default) is gone. It also ends a download
    // stream whose reader has stalled that long.
    requestHandler: { connectionTimeout: 5_000, socketTimeout: config.idleTimeoutMs },
  })
}

/** Blobs as objects in one bucket; each key is an object key. */
export class S3BlobStore implements BlobStore {
  readonly driver = 's3'
  readonly #client: S3Client
  readonly #bucket: string
  readonly #partSize: number
  readonly #queueSize: number
  readonly #appends: S3Appends

  constructor(options: S3BlobStoreOptions) {
    this.#client = options.client
    this.#bucket = options.bucket
    this.#partSize = options.partSizeBytes
    this.#queueSize = options.queueSize
    this.#appends = new S3Appends({ client: options.client, bucket: options.bucket })
  }

  put(key: string, body: Readable, options: PutOptions & { hash: false }): Promise<StoredBlob>
  put(key: string, body: Readable, options?: PutOptions): Promise<PutResult>
  async put(key: string, body: Readable, options?: PutOptions): Promise<StoredBlob | PutResult> {
    assertBlobKey(key)
    const meter = new HashingMeter({ hash: options?.hash })
    const upload = new Upload({
      client: this.#client,
      params: { Bucket: this.#bucket, Key: key, Body: meter },
      partSize: this.#partSize,
      queueSize: this.#queueSize,
      leavePartsOnError: false,
    })
    // A body error or abort destroys the meter, which fails the upload from inside: done()
    // then settles only after lib-storage has aborted the multipart upload (upload.abort()
    // would reject at once and leave that work running). An upload failure destroys the
    // meter in turn, so the body stops being read. Either way the pipeline keeps the first
    // error: the body's, the abort's, or the store's.
    const [piped, uploaded] = await Promise.allSettled([
      pipeline(body, meter, { signal: options?.signal }),
      upload.done().catch((error: unknown) => {
        const failure = unavailable(error)
        meter.destroy(failure)
        throw failure
      }),
    ])
    const failed = [piped, uploaded].find((result) => result.status === 'rejected')
    if (!failed) return meter.result()
    // lib-storage cleans up only uploads that never completed; one completed on the server
    // whose reply was lost would otherwise stay behind.
    await this.delete(key).catch(() => undefined)
    throw failed.reason
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    assertBlobKey(key)
    if (range) assertByteRange(range)
    const response = await this.#client
      .send(
        new GetObjectCommand({
          Bucket: this.#bucket,
          Key: key,
          Range: range && `bytes=${range.start}-${range.end}`,
        }),
      )
      .catch((error: unknown) => {
        throw isNotFound(error) ? new BlobNotFoundError(key) : unavailable(error)
      })
    const body = response.Body
    if (!(body instanceof Readable)) {
      throw new StorageUnavailableError('The file store returned no readable body')
    }
    if (!range) return body
    // A server may ignore Range and send the whole object (RFC 9110 allows it), or send more
    // than asked (s3rver turns `bytes=0-0` into the whole object): cut out what was asked.
    const served = parseContentRange(response.ContentRange) ?? { start: 0, end: Infinity }
    if (served.start === range.start && served.end <= range.end) return body
    if (served.start > range.start) {
      body.destroy()
      throw new StorageUnavailableError('The file store returned the wrong byte range')
    }
    return Readable.from(slice(body, range.start - served.start, range.end - range.start + 1))
  }

  async head(key: string): Promise<BlobInfo | undefined> {
    assertBlobKey(key)
    try {
      const response = await this.#client.send(
        new HeadObjectCommand({ Bucket: this.#bucket, Key: key }),
      )
      return {
        key,
        size: response.ContentLength ?? 0,
        lastModified: response.LastModified ?? new Date(0),
      }
    } catch (error) {
      if (isNotFound(error)) return undefined
      throw unavailable(error)
    }
  }

  async delete(key: string): Promise<void> {
    assertBlobKey(key)
    await this.#client
      .send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: key }))
      .catch((error: unknown) => {
        throw unavailable(error)
      })
  }

  async *list(options: { after?: string } = {}): AsyncIterable<BlobInfo> {
    try {
      const pages = paginateListObjectsV2(
        { client: this.#client },
        { Bucket: this.#bucket, Prefix: BLOB_KEY_PREFIX, StartAfter: options.after },
      )
      for await (const page of pages) {
        for (const object of page.Contents ?? []) {
          if (object.Key === undefined || !isOwnBlobKey(object.Key)) continue
          yield {
            key: object.Key,
            size: object.Size ?? 0,
            lastModified: object.LastModified ?? new Date(0),
          }
        }
      }
    } catch (error) {
      throw unavailable(error)
    }
  }

  async *listPartials(): AsyncIterable<PartialWrite> {
    let markers: { KeyMarker?: string; UploadIdMarker?: string } = {}
    for (;;) {
      const page = await this.#client
        .send(
          new ListMultipartUploadsCommand({
            Bucket: this.#bucket,
            Prefix: BLOB_KEY_PREFIX,
            ...markers,
          }),
        )
        .catch((error: unknown) => {
          throw unavailable(error)
        })
      for (const upload of page.Uploads ?? []) {
        const { Key: key, UploadId: id } = upload
        if (key === undefined || id === undefined || !isOwnBlobKey(key)) continue
        yield { id, key, since: upload.Initiated ?? new Date(0) }
      }
      if (!page.IsTruncated) return
      markers = { KeyMarker: page.NextKeyMarker, UploadIdMarker: page.NextUploadIdMarker }
    }
  }

  async removePartial(partial: PartialWrite): Promise<void> {
    if (partial.key === undefined) throw new Error('An S3 partial write needs its key')
    assertBlobKey(partial.key)
    await this.#client
      .send(
        new AbortMultipartUploadCommand({
          Bucket: this.#bucket,
          Key: partial.key,
          UploadId: partial.id,
        }),
      )
      .catch((error: unknown) => {
        // Already aborted, or completed after all: either way there is nothing to discard.
        if (isNoSuchUpload(error)) return
        throw unavailable(error)
      })
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
    await this.#client
      .send(new HeadBucketCommand({ Bucket: this.#bucket }))
      .catch((error: unknown) => {
        throw unavailable(error)
      })
  }
}

function parseContentRange(value: string | undefined): ByteRange | undefined {
  const match = /^bytes (\d+)-(\d+)\//.exec(value ?? '')
  return match ? { start: Number(match[1]), end: Number(match[2]) } : undefined
}

async function* slice(source: Readable, skip: number, take: number): AsyncGenerator<Buffer> {
  for await (const chunk of source as AsyncIterable<Buffer>) {
    const from = Math.min(skip, chunk.length)
    skip -= from
    const part = chunk.subarray(from, from + take)
    take -= part.length
    if (part.length > 0) yield part
    if (take === 0) return
  }
}
