import { pipeline, type Readable, Transform } from 'node:stream'

/**
 * Streams that pass through Satchel allocate a fresh buffer per piece, outside V8's heap:
 * Node reads a request body into one per socket read (64 KiB), a file read stream each
 * piece it reads, and a cipher each chunk it seals or opens. V8 frees such buffers at a
 * minor GC if they died young, but such a stream allocates almost nothing on the heap
 * itself, so the young generation (64 MiB with the start script's semi-space size) seldom
 * fills. Instead, each 64 MiB of buffers counts as external memory pressure and
 * starts a full mark of the whole heap, ~35 MB of mostly loaded code: ~22 of them per GiB
 * uploaded, 35–45 ms each, about 1 s of CPU per GiB (`--trace-gc`, a 1 GiB `curl -F` upload
 * on Node 24). A minor GC every 32 MiB of such buffers frees them first, for ~0.5 ms each,
 * and no full mark starts (bench/upload.ts; bench/ranges.ts for downloads).
 *
 * It needs `--expose-gc`, which the start script passes; without it this does nothing.
 */
const COLLECT_EVERY_BYTES = 32 * 1024 * 1024

type CollectGarbage = (options: { type: 'minor' }) => void

let allocatedSinceCollection = 0

/** Counts `bytes` of fresh buffers, process-wide: every stream's add up in one heap. */
export function freshBuffersAllocated(bytes: number) {
  allocatedSinceCollection += bytes
  if (allocatedSinceCollection < COLLECT_EVERY_BYTES) return
  allocatedSinceCollection = 0
  ;(globalThis as { gc?: CollectGarbage }).gc?.({ type: 'minor' })
}

/**
 * `source` as it is, its pieces counted as fresh buffers: for a stream that reads each into
 * a new one. A download left uncounted set off 8 full GCs per 512 MiB of a local file, as an
 * upload had (test/integration/upload-gc.test.ts).
 */
export function countedAsFresh(source: Readable): Readable {
  const counted = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      freshBuffersAllocated(chunk.length)
      done(null, chunk)
    },
  })
  // Either side's end or failure ends both: the reader sees the source's error.
  return pipeline(source, counted, () => undefined)
}
