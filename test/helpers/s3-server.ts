import { mkdtemp, readdir, readFile, rm, stat, utimes } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CreateMultipartUploadCommand, type S3Client, UploadPartCommand } from '@aws-sdk/client-s3'
import S3rver from 's3rver'
import type { S3Config } from '../../src/config.js'
import { createS3Client } from '../../src/storage/s3-blob-store.js'

export interface S3TestServer {
  endpoint: string
  bucket: string
  client: S3Client
  s3Config: S3Config
  /** The same settings as environment variables, for an app built with parseConfig. */
  env: Record<string, string>
  /** Multipart uploads begun and neither completed nor aborted. */
  pendingMultipartUploads(): Promise<number>
  /**
   * Begins a multipart upload of `key` and sends one part, as an instance killed mid-upload
   * leaves it; `initiated` back-dates it. Resolves to its upload id.
   */
  leaveMultipartUpload(key: string, options?: { initiated?: Date }): Promise<string>
  /** Sets when the bucket says a multipart upload began, to age it without waiting. */
  backdateMultipartUpload(uploadId: string, initiated: Date): Promise<void>
  /** Sets the LastModified the bucket reports for `key`, to age an object without waiting. */
  backdateObject(key: string, lastModified: Date): Promise<void>
  close(): Promise<void>
}

const BUCKET = 'satchel-test'

// Where s3rver's filesystem store keeps unfinished multipart uploads: one directory per
// upload id holding `key`, `metadata`, and each part as `<n>` beside `<n>.md5`
// (lib/stores/filesystem.js, initiateUpload and putPart).
const S3RVER_UPLOADS_DIR = '._S3rver_uploads'
// s3rver's upload ids are 32 hex digits; anything else must not become a path.
const UPLOAD_ID = /^[0-9a-f]{32}$/
const NO_SUCH_UPLOAD = {
  Error: {
    Code: 'NoSuchUpload',
    Message:
      'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
  },
}

/**
 * s3rver on a free loopback port, over a fresh directory. Its client speaks to it with
 * the same settings as production (createS3Client), 5 MiB parts so multipart is cheap to
 * reach. close() stops it and removes the directory.
 */
export async function startS3Server(): Promise<S3TestServer> {
  const directory = await mkdtemp(join(tmpdir(), 'satchel-s3rver-'))
  const s3rver = new S3rver({
    directory,
    silent: true,
    configureBuckets: [{ name: BUCKET, configs: [] }],
  })
  await s3rver.configureBuckets()
  const uploadsDir = join(directory, BUCKET, S3RVER_UPLOADS_DIR)
  const internals = s3rver as unknown as S3rverInternals
  listInKeyOrder(internals.store)
  keepDirectories(internals.store)
  // The router is the last middleware s3rver's constructor adds; ours goes just before it,
  // behind s3rver's XML encoding of plain-object bodies.
  internals.middleware.splice(-1, 0, multipartUploadRoutes(uploadsDir))
  const server = createServer(s3rver.callback())
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const { port } = server.address() as AddressInfo
  const endpoint = `http://127.0.0.1:${port}`
  const s3Config: S3Config = {
    bucket: BUCKET,
    endpoint,
    region: 'us-east-1',
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    forcePathStyle: true,
    partSizeBytes: 5 * 1024 * 1024,
    queueSize: 4,
    idleTimeoutMs: 60_000,
  }
  const client = createS3Client(s3Config)
  const backdateMultipartUpload = async (uploadId: string, initiated: Date) => {
    // Initiated is reported from the mtime of the file written when the upload began.
    const upload = await findUpload(uploadsDir, uploadId)
    if (!upload) throw new Error(`no multipart upload ${uploadId}`)
    await utimes(join(upload.dir, 'key'), initiated, initiated)
  }
  return {
    endpoint,
    bucket: BUCKET,
    client,
    s3Config,
    env: {
      STORAGE_DRIVER: 's3',
      S3_BUCKET: BUCKET,
      S3_ENDPOINT: endpoint,
      S3_REGION: s3Config.region,
      S3_ACCESS_KEY_ID: 'S3RVER',
      S3_SECRET_ACCESS_KEY: 'S3RVER',
      S3_FORCE_PATH_STYLE: 'true',
      S3_PART_SIZE_MB: '5',
    },
    pendingMultipartUploads: async () => (await readdir(uploadsDir).catch(() => [])).length,
    async leaveMultipartUpload(key, options = {}) {
      const { UploadId } = await client.send(
        new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key }),
      )
      if (!UploadId) throw new Error('s3rver returned no upload id')
      await client.send(
        new UploadPartCommand({
          Bucket: BUCKET,
          Key: key,
          UploadId,
          PartNumber: 1,
          Body: Buffer.alloc(1024, 1),
        }),
      )
      if (options.initiated) await backdateMultipartUpload(UploadId, options.initiated)
      return UploadId
    },
    backdateMultipartUpload,
    async backdateObject(key, lastModified) {
      // s3rver reports the mtime of `<dir>/<name>._S3rver_object` (getMetadata).
      const segments = key.split('/')
      const name = `${segments.pop()}._S3rver_object`
      const path = join(directory, BUCKET, ...segments, name)
      await utimes(path, lastModified, lastModified)
    },
    async close() {
      client.destroy()
      server.closeAllConnections()
      await new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      )
      await rm(directory, { recursive: true, force: true })
    },
  }
}

