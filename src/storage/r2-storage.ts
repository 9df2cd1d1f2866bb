import { EdgecertError } from "../errors.ts";
import type { Fence, Lease, LockOptions, Storage, StorageEntry, StorageListOptions, StorageListResult, WriteConditions } from "./storage.ts";
import { assertValidKey, assertValidPrefix } from "./keys.ts";
import { listLimit, unwrapNativeCursor, wrapNativeCursor } from "./list-page.ts";
import { acquireWithin, lockSettings, type LockAttempt } from "./lock-wait.ts";
import { HeldLease, lapsed } from "./lease.ts";
import { valueBytes } from "./value-bytes.ts";
import type { R2BucketLike, R2ConditionalLike, R2ObjectLike } from "./workers-bindings.ts";
import { checkConditionsLocally, checkVersion, conflict, leaseLost } from "./conditional-write.ts";

/** Options for {@link R2Storage}. */
export interface R2StorageOptions {
  /**
   * Key prefix of the lock objects, reserved: keys under it are rejected and `list` skips them.
   * Default `".edgecert-locks/"`.
   */
  lockPrefix?: string;
  /**
   * Where the locks live when they are not this bucket's (the Worker takes every lock in its Durable
   * Object): `lock` is delegated to it, and a fenced write is checked there, by a fenced write of a
   * small marker key under `.edgecert-fence-checks/` (atomic with the lock state in that storage),
   * before the etag compare-and-set here. Default: lock objects in this bucket.
   */
  locks?: Storage;
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
/** Custom metadata of a data object: a tombstone left by a conditional delete. */
const DELETED = "edgecert-deleted";
/** Custom metadata of a data object: lock name and token of the fenced write that wrote it. */
const FENCE_NAME = "edgecert-fence";
const FENCE_TOKEN = "edgecert-fence-token";
/** Marker keys in {@link R2StorageOptions.locks} whose fenced writes check a lease there. */
const FENCE_CHECK_PREFIX = ".edgecert-fence-checks/";
/** Bound on re-reads when other writers keep changing a key between our read and our write. */
const MAX_WRITE_ROUNDS = 50;

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
 * `token` is also the fencing counter and only grows, across releases and restarts. Expiry is judged
 * by the callers' clocks (Workers clocks are synchronised).
 *
 * Versions: `<etag>/<R2 object version>`; the upload id part changes on every write. Conditional
 * writes are R2 conditional puts on the etag read just before (`onlyIf`), so:
 * - `ifVersion` is exact: the write lands only if the object is still the one read (a rewrite of
 *   identical bytes in the same instant also has that etag, which leaves the same value anyway).
 * - a fenced write checks the lock object, then puts with the etag CAS, recording the lock name and
 *   token in the object's custom metadata; a write whose token is lower than the one recorded there
 *   is refused. R2 has no transaction over two objects, so the guarantee is: a lease that lapsed,
 *   was released or was taken over before the write reads the lock is refused; one that lapses during
 *   that one round trip may still land its write, but never after the next holder's first fenced write
 *   of that key (higher token recorded, or the etag moved).
 * - R2 deletes take no precondition: a conditional `delete` writes a small tombstone object instead
 *   (conditional put; `get`, `getEntry` and `list` treat it as absent, and it keeps the fence token),
 *   and an unconditional `delete` removes the object.
 */
export class R2Storage implements Storage {
  readonly #bucket: R2BucketLike;
  readonly #lockPrefix: string;
  readonly #locks: Storage | undefined;

