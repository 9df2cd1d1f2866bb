import { EdgecertError } from "../errors.ts";
import type { Lease, LockOptions, Storage, StorageListOptions, StorageListResult } from "./storage.ts";
import { assertValidKey, assertValidPrefix } from "./keys.ts";
import { listLimit, unwrapNativeCursor, wrapNativeCursor } from "./list-page.ts";
import { acquireWithin, lockSettings } from "./lock-wait.ts";
import { valueBytes } from "./value-bytes.ts";
import type { DurableObjectNamespaceLike, KvNamespaceLike } from "./workers-bindings.ts";
import { StorageObjectClient } from "./durable-object-client.ts";

/** Options for {@link KvStorage}. */
export interface KvStorageOptions {
  /**
   * Binding to the {@link EdgecertStorageObject} Durable Object class, which grants the locks (KV has
   * no atomic operation to build one on). Without it, `lock()` fails with `EdgecertError("storage")`.
   */
  locks?: DurableObjectNamespaceLike;
  /** Object instance (`idFromName`) that holds the locks. Default `"edgecert"`. */
  lockObjectName?: string;
}

const CURSOR_TAG = "kv1";

/**
 * {@link Storage} in a Workers KV namespace, for data read often and written rarely (certificates).
 *
 * Consistency: eventual. A write is visible at once in the location that made it, but other
 * locations may keep serving the old value (or miss a new key in `list`) for up to about 60 s, and
 * two locations writing one key race (last write wins). KV also takes at most one write per second
 * per key. So keep anything that must be seen everywhere at once — live challenge tokens, lock state,
 * order progress read back right away — in {@link DurableObjectStorage}. Each `put` is atomic.
 *
 * Locks: delegated to the {@link EdgecertStorageObject} in `options.locks` (strongly consistent, with
 * fencing tokens). Because KV reads may be stale, work done under a lock should check the fencing
 * token, or read through a consistent store, before it overwrites something another holder wrote.
 *
 * `list` uses KV's own cursor and may return fewer than `limit` keys on a page that is not the last.
 */
export class KvStorage implements Storage {
  readonly #kv: KvNamespaceLike;
  readonly #locks: StorageObjectClient | undefined;

  /** `kv`: the KV namespace binding. */
  constructor(kv: KvNamespaceLike, options: KvStorageOptions = {}) {
    this.#kv = kv;
    const ns = options.locks;
    this.#locks = ns ? new StorageObjectClient(ns.get(ns.idFromName(options.lockObjectName ?? "edgecert"))) : undefined;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    assertValidKey(key);
    const value = await kvCall("get", key, () => this.#kv.get(key, "arrayBuffer"));
    return value === null ? undefined : new Uint8Array(value);
  }

  async put(key: string, value: Uint8Array | string): Promise<void> {
    assertValidKey(key);
    const bytes = valueBytes(value);
    await kvCall("put", key, () => this.#kv.put(key, bytes.buffer));
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    await kvCall("delete", key, () => this.#kv.delete(key));
  }

  async list(prefix: string, options?: StorageListOptions): Promise<StorageListResult> {
    assertValidPrefix(prefix);
    const limit = listLimit(options);
    const cursor = options?.cursor === undefined ? null : unwrapNativeCursor(CURSOR_TAG, options.cursor);
    const page = await kvCall("list", prefix, () => this.#kv.list({ prefix, limit, cursor }));
    const keys = page.keys.map((k) => k.name);
    return !page.list_complete && page.cursor ? { keys, cursor: wrapNativeCursor(CURSOR_TAG, page.cursor) } : { keys };
  }

  async lock(name: string, options?: LockOptions): Promise<Lease> {
    const settings = lockSettings(name, options);
    const locks = this.#locks;
    if (!locks) throw new EdgecertError("storage", "KvStorage cannot lock without a Durable Object: pass { locks: env.<binding to EdgecertStorageObject> }");
    return await acquireWithin(name, settings, () => locks.tryLock(name, settings.ttlMs));
  }
}

async function kvCall<T>(op: string, key: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (cause) {
    throw new EdgecertError("storage", `KV ${op} ${JSON.stringify(key)} failed: ${String(cause)}`, { cause });
  }
}
