import { EdgecertError } from "../errors.ts";
import type { Lease, LockOptions, Storage, StorageListOptions, StorageListResult } from "./storage.ts";
import { assertValidKey, assertValidPrefix } from "./keys.ts";
import { listLimit, unwrapNativeCursor, wrapNativeCursor } from "./list-page.ts";
import { acquireWithin, lockSettings, type LockAttempt } from "./lock-wait.ts";
import { HeldLease, lapsed } from "./lease.ts";
import { valueBytes } from "./value-bytes.ts";
import type { R2BucketLike, R2ConditionalLike } from "./workers-bindings.ts";

/** Options for {@link R2Storage}. */
export interface R2StorageOptions {
  /**
   * Key prefix of the lock objects, reserved: keys under it are rejected and `list` skips them.
   * Default `".edgecert-locks/"`.
   */
  lockPrefix?: string;
}

/** What a lock object holds. */
interface LockRecord {
  name: string;
  token: number;
  owner: string;
  /** Epoch ms; 0 once released. */
  expiresAt: number;
}

const CURSOR_TAG = "r21";

/**
 * {@link Storage} in an R2 bucket.
 *
 * Consistency: strong. R2 gives read-after-write and list-after-write consistency everywhere, and a
 * `put` replaces an object atomically. Each call is a round trip to the bucket.
 *
 * Locks: one small JSON object per lock name under `lockPrefix` (`{name, token, owner, expiresAt}`),
 * changed only by conditional writes: created with `onlyIf: { etagDoesNotMatch: "*" }` (only if
 * absent), and taken over (when lapsed or released), renewed and released with
 * `onlyIf: { etagMatches }` on the etag that was read. A write whose precondition fails lost a race and
 * changes nothing, so at most one contender takes a lapsed lease. The object is never deleted, so its
 * `token` is also the fencing counter and only grows. Expiry is judged by the callers' clocks (Workers
 * clocks are synchronised).
 */
export class R2Storage implements Storage {
  readonly #bucket: R2BucketLike;
  readonly #lockPrefix: string;

  /** `bucket`: the R2 bucket binding. */
  constructor(bucket: R2BucketLike, options: R2StorageOptions = {}) {
    this.#bucket = bucket;
    this.#lockPrefix = options.lockPrefix ?? ".edgecert-locks/";
    if (this.#lockPrefix === "") throw new EdgecertError("invalid_input", "R2Storage lockPrefix must not be empty");
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    this.#checkKey(key);
    return await r2Call("get", key, async () => {
      const object = await this.#bucket.get(key);
      return object === null ? undefined : new Uint8Array(await object.arrayBuffer());
    });
  }

  async put(key: string, value: Uint8Array | string): Promise<void> {
    this.#checkKey(key);
    const bytes = valueBytes(value);
    await r2Call("put", key, () => this.#bucket.put(key, bytes.buffer));
  }

  async delete(key: string): Promise<void> {
    this.#checkKey(key);
    await r2Call("delete", key, () => this.#bucket.delete(key));
  }

  async list(prefix: string, options?: StorageListOptions): Promise<StorageListResult> {
    assertValidPrefix(prefix);
    const limit = listLimit(options);
    const request: { prefix: string; limit: number; cursor?: string } = { prefix, limit };
    if (options?.cursor !== undefined) request.cursor = unwrapNativeCursor(CURSOR_TAG, options.cursor);
    const page = await r2Call("list", prefix, () => this.#bucket.list(request));
    const keys = page.objects.map((o) => o.key).filter((key) => !key.startsWith(this.#lockPrefix));
    return page.truncated && page.cursor ? { keys, cursor: wrapNativeCursor(CURSOR_TAG, page.cursor) } : { keys };
  }

  async lock(name: string, options?: LockOptions): Promise<Lease> {
    const settings = lockSettings(name, options);
    return await acquireWithin(name, settings, () => this.#tryLock(name, settings.ttlMs));
  }

  async #tryLock(name: string, ttlMs: number): Promise<LockAttempt> {
    const objectKey = this.#lockPrefix + name;
    const current = await this.#readLock(objectKey);
    if (current && current.record.expiresAt > Date.now()) return { heldUntil: current.record.expiresAt };
    const record: LockRecord = { name, token: (current?.record.token ?? 0) + 1, owner: crypto.randomUUID(), expiresAt: Date.now() + ttlMs };
    const onlyIf: R2ConditionalLike = current ? { etagMatches: current.etag } : { etagDoesNotMatch: "*" };
    if (!(await this.#writeLock(objectKey, record, onlyIf))) return {}; // another contender won; look again
    const { token, owner } = record;
    const ours = async () => {
      const now = await this.#readLock(objectKey);
      return now && now.record.owner === owner && now.record.token === token ? now : undefined;
    };
    const lease = new HeldLease(name, token, record.expiresAt, ttlMs, {
      renew: async (ttl) => {
        const now = await ours();
        if (!now || now.record.expiresAt <= Date.now()) throw lapsed(name, token);
        const expiresAt = Date.now() + ttl;
        if (!(await this.#writeLock(objectKey, { ...now.record, expiresAt }, { etagMatches: now.etag }))) throw lapsed(name, token);
        return expiresAt;
      },
      release: async () => {
        const now = await ours();
        // A failed precondition means someone else changed the object: then it is not ours to release.
        if (now) await this.#writeLock(objectKey, { ...now.record, expiresAt: 0 }, { etagMatches: now.etag });
      },
    });
    return { lease };
  }

  async #readLock(objectKey: string): Promise<{ record: LockRecord; etag: string } | undefined> {
    return await r2Call("get", objectKey, async () => {
      const object = await this.#bucket.get(objectKey);
      if (object === null) return undefined;
      const text = new TextDecoder().decode(await object.arrayBuffer());
      let record: LockRecord;
      try {
        record = JSON.parse(text) as LockRecord;
      } catch (cause) {
        throw new EdgecertError("storage", `R2 lock object ${JSON.stringify(objectKey)} is not valid JSON`, { cause });
      }
      if (typeof record?.token !== "number" || typeof record.expiresAt !== "number" || typeof record.owner !== "string") {
        throw new EdgecertError("storage", `R2 lock object ${JSON.stringify(objectKey)} is not a lock record`);
      }
      return { record, etag: object.etag };
    });
  }

  /** Conditional write of a lock object; false when the precondition failed. */
  async #writeLock(objectKey: string, record: LockRecord, onlyIf: R2ConditionalLike): Promise<boolean> {
    const body = valueBytes(JSON.stringify(record)).buffer;
    return (await r2Call("put", objectKey, () => this.#bucket.put(objectKey, body, { onlyIf }))) !== null;
  }

  #checkKey(key: string): void {
    assertValidKey(key);
    if (key.startsWith(this.#lockPrefix)) throw new EdgecertError("invalid_input", `key ${JSON.stringify(key)} is under R2Storage's reserved lock prefix ${JSON.stringify(this.#lockPrefix)}`);
  }
}

async function r2Call<T>(op: string, key: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (cause) {
    if (cause instanceof EdgecertError) throw cause;
    throw new EdgecertError("storage", `R2 ${op} ${JSON.stringify(key)} failed: ${String(cause)}`, { cause });
  }
}
