import type { Lease, LockOptions, Storage, StorageEntry, StorageListOptions, StorageListResult, WriteConditions } from "./storage.ts";
import { assertValidKey, assertValidPrefix } from "./keys.ts";
import { decodeKeyCursor, encodeKeyCursor, listLimit, MAX_LIST_LIMIT } from "./list-page.ts";
import { acquireWithin, lockSettings } from "./lock-wait.ts";
import { valueBytes } from "./value-bytes.ts";
import type { DurableObjectNamespaceLike } from "./workers-bindings.ts";
import { StorageObjectClient } from "./durable-object-client.ts";
import { checkConditionsLocally } from "./conditional-write.ts";

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
 * Fencing tokens keep growing across releases and restarts (the lock rows are never deleted).
 *
 * Conditional writes: the object checks `ifVersion` and the fence (lock held with that token and
 * unexpired by the object's clock) and writes in one SQLite transaction, so the check is atomic with
 * the write. Versions are a counter per object, never reused (also not after a delete).
 */
export class DurableObjectStorage implements Storage {
  readonly #client: StorageObjectClient;

  /** `namespace`: the binding to the {@link EdgecertStorageObject} class. */
  constructor(namespace: DurableObjectNamespaceLike, options: DurableObjectStorageOptions = {}) {
    this.#client = new StorageObjectClient(namespace.get(namespace.idFromName(options.name ?? "edgecert")));
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    return (await this.getEntry(key))?.value;
  }

  async getEntry(key: string): Promise<StorageEntry | undefined> {
    assertValidKey(key);
    const entry = await this.#client.getEntry(key);
    return "absent" in entry ? undefined : entry;
  }

  /**
   * The values of many keys, in their order (undefined where absent): one request to the object per
   * {@link MAX_LIST_LIMIT} keys, where `get` costs one each (see `readMany`).
   */
  async getMany(keys: readonly string[]): Promise<Array<Uint8Array | undefined>> {
    for (const key of keys) assertValidKey(key);
    const out: Array<Uint8Array | undefined> = [];
    for (let i = 0; i < keys.length; i += MAX_LIST_LIMIT) out.push(...(await this.#client.values(keys.slice(i, i + MAX_LIST_LIMIT))));
    return out;
  }

  async put(key: string, value: Uint8Array | string, when?: WriteConditions): Promise<void> {
    assertValidKey(key);
    const bytes = valueBytes(value);
    checkConditionsLocally(when);
    await this.#client.put(key, bytes, when);
  }

  async delete(key: string, when?: WriteConditions): Promise<void> {
    assertValidKey(key);
    checkConditionsLocally(when);
    await this.#client.delete(key, when);
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