  /** `bucket`: the R2 bucket binding. */
  constructor(bucket: R2BucketLike, options: R2StorageOptions = {}) {
    this.#bucket = bucket;
    this.#lockPrefix = options.lockPrefix ?? ".edgecert-locks/";
    this.#locks = options.locks;
    if (this.#lockPrefix === "") throw new EdgecertError("invalid_input", "R2Storage lockPrefix must not be empty");
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    return (await this.getEntry(key))?.value;
  }

  async getEntry(key: string): Promise<StorageEntry | undefined> {
    this.#checkKey(key);
    return await r2Call("get", key, async () => {
      const object = await this.#bucket.get(key);
      if (object === null || isTombstone(object)) return undefined;
      return { value: new Uint8Array(await object.arrayBuffer()), version: versionOf(object) };
    });
  }

  async put(key: string, value: Uint8Array | string, when?: WriteConditions): Promise<void> {
    this.#checkKey(key);
    const bytes = valueBytes(value);
    checkConditionsLocally(when);
    if (!isConditional(when)) {
      await r2Call("put", key, () => this.#bucket.put(key, bytes.buffer));
      return;
    }
    await this.#writeConditionally(key, bytes, {}, when);
  }

  async delete(key: string, when?: WriteConditions): Promise<void> {
    this.#checkKey(key);
    checkConditionsLocally(when);
    if (!isConditional(when)) {
      await r2Call("delete", key, () => this.#bucket.delete(key));
      return;
    }
    // Random bytes: a tombstone's etag never equals a value's, or an earlier tombstone's.
    await this.#writeConditionally(key, crypto.getRandomValues(new Uint8Array(16)), { [DELETED]: "1" }, when);
  }

  /** Checks `when` against the object as read, then puts only if the object is still that one. */
  async #writeConditionally(key: string, bytes: Uint8Array<ArrayBuffer>, metadata: Record<string, string>, when: WriteConditions): Promise<void> {
    const { fence, ifVersion } = when;
    for (let round = 0; round < MAX_WRITE_ROUNDS; round++) {
      const head = await r2Call("head", key, () => this.#bucket.head(key));
      if (fence) await this.#checkFence(fence, head);
      checkVersion(key, head === null || isTombstone(head) ? undefined : versionOf(head), ifVersion);
      const customMetadata = fence ? { ...metadata, [FENCE_NAME]: fence.name, [FENCE_TOKEN]: String(fence.token) } : metadata;
      const onlyIf: R2ConditionalLike = head === null ? { etagDoesNotMatch: "*" } : { etagMatches: head.etag };
      if ((await r2Call("put", key, () => this.#bucket.put(key, bytes.buffer, { onlyIf, customMetadata }))) !== null) return;
      // The object changed after we read it: read again (the checks then decide).
    }
    throw conflict(key, undefined, ifVersion ?? undefined);
  }

  /** `lease_lost` unless the lock is held by `fence` now and no newer holder of it wrote this key. */
  async #checkFence(fence: Fence, head: R2ObjectLike | null): Promise<void> {
    const written = head?.customMetadata;
    if (written?.[FENCE_NAME] === fence.name && Number(written[FENCE_TOKEN]) > fence.token) throw leaseLost(fence, "a newer holder of the lock already wrote this key");
    if (this.#locks) {
      // The lock storage refuses this marker write with lease_lost unless the fence holds its lock now.
      await this.#locks.put(`${FENCE_CHECK_PREFIX}${fence.name}`, String(fence.token), { fence: { name: fence.name, token: fence.token } });
      return;
    }
    const lock = await this.#readLock(this.#lockPrefix + fence.name);
    if (!lock || lock.record.token !== fence.token || lock.record.expiresAt <= Date.now()) throw leaseLost(fence);
  }

  async list(prefix: string, options?: StorageListOptions): Promise<StorageListResult> {
    assertValidPrefix(prefix);
    const limit = listLimit(options);
    const request: { prefix: string; limit: number; cursor?: string } = { prefix, limit };
    if (options?.cursor !== undefined) request.cursor = unwrapNativeCursor(CURSOR_TAG, options.cursor);
    const page = await r2Call("list", prefix, () => this.#bucket.list({ ...request, include: ["customMetadata"] }));
    const keys = page.objects.filter((o) => !o.key.startsWith(this.#lockPrefix) && !isTombstone(o)).map((o) => o.key);
    return page.truncated && page.cursor ? { keys, cursor: wrapNativeCursor(CURSOR_TAG, page.cursor) } : { keys };
  }

  async lock(name: string, options?: LockOptions): Promise<Lease> {
    if (this.#locks) return await this.#locks.lock(name, options);
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

function isConditional(when: WriteConditions | undefined): when is WriteConditions {
  return when !== undefined && (when.ifVersion !== undefined || when.fence !== undefined);
}

function isTombstone(object: { customMetadata?: Record<string, string> }): boolean {
  return object.customMetadata?.[DELETED] === "1";
}

function versionOf(object: R2ObjectLike): string {
  return `${object.etag}/${object.version}`;
}

async function r2Call<T>(op: string, key: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (cause) {
    if (cause instanceof EdgecertError) throw cause;
    throw new EdgecertError("storage", `R2 ${op} ${JSON.stringify(key)} failed: ${String(cause)}`, { cause });
  }
}
