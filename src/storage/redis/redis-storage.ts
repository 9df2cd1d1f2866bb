import { EdgecertError } from "../../errors.ts";
import { base64Decode, base64Encode } from "../../webcrypto/base64url.ts";
import type { Lease, LockOptions, Storage, StorageEntry, StorageListOptions, StorageListResult, WriteConditions } from "../storage.ts";
import { assertValidKey, assertValidPrefix } from "../keys.ts";
import { decodeKeyCursor, listLimit } from "../list-page.ts";
import { pageOfFetched } from "../fetched-page.ts";
import { acquireWithin, lockSettings, type LockAttempt } from "../lock-wait.ts";
import { HeldLease, lapsed } from "../lease.ts";
import { valueBytes } from "../value-bytes.ts";
import { checkConditions, refusedWrite } from "../conditional-write.ts";
import { checkDueEntry, checkDueLimit, checkDueOptions, checkDueTime, dueLeaseLost, type DueEntry, type DueIndex, type DueWriteOptions } from "../due-index.ts";
import type { RedisScriptClient } from "./redis-client.ts";
import * as scripts from "./redis-scripts.ts";
import { versionNonce } from "../version-nonce.ts";

/** Options for {@link RedisStorage}. */
export interface RedisStorageOptions {
  /** A Redis (or Valkey) ≥ 7 client: see `fromNodeRedis`, `fromIoredis`, `fromBunRedis`. */
  client: RedisScriptClient;
  /**
   * Namespace of every Redis key this storage uses, so several applications can share one database.
   * Wrapped in `{}` as a cluster hash tag: all of one storage's keys live in one slot, which lets every
   * script touch them atomically on Redis Cluster too. Default `"edgecert"`.
   */
  prefix?: string;
}

/** Keys sort before this character: they are printable ASCII (≤ 0x7e). Ends a prefix range. */
const AFTER_ALL_KEYS = "\x7f";

/**
 * {@link Storage} in Redis or Valkey ≥ 7, shared by any number of processes and machines, through a
 * small client adapter (no Redis client is a dependency of edgecert).
 *
 * Layout under prefix `P` (all keys hash-tagged `{P}`): each value is a hash `{P}:v:<key>` holding the
 * bytes (base64, so any client's string replies carry them intact) and a version; `{P}:keys` is a sorted
 * set of every key, read with `ZRANGE … BYLEX` — ordered pages that resume after the last key, which
 * `SCAN` (unordered, may repeat keys across a rehash) cannot give; a version is `<n>.<nonce>`: `{P}:seq`
 * counts (so it differs after a delete + recreate) and 96 random bits from the writer make it unique
 * even when Redis loses data and the counter starts over (restart without persistence, failover to a
 * replica that lagged, an older snapshot restored): a stale version can never match a later write. Locks are `{P}:lock:<name>` strings holding the fencing
 * token with a `PX` expiry (the server's clock decides when a lease lapses); `{P}:fence:<name>` counts
 * tokens, which never shrink.
 *
 * Consistency: every operation is one Lua script, atomic on the server: a conditional `put`/`delete`
 * checks the version and the fence in the same script that writes, so a refused write changes nothing.
 * Reads are as consistent as the node the client talks to (use the primary). Run Redis with persistence
 * (AOF, `appendfsync everysec` or `always`): without it a restart loses certificates and order intents.
 * Fencing tokens are kept at least the server's clock in ms, so they grow even when a counter is lost.
 *
 * Also a {@link DueIndex}: a sorted set `{P}:due` scored by due time, so a renewal pass reads only what
 * is due. Client errors become `EdgecertError("storage")` with the client's error as `cause`.
 */
export class RedisStorage implements Storage, DueIndex {
  readonly #client: RedisScriptClient;
  readonly #ns: string;

  /**
   * Storage in Redis through a client adapter.
   * @param options The client adapter and key prefix.
   */
  constructor(options: RedisStorageOptions) {
    if (!options || typeof options.client?.eval !== "function") throw new EdgecertError("invalid_input", "RedisStorage needs { client } with eval(script, keys, args)");
    const prefix = options.prefix ?? "edgecert";
    if (typeof prefix !== "string" || prefix.length === 0 || /[{}\s]/.test(prefix)) {
      throw new EdgecertError("invalid_input", `RedisStorage prefix must be a non-empty string without braces or spaces, got ${JSON.stringify(prefix)}`);
    }
    this.#client = options.client;
    this.#ns = `{${prefix}}:`;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    return (await this.getEntry(key))?.value;
  }

  async getEntry(key: string): Promise<StorageEntry | undefined> {
    assertValidKey(key);
    const reply = await this.#eval("get", scripts.GET, [this.#valueKey(key)], []);
    if (!Array.isArray(reply) || reply[0] == null) return undefined;
    return { value: base64Decode(String(reply[0])), version: String(reply[1]) };
  }

  async put(key: string, value: Uint8Array | string, when?: WriteConditions): Promise<void> {
    assertValidKey(key);
    checkConditions(when);
    const data = base64Encode(valueBytes(value));
    await this.#write("put", scripts.PUT, key, data, when);
  }

  async delete(key: string, when?: WriteConditions): Promise<void> {
    assertValidKey(key);
    checkConditions(when);
    await this.#write("delete", scripts.DELETE, key, "", when);
  }

