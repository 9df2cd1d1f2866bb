/**
 * MemoryStorage counting storage operations as the Worker's Durable Object store costs them: each call
 * one request to the object (a Workers subrequest), `getMany` one per 1,000 keys
 * (DurableObjectStorage.getMany); also the reads of keys under one prefix. For listings' bounds
 * (test/hub/token-listing.test.ts, bench/listing-bounds.ts).
 * @module
 */
import { MAX_LIST_LIMIT } from "../../src/storage/list-page.ts";
import { MemoryStorage } from "../../src/storage/memory-storage.ts";
import type { ManyReads } from "../../src/storage/read-many.ts";
import type { Storage } from "../../src/storage/storage.ts";

/** A counting storage, its counts and their reset. */
export interface CountedObjectStorage {
  storage: Storage & ManyReads;
  /** Keys under `prefix` read since the last reset. */
  records: () => number;
  /** Storage operations since the last reset. */
  operations: () => number;
  reset: () => void;
}

/** A fresh counting storage; `prefix` says which keys {@link CountedObjectStorage.records} counts. */
export function countedObjectStorage(prefix: string): CountedObjectStorage {
  const inner = new MemoryStorage();
  let records = 0;
  let operations = 0;
  const op = () => void operations++;
  const record = (k: string) => void (records += k.startsWith(prefix) ? 1 : 0);
  const storage: Storage & ManyReads = {
    get: (k) => (op(), record(k), inner.get(k)),
    getEntry: (k) => (op(), record(k), inner.getEntry(k)),
    getMany: (keys) => {
      operations += Math.ceil(keys.length / MAX_LIST_LIMIT);
      keys.forEach(record);
      return Promise.all(keys.map((k) => inner.get(k)));
    },
    put: (k, v, w) => (op(), inner.put(k, v, w)),
    delete: (k, w) => (op(), inner.delete(k, w)),
    list: (p, o) => (op(), inner.list(p, o)),
    lock: (n, o) => inner.lock(n, o),
  };
  return { storage, records: () => records, operations: () => operations, reset: () => ((records = 0), (operations = 0)) };
}
