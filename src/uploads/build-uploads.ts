import type { Kysely } from 'kysely'
import type { EventBus } from '../events/event-bus.js'
import type { BlobPurger } from '../files/blob-purger.js'
import type { FileListCache } from '../files/file-list-cache.js'
import type { FilesRepository } from '../files/files-repository.js'
import type { QuotaRepository } from '../files/quota-repository.js'
import type { Logger } from '../infra/logger.js'
import type { DB } from '../schema.js'
import type { BlobStore } from '../storage/blob-store.js'
import { Concatenation } from './concatenation.js'
import { RunningHashes } from './running-hashes.js'
import { UploadFinisher } from './upload-finisher.js'
import { UploadSweep } from './upload-sweep.js'
import { UploadsRepository } from './uploads-repository.js'
import { UploadsService } from './uploads-service.js'

// A PATCH's hold on its upload: short, so the client's resume after a killed process
// succeeds within its retries; renewed every quarter while the body streams.
const TUS_LEASE_MS = 30_000

export interface UploadsWiring {
  db: Kysely<DB>
  store: BlobStore
  logger: Logger
  events: EventBus
  files: FilesRepository
  quotas: QuotaRepository
  purger: BlobPurger
  lists: FileListCache
  maxUploadBytes: number
  expirySeconds: number
  idleTimeoutSeconds: number
  uploadGraceSeconds: number
  purgeWaitMs: number
}

/** The tus feature's objects, wired from what the rest of the app already built. */
export function buildUploads(w: UploadsWiring) {
  const uploads = new UploadsRepository(w.db)
  const finisher = new UploadFinisher({
    uploads,
    files: w.files,
    purger: w.purger,
    store: w.store,
    lists: w.lists,
    events: w.events,
    logger: w.logger,
    purgeWaitMs: w.purgeWaitMs,
  })
  const concatenation = new Concatenation({
    uploads,
    files: w.files,
    store: w.store,
    finisher,
    logger: w.logger,
    maxUploadBytes: w.maxUploadBytes,
    leaseMs: TUS_LEASE_MS,
    fileLeaseMs: w.uploadGraceSeconds * 1000,
  })
  const service = new UploadsService({
    uploads,
    quotas: w.quotas,
    store: w.store,
    finisher,
    concatenation,
    hashes: new RunningHashes(),
    logger: w.logger,
    maxUploadBytes: w.maxUploadBytes,
    expirySeconds: w.expirySeconds,
    idleTimeoutMs: w.idleTimeoutSeconds * 1000,
    leaseMs: TUS_LEASE_MS,
  })
  return { service, sweep: new UploadSweep(uploads, finisher, w.logger) }
}
