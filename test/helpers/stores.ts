import { setTimeout as sleep } from 'node:timers/promises'
import type { BlobStore } from '../../src/storage/blob-store.js'
import { StorageUnavailableError } from '../../src/storage/storage-errors.js'

export type StoreMethod = Exclude<keyof BlobStore, 'driver'>

/**
 * Runs before a store call and decides its fate: resolve to let it through (after a delay,
 * or once a gate opens), reject to fail it, never settle to hang it.
 */
export type Fault = (method: StoreMethod, args: unknown[]) => Promise<void>

/**
 * The store, with a fault before each call of the methods named. For the listings (list,
 * listPartials) the fault runs before each item is fetched, and before the end is, so a scan
 * can be slowed, failed or hung midway.
 */
export function withFaults(
  store: BlobStore,
  faults: Partial<Record<StoreMethod, Fault>>,
): BlobStore {
  const before = (method: StoreMethod, args: unknown[]) =>
    faults[method]?.(method, args) ?? Promise.resolve()
  return {
    driver: store.driver,
    put: async (...args) => {
      await before('put', args)
      return store.put(...args)
    },
    get: async (...args) => {
      await before('get', args)
      return store.get(...args)
    },
    head: async (...args) => {
      await before('head', args)
      return store.head(...args)
    },
    delete: async (...args) => {
      await before('delete', args)
      return store.delete(...args)
    },
    list: (...args) => paced(store.list(...args), () => before('list', args)),
    listPartials: (...args) =>
      paced(store.listPartials(...args), () => before('listPartials', args)),
    removePartial: async (...args) => {
      await before('removePartial', args)
      return store.removePartial(...args)
    },
    beginAppend: async (...args) => {
      await before('beginAppend', args)
      return store.beginAppend(...args)
    },
    appendBlock: async (...args) => {
      await before('appendBlock', args)
      return store.appendBlock(...args)
    },
    syncAppend: async (...args) => {
      await before('syncAppend', args)
      return store.syncAppend(...args)
    },
    completeAppend: async (...args) => {
      await before('completeAppend', args)
      return store.completeAppend(...args)
    },
    abortAppend: async (...args) => {
      await before('abortAppend', args)
      return store.abortAppend(...args)
    },
    ping: async (...args) => {
      await before('ping', args)
      return store.ping(...args)
    },
  }
}

/** A fault that lets each call through after `ms`. */
export const delay =
  (ms: number): Fault =>
  () =>
    sleep(ms)

/** A fault that fails each call with `error` (by default, the store being unreachable). */
export const fail =
  (error: unknown = new StorageUnavailableError()): Fault =>
  async () => {
    throw error
  }

/** A fault that never lets a call through. */
export const hang: Fault = () => new Promise(() => {})

/**
 * A fault that holds every call until release(); `reached` resolves once the first call is
 * held, so a test can act at exactly that step boundary.
 */
export function gate(): { fault: Fault; reached: Promise<void>; release(): void } {
  let open: () => void = () => {}
  const opened = new Promise<void>((resolve) => {
    open = resolve
  })
  let arrive: () => void = () => {}
  const reached = new Promise<void>((resolve) => {
    arrive = resolve
  })
  return {
    fault: () => {
      arrive()
      return opened
    },
    reached,
    release: () => open(),
  }
}

/** The store, with every delete passed through `intercept` (to count or fail them). */
export function interceptDeletes(
  store: BlobStore,
  intercept: (key: string, remove: (key: string) => Promise<void>) => Promise<void>,
): BlobStore {
  return {
    ...withFaults(store, {}),
    delete: (key) => intercept(key, (k) => store.delete(k)),
  }
}

async function* paced<T>(items: AsyncIterable<T>, before: () => Promise<void>): AsyncGenerator<T> {
  const iterator = items[Symbol.asyncIterator]()
  try {
    for (;;) {
      await before()
      const next = await iterator.next()
      if (next.done) return
      yield next.value
    }
  } finally {
    await iterator.return?.()
  }
}
