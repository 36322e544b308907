/**
 * A Map bounded to about `maxEntries`, forgetting what has gone unused longest: entries live
 * in a young and an old generation; a read of an old entry brings it back to the young one,
 * and when the young one is full, the old one is dropped whole. Reads are plain Map reads
 * (an exact LRU re-inserts on every read, which showed in profiles of hot paths).
 */
export class LruMap<K, V> {
  private young = new Map<K, V>()
  private old = new Map<K, V>()
  private readonly generationSize: number

  constructor(maxEntries: number) {
    this.generationSize = Math.max(1, Math.ceil(maxEntries / 2))
  }

  get(key: K): V | undefined {
    const value = this.young.get(key)
    if (value !== undefined) return value
    const aging = this.old.get(key)
    if (aging !== undefined) {
      this.old.delete(key)
      this.youngSet(key, aging)
    }
    return aging
  }

  set(key: K, value: V): void {
    this.old.delete(key)
    this.youngSet(key, value)
  }

  delete(key: K): void {
    this.young.delete(key)
    this.old.delete(key)
  }

  private youngSet(key: K, value: V) {
    this.young.set(key, value)
    if (this.young.size >= this.generationSize) {
      this.old = this.young
      this.young = new Map()
    }
  }
}