/** The parts of s3rver (a Koa app) this helper reaches into; @types/s3rver omits them. */
interface S3rverInternals {
  middleware: KoaMiddleware[]
  store: {
    listObjects(bucket: string, options: { maxKeys?: number }): Promise<ObjectListing>
    deleteObject(bucket: string, key: string): Promise<void>
    getResourcePath(bucket: string, key: string, suffix: string): string
  }
}

interface ObjectListing {
  objects: { key: string }[]
  isTruncated: boolean
}

interface KoaContext {
  method: string
  path: string
  query: Record<string, string | string[] | undefined>
  status: number
  body: unknown
}

type KoaMiddleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>

/**
 * S3 lists keys in UTF-8 binary order, which resuming a listing (StartAfter) relies on;
 * s3rver lists them in the order the file system returns directory entries. This sorts
 * the whole listing before cutting the page.
 */
function listInKeyOrder(store: S3rverInternals['store']): void {
  const listObjects = store.listObjects.bind(store)
  store.listObjects = async (bucket, options) => {
    const all = await listObjects(bucket, { ...options, maxKeys: Number.POSITIVE_INFINITY })
    const maxKeys = options.maxKeys ?? Number.POSITIVE_INFINITY
    const sorted = all.objects.sort((a, b) => compareKeys(a.key, b.key))
    return { ...all, objects: sorted.slice(0, maxKeys), isTruncated: sorted.length > maxKeys }
  }
}

/**
 * s3rver's deleteObject also removes the directories it leaves empty, and a put into one of
 * them between its mkdir and its open then failed on a write stream with no error listener:
 * an uncaught exception in the test process. S3 has no directories; empty ones stay here.
 */
function keepDirectories(store: S3rverInternals['store']): void {
  store.deleteObject = async (bucket, key) => {
    const files = ['object', 'object.md5', 'metadata.json']
    await Promise.all(
      files.map((suffix) => rm(store.getResourcePath(bucket, key, suffix), { force: true })),
    )
  }
}

/**
 * What s3rver lacks of the multipart API, from its own record of unfinished uploads:
 * ListMultipartUploads (501 in s3rver), AbortMultipartUpload and ListParts (405), and a
 * NoSuchUpload answer to UploadPart and CompleteMultipartUpload of an upload that no longer
 * exists (s3rver would recreate its directory, or fail with a 500). Signatures are not checked.
 */
