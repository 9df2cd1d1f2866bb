import { EdgecertError } from "../errors.ts";
import type { Lease, LockOptions, Storage, StorageEntry, StorageListOptions, StorageListResult, WriteConditions } from "./storage.ts";
import { assertValidKey, assertValidPrefix } from "./keys.ts";
import { listLimit, unwrapNativeCursor, wrapNativeCursor } from "./list-page.ts";
import { acquireWithin, lockSettings } from "./lock-wait.ts";
import { valueBytes } from "./value-bytes.ts";
import type { DurableObjectNamespaceLike, KvNamespaceLike } from "./workers-bindings.ts";
import { StorageObjectClient } from "./durable-object-client.ts";
import { LEGACY_KV_VERSION_PREFIX } from "./durable-object-protocol.ts";
import { checkConditionsLocally, conflict } from "./conditional-write.ts";
import { toHex } from "../webcrypto/bytes.ts";

/** Options for {@link KvStorage}. */
export interface KvStorageOptions {
  /**
   * Binding to the {@link EdgecertStorageObject} Durable Object class, which grants the locks and
   * decides every write (KV has no atomic operation to build either on). Without it, `lock()` and
   * conditional writes fail with `EdgecertError("storage")`.
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
 * fencing tokens that keep growing across releases and restarts).
 *
 * Writes and versions (with `options.locks`): every `put` and `delete` goes first to that object,
 * which checks `when` — version and fence, against its own lock table — and records the new value
 * and version in one transaction; only then is the value copied into KV. So:
 * - conditional writes are exact: of two writers naming one version, one wins; a lapsed, released or
 *   taken-over lease never writes; a refused write changes nothing. `getEntry` reads the object (strong,
 *   one round trip to it), so a compare-and-set never works from a stale read.
 * - `get` and `list` read KV: fast, but eventually consistent as above. After a write returns, its own
 *   location sees it; elsewhere it may take ~60 s. If a writer dies between the object and KV, or two
 *   writes of a key race, KV may hold an older value until the next write of that key (each writer
 *   re-copies the object's current value when it sees it was overtaken, which narrows but does not
 *   close this); the object always holds the newest.
 * - values are also limited to the object's 2 MB per row. Versions are the object's counter; a value
 *   KV had before the object knew the key reads with version `kv-<SHA-256 of the value>`, which a
 *   conditional write may name until the key is first written through the object.
 * Without `options.locks`, `getEntry` reads KV (versions `kv-…`) and a `put`/`delete` with `when`
 * fails with `EdgecertError("storage")`.
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

  async getEntry(key: string): Promise<StorageEntry | undefined> {
    assertValidKey(key);
    const entry = this.#locks ? await this.#locks.getEntry(key, "kvValue") : { absent: "none" as const };
    if (!("absent" in entry)) return entry;
    if (entry.absent === "deleted") return undefined;
    // Not written through the object (yet): KV's value, versioned by its content.
    const value = await this.get(key);
    return value === undefined ? undefined : { value, version: await legacyVersion(value) };
  }

  async put(key: string, value: Uint8Array | string, when?: WriteConditions): Promise<void> {
    assertValidKey(key);
    const bytes = valueBytes(value);
    await this.#write(key, bytes, when);
  }

  async delete(key: string, when?: WriteConditions): Promise<void> {
    assertValidKey(key);
    await this.#write(key, null, when);
  }

  /** The object decides and records the write (`bytes`, or a delete for null); then KV gets a copy. */
  async #write(key: string, bytes: Uint8Array<ArrayBuffer> | null, when: WriteConditions | undefined): Promise<void> {
    checkConditionsLocally(when);
    const object = this.#locks;
    if (!object) {
      if (when !== undefined && (when.ifVersion !== undefined || when.fence !== undefined)) {
        throw new EdgecertError("storage", "KvStorage cannot write conditionally without a Durable Object: pass { locks: env.<binding to EdgecertStorageObject> }");
      }
      return await this.#copy(key, bytes);
    }
    if (when?.ifVersion === null) {
      // "Only if absent" for a key the object never saw: KV may hold a value from before the object.
      const seen = await object.getEntry(key, "kvValue");
      if ("absent" in seen && seen.absent === "none" && (await this.get(key)) !== undefined) throw conflict(key, "kv-…", null);
    }
    const version = bytes === null ? (await object.delete(key, when, "kvValue"), undefined) : await object.put(key, bytes, when, "kvValue");
    await this.#copy(key, bytes);
    // A write decided after ours may have reached KV before ours did: copy what the object holds now.
    const now = await object.getEntry(key, "kvValue");
    const current = "absent" in now ? undefined : now;
    if (current?.version !== version) await this.#copy(key, current === undefined ? null : valueBytes(current.value));
  }

  async #copy(key: string, bytes: Uint8Array<ArrayBuffer> | null): Promise<void> {
    if (bytes === null) await kvCall("delete", key, () => this.#kv.delete(key));
    else await kvCall("put", key, () => this.#kv.put(key, bytes.buffer));
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

async function legacyVersion(value: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", valueBytes(value));
  return LEGACY_KV_VERSION_PREFIX + toHex(digest).slice(0, 32);
}

async function kvCall<T>(op: string, key: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (cause) {
    throw new EdgecertError("storage", `KV ${op} ${JSON.stringify(key)} failed: ${String(cause)}`, { cause });
  }
}
