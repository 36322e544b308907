import { request } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  AbortMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type S3TestServer, startS3Server } from './s3-server.js'

// The stand-in must not keep what S3 would not: the store contracts count its unfinished
// uploads to prove that an aborted write leaves nothing behind.
describe('the test S3 server', () => {
  let s3: S3TestServer
  beforeAll(async () => {
    s3 = await startS3Server()
  })
  afterAll(() => s3.close())

  it('keeps nothing of an upload aborted while one of its parts is being stored', async () => {
    const begun = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const key = `blobs/race/${i}`
        const { UploadId } = await s3.client.send(
          new CreateMultipartUploadCommand({ Bucket: s3.bucket, Key: key }),
        )
        return { Bucket: s3.bucket, Key: key, UploadId }
      }),
    )

    // Each abort a few more turns of the event loop after its part than the last, so that
    // some abort lands within each step of storing a part. One in 50 landed between listing
    // the upload's files and removing its directory, which then failed, leaving the part.
    await Promise.all(
      begun.map((upload, turns) =>
        Promise.allSettled([
          s3.client.send(
            new UploadPartCommand({ ...upload, PartNumber: 1, Body: Buffer.alloc(256 * 1024) }),
          ),
          afterTurns(turns).then(() => s3.client.send(new AbortMultipartUploadCommand(upload))),
        ]),
      ),
    )

    expect(await s3.pendingMultipartUploads()).toBe(0)
  })

  // As an instance killed mid-upload leaves it, for the sweeper to abort.
  it('aborts an upload whose part was cut off by its client going away', async () => {
    const upload = { Bucket: s3.bucket, Key: 'blobs/cut/part', UploadId: '' }
    const { UploadId } = await s3.client.send(new CreateMultipartUploadCommand(upload))
    upload.UploadId = UploadId ?? ''
    const url = `${s3.endpoint}/${s3.bucket}/${upload.Key}?partNumber=1&uploadId=${UploadId}`
    const part = request(url, { method: 'PUT', headers: { 'content-length': 1024 * 1024 } })
    part.on('error', () => undefined)
    part.write(Buffer.alloc(64 * 1024))
    await sleep(200)
    part.destroy()

    const aborted = s3.client.send(new AbortMultipartUploadCommand(upload))
    const late = sleep(5000).then(() => 'still waiting')
    expect(await Promise.race([aborted.then(() => 'aborted'), late])).toBe('aborted')
    expect(await s3.pendingMultipartUploads()).toBe(0)
  })
})

// s3rver removes a directory that a delete left empty, and a put into that directory between
// its mkdir and its open then failed with ENOENT on a write stream nobody listened to: an
// uncaught exception that ended the crash suite's S3 run (kill -9 rounds, 2026-12-02).
describe('the test S3 server, putting and deleting in one directory at once', () => {
  let s3: S3TestServer
  const uncaught: unknown[] = []
  const record = (error: unknown) => uncaught.push(error)
  beforeAll(async () => {
    s3 = await startS3Server()
    process.on('uncaughtException', record)
  })
  afterAll(async () => {
    process.off('uncaughtException', record)
    await s3.close()
  })

  it('stores every put whatever a delete beside it does', async () => {
    const put = (Key: string) =>
      s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key, Body: 'x' }))
    for (let round = 0; round < 100; round++) {
      const dir = `blobs/${round % 10}/`
      await put(`${dir}old`)
      await Promise.all([
        s3.client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: `${dir}old` })),
        afterTurns(round % 20).then(() => put(`${dir}new`)),
      ])
      const stored = await s3.client.send(
        new GetObjectCommand({ Bucket: s3.bucket, Key: `${dir}new` }),
      )
      expect(await stored.Body?.transformToString()).toBe('x')
      await s3.client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: `${dir}new` }))
    }
    expect(uncaught).toEqual([])
  })
})

async function afterTurns(turns: number): Promise<void> {
  for (let turn = 0; turn < turns; turn++) await new Promise(setImmediate)
}
