import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { S3Client } from '@aws-sdk/client-s3'
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
  close(): Promise<void>
}

const BUCKET = 'satchel-test'

// Where s3rver's filesystem store keeps the parts of unfinished multipart uploads, one
// directory per upload id (lib/stores/filesystem.js, getResourcePath(bucket, '', 'uploads')).
const S3RVER_UPLOADS_DIR = '._S3rver_uploads'

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
  // s3rver answers AbortMultipartUpload with 405, which turns lib-storage's clean-up after
  // a failed upload into an error and leaves the parts on disk. So the HTTP server is ours
  // rather than s3rver.run()'s, and answers that one request itself before s3rver sees it.
  const s3rverHandler = s3rver.callback()
  const uploadsDir = join(directory, BUCKET, S3RVER_UPLOADS_DIR)
  const server = createServer((req, res) => {
    const uploadId = abortedUploadId(req)
    if (uploadId === undefined) s3rverHandler(req, res)
    else abortMultipartUpload(join(uploadsDir, uploadId), res).catch((error) => res.destroy(error))
  })
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

/** The upload id of a path-style `DELETE /<bucket>/<key>?uploadId=<id>`, if that is what this is. */
function abortedUploadId(req: IncomingMessage): string | undefined {
  const url = new URL(req.url ?? '/', 'http://s3rver')
  if (req.method !== 'DELETE' || !url.pathname.startsWith(`/${BUCKET}/`)) return undefined
  const uploadId = url.searchParams.get('uploadId')
  // s3rver's ids are hex; anything else must not become a path.
  return uploadId !== null && /^[0-9a-f]+$/.test(uploadId) ? uploadId : undefined
}

async function abortMultipartUpload(dir: string, res: ServerResponse): Promise<void> {
  const found = (await readdir(dir).catch(() => undefined)) !== undefined
  await rm(dir, { recursive: true, force: true })
  if (found) {
    res.writeHead(204).end()
    return
  }
  const xml =
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchUpload</Code>' +
    '<Message>The specified upload does not exist.</Message></Error>'
  res.writeHead(404, { 'content-type': 'application/xml' }).end(xml)
}
