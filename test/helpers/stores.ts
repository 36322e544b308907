import type { BlobStore } from '../../src/storage/blob-store.js'

/** The store, with every delete passed through `intercept` (to count or fail them). */
export function interceptDeletes(
  store: BlobStore,
  intercept: (key: string, remove: (key: string) => Promise<void>) => Promise<void>,
): BlobStore {
  return {
    driver: store.driver,
    put: store.put.bind(store),
    get: store.get.bind(store),
    head: store.head.bind(store),
    list: store.list.bind(store),
    ping: store.ping.bind(store),
    delete: (key) => intercept(key, (k) => store.delete(k)),
  }
}
