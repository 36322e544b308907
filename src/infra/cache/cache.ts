/**
 * A short-lived cache of JSON values: in Redis when there is one, so every instance sees
 * the same entries and invalidations, in process otherwise. Values travel as JSON, so store
 * plain data (a Date comes back as its ISO string) and expect every get to return a fresh
 * copy. Every adapter passes test/contracts/cache.contract.ts.
 */
export interface Cache {
  /** The value, or undefined when absent or past its TTL. */
  get<T>(key: string): Promise<T | undefined>
  /**
   * Stores a JSON-serialisable value, replacing any other, for `ttlSeconds` (a whole number,
   * at least 1). Undefined is not a value: a cache hit must mean something was found.
   */
  set<T>(key: string, value: T, ttlSeconds: number): Promise<void>
  /**
   * Stores the value only if the key holds none (or only an expired one); true if it did.
   * Atomic, across instances too: of several concurrent adds of one key, exactly one wins.
   */
  add<T>(key: string, value: T, ttlSeconds: number): Promise<boolean>
  /** Removes every key given; absent keys are ignored. */
  delete(...keys: string[]): Promise<void>
}
