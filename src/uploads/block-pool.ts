/**
 * Block buffers kept from one PATCH for the next. A PATCH holds its two blocks (12.5 MiB for
 * 50 MiB PATCHes) from its first byte to its last, through the minor GCs that free its body's
 * buffers (infra/fresh-buffers.ts): fresh ones per PATCH moved to the old generation and
 * piled up there, outside the heap, until each 64 MiB of them set off a full GC. A 1 GiB
 * upload in 50 MiB PATCHes spent 1.4 s in GC (`--cpu-prof`).
 */
export class BlockPool {
  readonly #kept: Buffer[] = []

  /** Keeps at most `max` idle buffers: as many as one PATCH at a time uses. */
  constructor(private readonly max: number) {}

  /** A buffer of `size` bytes, with whatever it held before. */
  take(size: number): Buffer {
    const at = this.#kept.findIndex((buffer) => buffer.length === size)
    if (at === -1) return Buffer.allocUnsafe(size)
    return this.#kept.splice(at, 1)[0]!
  }

  /** Only once nothing reads or writes `buffer` any more. */
  give(buffer: Buffer) {
    this.#kept.push(buffer)
    if (this.#kept.length > this.max) this.#kept.shift()
  }
}