function multipartUploadRoutes(uploadsDir: string): KoaMiddleware {
  return async (ctx, next) => {
    const [bucket, ...keyParts] = ctx.path.slice(1).split('/')
    if (bucket !== BUCKET) return next()
    const key = keyParts.map(decodeURIComponent).join('/')
    const uploadId = typeof ctx.query.uploadId === 'string' ? ctx.query.uploadId : undefined
    if (key === '' && ctx.method === 'GET' && 'uploads' in ctx.query) {
      ctx.body = await listUploads(uploadsDir, ctx.query)
      return
    }
    if (key === '' || uploadId === undefined) return next()
    const upload = await findUpload(uploadsDir, uploadId)
    if (upload?.key !== key) {
      ctx.status = 404
      ctx.body = NO_SUCH_UPLOAD
      return
    }
    if (ctx.method === 'DELETE') {
      // Again if a part being stored adds its file while the directory is being removed:
      // that failed the removal (ENOTEMPTY), the abort's retry found no upload, and the part
      // stayed behind.
      await rm(upload.dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 10 })
      ctx.status = 204
      return
    }
    if (ctx.method === 'GET') {
      ctx.body = await listParts(upload, ctx.query)
      return
    }
    return next()
  }
}

interface Upload {
  dir: string
  id: string
  key: string
  initiated: Date
}

async function findUpload(uploadsDir: string, id: string): Promise<Upload | undefined> {
  if (!UPLOAD_ID.test(id)) return undefined
  const dir = join(uploadsDir, id)
  try {
    const keyFile = join(dir, 'key')
    const [key, stats] = await Promise.all([readFile(keyFile, 'utf8'), stat(keyFile)])
    return { dir, id, key, initiated: stats.mtime }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

async function listUploads(uploadsDir: string, query: KoaContext['query']) {
  const prefix = stringParam(query.prefix) ?? ''
  const keyMarker = stringParam(query['key-marker']) ?? ''
  const idMarker = stringParam(query['upload-id-marker'])
  const maxUploads = Math.min(Number(stringParam(query['max-uploads']) ?? 1000), 1000)
  const ids = await readdir(uploadsDir).catch(() => [])
  const found = await Promise.all(ids.map((id) => findUpload(uploadsDir, id)))
  const uploads = found
    .filter((u): u is Upload => u?.key.startsWith(prefix) === true)
    .filter((u) =>
      idMarker === undefined
        ? u.key > keyMarker
        : u.key > keyMarker || (u.key === keyMarker && u.id > idMarker),
    )
    .sort((a, b) => compareKeys(a.key, b.key) || compareKeys(a.id, b.id))
  const page = uploads.slice(0, maxUploads)
  const last = page.at(-1)
  const truncated = uploads.length > page.length
  return {
    ListMultipartUploadsResult: {
      Bucket: BUCKET,
      KeyMarker: keyMarker,
      UploadIdMarker: idMarker ?? '',
      ...(truncated && last ? { NextKeyMarker: last.key, NextUploadIdMarker: last.id } : {}),
      Prefix: prefix,
      MaxUploads: maxUploads,
      IsTruncated: truncated,
      Upload: page.map((u) => ({
        Key: u.key,
        UploadId: u.id,
        StorageClass: 'STANDARD',
        Initiated: u.initiated.toISOString(),
      })),
    },
  }
}

async function listParts(upload: Upload, query: KoaContext['query']) {
  const marker = Number(stringParam(query['part-number-marker']) ?? 0)
  const maxParts = Math.min(Number(stringParam(query['max-parts']) ?? 1000), 1000)
  const numbers = (await readdir(upload.dir))
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((n) => n > marker)
    .sort((a, b) => a - b)
  const page = numbers.slice(0, maxParts)
  const parts = await Promise.all(
    page.map(async (n) => {
      const path = join(upload.dir, String(n))
      const [stats, md5] = await Promise.all([stat(path), readFile(`${path}.md5`, 'utf8')])
      return {
        PartNumber: n,
        LastModified: stats.mtime.toISOString(),
        ETag: `"${md5}"`,
        Size: stats.size,
      }
    }),
  )
  const truncated = numbers.length > page.length
  return {
    ListPartsResult: {
      Bucket: BUCKET,
      Key: upload.key,
      UploadId: upload.id,
      PartNumberMarker: marker,
      ...(truncated ? { NextPartNumberMarker: page.at(-1) } : {}),
      MaxParts: maxParts,
      IsTruncated: truncated,
      StorageClass: 'STANDARD',
      Part: parts,
    },
  }
}

function stringParam(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined
}

// Code-unit order is UTF-8 byte order for the ASCII keys tests use.
function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
