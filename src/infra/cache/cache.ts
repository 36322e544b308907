/** What lookup() found: the value, or the stamp a load must present to store one. */
export type Lookup<T> = { hit: true; value: T } | { hit: false; stamp: string }

/**
 * A short-lived cache of JSON values: in Redis when there is one, so every instance sees
 * the same entries and invalidations, in process otherwise. Values travel as JSON, so store
 * plain data (a Date comes back as its ISO string) and expect every read to return a fresh
 * copy. Every adapter passes test/contracts/cache.contract.ts.
 *
 * An entry must not outlive a change. Two mechanisms see to it, atomically across instances:
 * - a read-through load stores its value only if nothing invalidated the key since the
 *   lookup that sent it to the source (lookup → load → setIfUnchanged with the stamp);
 * - newEpoch() makes every entry written before it unusable, for an instance that could not
 *   deliver an invalidation and does not know which entries it left behind.
 */
export interface Cache {
  /** The value, or undefined when absent, past its TTL or from an earlier epoch. */
  get<T>(key: string): Promise<T | undefined>
  /** get(), answered at once: only a cache in this process has it. */
  getNow?<T>(key: string): T | undefined
  /**
   * Stores a JSON-serialisable value, replacing any other, for `ttlSeconds` (a whole number,
   * at least 1). Undefined is not a value: a cache hit must mean something was found.
   */
  set<T>(key: string, value: T, ttlSeconds: number): Promise<void>
  /**
   * Stores the value only if the key holds none (or only an unusable one); true if it did.
   * Atomic, across instances too: of several concurrent adds of one key, exactly one wins.
   */
  add<T>(key: string, value: T, ttlSeconds: number): Promise<boolean>
  /**
   * The value, or on a miss a stamp for setIfUnchanged(). One round trip either way. Two
   * lookups that give the same stamp saw no invalidation between them, so loads begun under
   * one stamp may be shared.
   */
  lookup<T>(key: string): Promise<Lookup<T>>
  /**
   * Stores what a load begun after lookup() gave `stamp` found, unless the key was
   * invalidated, written or re-epoched since: then the value may predate a change, and it
   * is dropped. True if stored. It may also refuse a stamp that is too old to check.
   */
  setIfUnchanged<T>(key: string, value: T, ttlSeconds: number, stamp: string): Promise<boolean>
  /** Removes the values and refuses every write-back stamped before; absent keys are ignored. */
  invalidate(...keys: string[]): Promise<void>
  /** Makes every entry written so far unusable and refuses every outstanding stamp. */
  newEpoch(): Promise<void>
}
