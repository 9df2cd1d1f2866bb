import type { Lease, LockOptions, Storage, StorageListOptions, StorageListResult } from "./storage.ts";
import { assertValidKey, assertValidPrefix } from "./keys.ts";
import { decodeKeyCursor, encodeKeyCursor, listLimit } from "./list-page.ts";
import { acquireWithin, lockSettings } from "./lock-wait.ts";
import { valueBytes } from "./value-bytes.ts";
import type { DurableObjectNamespaceLike } from "./workers-bindings.ts";
import { StorageObjectClient } from "./durable-object-client.ts";

/** Options for {@link DurableObjectStorage}. */
export interface DurableObjectStorageOptions {
  /** Name of the object instance (`idFromName`) holding this storage's data. Default `"edgecert"`. */
  name?: string;
}

/**
 * {@link Storage} in one instance of the {@link EdgecertStorageObject} Durable Object.
 *
 * Consistency: strong. One object serialises every operation on this storage, globally; a completed
 * `put` is seen by every later `get` and `list` from anywhere. The price is that every call is a
 * round trip to the object's location, and all traffic for one `name` goes through one object: give
 * unrelated deployments different names. Values are at most 2 MB (a SQLite row).
 *
 * Locks: leases and fencing counters live in the same object and are granted transactionally; expiry
 * follows the object's clock. Waiting is polling (a few ms, growing to 200 ms) from the caller.
 */
export class DurableObjectStorage implements Storage {
  readonly #client: StorageObjectClient;

  /** `namespace`: the binding to the {@link EdgecertStorageObject} class. */
  constructor(namespace: DurableObjectNamespaceLike, options: DurableObjectStorageOptions = {}) {
    this.#client = new StorageObjectClient(namespace.get(namespace.idFromName(options.name ?? "edgecert")));
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    assertValidKey(key);
    return await this.#client.get(key);
  }

  async put(key: string, value: Uint8Array | string): Promise<void> {
    assertValidKey(key);
    await this.#client.put(key, valueBytes(value));
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    await this.#client.delete(key);
  }

  async list(prefix: string, options?: StorageListOptions): Promise<StorageListResult> {
    assertValidPrefix(prefix);
    const limit = listLimit(options);
    const after = options?.cursor === undefined ? undefined : decodeKeyCursor(options.cursor);
    const { keys, more } = await this.#client.list(prefix, after, limit);
    const last = keys[keys.length - 1];
    return more && last !== undefined ? { keys, cursor: encodeKeyCursor(last) } : { keys };
  }

  async lock(name: string, options?: LockOptions): Promise<Lease> {
    const settings = lockSettings(name, options);
    return await acquireWithin(name, settings, () => this.#client.tryLock(name, settings.ttlMs));
  }
}