  async list(prefix: string, options?: StorageListOptions): Promise<StorageListResult> {
    assertValidPrefix(prefix);
    const limit = listLimit(options);
    const after = options?.cursor === undefined ? undefined : decodeKeyCursor(options.cursor);
    // Lexicographic range over a sorted set whose scores are all 0: byte order, as the contract asks.
    const min = after !== undefined && after >= prefix ? `(${after}` : `[${prefix}`;
    const max = `(${prefix}${AFTER_ALL_KEYS}`;
    const reply = await this.#eval("list", scripts.LIST, [this.#ns + "keys"], [min, max, String(limit + 1)]);
    return pageOfFetched(Array.isArray(reply) ? reply.map(String) : [], limit);
  }

  async lock(name: string, options?: LockOptions): Promise<Lease> {
    const settings = lockSettings(name, options);
    return await acquireWithin(name, settings, () => this.#tryLock(name, settings.ttlMs));
  }

  async setDue(id: string, dueAtMs: number, options?: DueWriteOptions): Promise<void> {
    const at = checkDueEntry(id, dueAtMs, options);
    await this.#writeDue("setDue", id, String(at), options);
  }

  async clearDue(id: string, options?: Pick<DueWriteOptions, "fence">): Promise<void> {
    assertValidKey(id, "due id");
    checkDueOptions(options);
    await this.#writeDue("clearDue", id, "", options);
  }

  async due(untilMs: number, limit: number): Promise<DueEntry[]> {
    const until = checkDueTime(untilMs, "untilMs");
    checkDueLimit(limit);
    const reply = await this.#eval("due", scripts.DUE, [this.#ns + "due"], [String(until), String(limit)]);
    const flat = Array.isArray(reply) ? reply : [];
    const out: DueEntry[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) out.push({ id: String(flat[i]), dueAtMs: Number(flat[i + 1]) });
    return out;
  }

  async #writeDue(op: string, id: string, at: string, options: DueWriteOptions | undefined): Promise<void> {
    const fence = options?.fence;
    const reply = await this.#eval(op, scripts.SET_DUE, [this.#ns + "due", fence ? this.#lockKey(fence.name) : this.#ns + "lock:"], [
      id,
      at,
      fence ? String(fence.token) : "",
      options?.earlierOnly ? "lt" : "",
    ]);
    if (reply === "lease_lost" && fence) throw dueLeaseLost(id, fence);
    if (reply !== "ok") throw new EdgecertError("storage", `redis: unexpected ${op} reply ${JSON.stringify(reply)}`);
  }

  async #tryLock(name: string, ttlMs: number): Promise<LockAttempt> {
    const ttl = String(Math.max(1, Math.ceil(ttlMs)));
    // The local clock before the request bounds the server's expiry from below: never promise more.
    const started = Date.now();
    const reply = await this.#eval("lock", scripts.LOCK, [this.#lockKey(name), this.#ns + "fence:" + name], [ttl]);
    if (!Array.isArray(reply) || reply.length !== 2) throw new EdgecertError("storage", `redis: unexpected lock reply ${JSON.stringify(reply)}`);
    if (Number(reply[0]) !== 1) {
      const left = Number(reply[1]);
      return left > 0 ? { heldUntil: Date.now() + left } : {};
    }
    const token = Number(reply[1]);
    const tokenText = String(reply[1]);
    const lease = new HeldLease(name, token, started + ttlMs, ttlMs, {
      renew: async (ttl) => {
        const at = Date.now();
        const ok = await this.#eval("renew", scripts.RENEW, [this.#lockKey(name)], [tokenText, String(Math.max(1, Math.ceil(ttl)))]);
        if (Number(ok) !== 1) throw lapsed(name, token);
        return at + ttl;
      },
      release: async () => {
        await this.#eval("release", scripts.RELEASE, [this.#lockKey(name)], [tokenText]);
      },
    });
    return { lease };
  }

  async #write(op: "put" | "delete", script: string, key: string, data: string, when: WriteConditions | undefined): Promise<void> {
    const mode = when?.ifVersion === undefined ? "" : when.ifVersion === null ? "absent" : "is";
    const fence = when?.fence;
    const lockKey = fence ? this.#lockKey(fence.name) : this.#ns + "lock:";
    const reply = await this.#eval(op, script, [this.#valueKey(key), this.#ns + "keys", this.#ns + "seq", lockKey], [
      key,
      data,
      mode,
      typeof when?.ifVersion === "string" ? when.ifVersion : "",
      fence ? String(fence.token) : "",
      versionNonce(),
    ]);
    if (reply === "ok") return;
    if (reply === "conflict" || reply === "lease_lost") throw refusedWrite(reply, op, key, when);
    throw new EdgecertError("storage", `redis: unexpected ${op} reply ${JSON.stringify(reply)}`);
  }

  #valueKey(key: string): string {
    return `${this.#ns}v:${key}`;
  }

  #lockKey(name: string): string {
    return `${this.#ns}lock:${name}`;
  }

  async #eval(op: string, script: string, keys: string[], args: string[]): Promise<unknown> {
    try {
      return await this.#client.eval(script, keys, args);
    } catch (error) {
      throw new EdgecertError("storage", `redis ${op} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }
}
