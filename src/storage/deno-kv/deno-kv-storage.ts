import { EdgecertError } from "../../errors.ts";
import type { Lease, LockOptions, Storage, StorageEntry, StorageListOptions, StorageListResult, WriteConditions } from "../storage.ts";
import { assertValidKey, assertValidPrefix } from "../keys.ts";
import { decodeKeyCursor, listLimit } from "../list-page.ts";
import { pageOfFetched } from "../fetched-page.ts";
import { acquireWithin, lockSettings, type LockAttempt } from "../lock-wait.ts";
import { HeldLease, lapsed } from "../lease.ts";
import { valueBytes } from "../value-bytes.ts";
import { versionNonce } from "../version-nonce.ts";
import { checkConditions, refusedWrite, type WriteRefusal } from "../conditional-write.ts";
import { checkDueEntry, checkDueLimit, checkDueOptions, checkDueTime, dueLeaseLost, type DueEntry, type DueIndex, type DueWriteOptions } from "../due-index.ts";
import type { DenoKvLike, KvAtomicLike, KvEntryLike, KvKeyLike } from "./deno-kv-like.ts";

/** Options for {@link DenoKvStorage}. */
export interface DenoKvStorageOptions {
  /** An open `Deno.Kv` (`await Deno.openKv()` on Deno Deploy, or `Deno.openKv(path)` locally with `--unstable-kv`). */
  kv: DenoKvLike;
  /** First part of every Deno KV key this storage uses. Default `"edgecert"`. */
  prefix?: string;
}

/** Deno KV refuses values over 64 KiB; larger ones are stored in chunks of this size. */
const CHUNK_BYTES = 60_000;
/** A compare-and-set that keeps losing to other writers gives up after this many rounds. */
const MAX_ROUNDS = 50;

/**
 * Waits a random while, longer each round (up to 100 ms), before the next try of a commit that lost:
 * retried at once, a writer whose read-and-commit is slower than the others' (a loaded process, three
 * processes walking the fleet queue over one key) lost every one of its 50 rounds.
 */
function backOff(round: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(100, 2 ** Math.min(round, 7))));
}
const AFTER_ALL_KEYS = "\x7f";

/**
 * The head record of a value: the bytes inline, or the generation and count of its chunks; `r` is the
 * writer's nonce, part of the version (absent on heads written before versions had one).
 */
type Head = ({ d: Uint8Array } | { g: string; n: number; len: number }) & { r?: string };
/** A lock record: the last token handed out and when that lease lapses (0 once released). */
interface LockRecord {
  token: number;
  expiresAt: number;
}

/**
 * {@link Storage} in Deno KV: locally (`deno --unstable-kv`, SQLite, shared by the processes that open
 * the same path) and on Deno Deploy (one store for every isolate and region).
 *
 * Layout under prefix `P`: `[P, "v", key]` holds a value (inline up to 60 KB; larger values in chunks
 * `[P, "c", key, generation, i]` written before the head that names them, so a reader never sees half a
 * value) — its version is the head's versionstamp and the writer's random nonce, so a version is not
 * reused when the store goes back to an older state (see `versionOf`); `[P, "l", name]` is a lock record `{ token, expiresAt }`
 * that stays after a release, so tokens only grow (and start at
 * the acting instance's clock in ms, so they outgrow tokens handed out before the store went back); `[P, "d", dueAt, id]` and `[P, "di", id]` are the
 * {@link DueIndex}.
 *
 * Consistency: strong (Deno KV's default reads). Every write is one `atomic()` commit with versionstamp
 * checks on the head and, for a fenced write, on the lock record: a takeover, renewal or release of the
 * lock between the check and the commit fails the commit, which is then re-judged from fresh reads. Deno
 * KV has no server clock, so lease expiry is judged by the clock of the instance that acts (keep clocks
 * in step and leases well above the skew). A crash between writing chunks and their head leaves
 * unreferenced chunks behind (values over 60 KB only; edgecert's records are a few KB).
 */
export class DenoKvStorage implements Storage, DueIndex {
  readonly #kv: DenoKvLike;
  readonly #p: string;

  /**
   * Storage in Deno KV.
   * @param options The `Deno.Kv` and the key prefix.
   */
  constructor(options: DenoKvStorageOptions) {
    if (!options || typeof options.kv?.atomic !== "function") throw new EdgecertError("invalid_input", "DenoKvStorage needs { kv } (a Deno.Kv)");
    const prefix = options.prefix ?? "edgecert";
    if (typeof prefix !== "string" || prefix.length === 0) throw new EdgecertError("invalid_input", "DenoKvStorage prefix must be a non-empty string");
    this.#kv = options.kv;
    this.#p = prefix;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    return (await this.getEntry(key))?.value;
  }

  async getEntry(key: string): Promise<StorageEntry | undefined> {
    assertValidKey(key);
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const head = await this.#call("get", () => this.#kv.get(this.#head(key)));
      if (head.versionstamp === null) return undefined;
      const value = await this.#readValue(key, head.value as Head);
      // Chunks gone: an overwrite replaced this generation after we read its head. Read again.
      if (value) return { value, version: versionOf(head) };
    }
    throw new EdgecertError("storage", `deno kv get of "${key}" kept racing with writers`);
  }

  async put(key: string, value: Uint8Array | string, when?: WriteConditions): Promise<void> {
    assertValidKey(key);
    checkConditions(when);
    const bytes = valueBytes(value);
    const r = versionNonce();
    let head: Head = { d: bytes, r };
    let generation: string | undefined;
    if (bytes.length > CHUNK_BYTES) {
      generation = crypto.randomUUID();
      const n = Math.ceil(bytes.length / CHUNK_BYTES);
      for (let i = 0; i < n; i++) {
        const chunk = bytes.slice(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES);
        await this.#call("put", () => this.#kv.set(this.#chunk(key, generation!, i), chunk));
      }
      head = { g: generation, n, len: bytes.length, r };
    }
    try {
      await this.#conditionalWrite("put", key, when, (op) => op.set(this.#head(key), head));
    } catch (error) {
      if (generation) await this.#deleteChunks(key, generation).catch(() => undefined);
      throw error;
    }
  }

  async delete(key: string, when?: WriteConditions): Promise<void> {
    assertValidKey(key);
    checkConditions(when);
    await this.#conditionalWrite("delete", key, when, (op, current) => (current.versionstamp === null ? undefined : op.delete(this.#head(key))));
  }

  async list(prefix: string, options?: StorageListOptions): Promise<StorageListResult> {
    assertValidPrefix(prefix);
    const limit = listLimit(options);
    const after = options?.cursor === undefined ? undefined : decodeKeyCursor(options.cursor);
    // The smallest string above `after` is `after` + NUL, which no key contains.
    const start = after !== undefined && after >= prefix ? `${after}\u0000` : prefix;
    const keys: string[] = [];
    await this.#call("list", async () => {
      for await (const entry of this.#kv.list({ start: [this.#p, "v", start], end: [this.#p, "v", prefix + AFTER_ALL_KEYS] }, { limit: limit + 1 })) {
        keys.push(String(entry.key[2]));
      }
    });
    return pageOfFetched(keys, limit);
  }

  async lock(name: string, options?: LockOptions): Promise<Lease> {
    const settings = lockSettings(name, options);
    return await acquireWithin(name, settings, () => this.#tryLock(name, settings.ttlMs));
  }

  async setDue(id: string, dueAtMs: number, options?: DueWriteOptions): Promise<void> {
    const at = checkDueEntry(id, dueAtMs, options);
    await this.#moveDue(id, at, options);
  }

  async clearDue(id: string, options?: Pick<DueWriteOptions, "fence">): Promise<void> {
    assertValidKey(id, "due id");
    checkDueOptions(options);
    await this.#moveDue(id, undefined, options);
  }

  async due(untilMs: number, limit: number): Promise<DueEntry[]> {
    const until = checkDueTime(untilMs, "untilMs");
    checkDueLimit(limit);
    const out: DueEntry[] = [];
    await this.#call("due", async () => {
      for await (const entry of this.#kv.list({ start: [this.#p, "d"], end: [this.#p, "d", until + 1] }, { limit })) {
        out.push({ id: String(entry.key[3]), dueAtMs: Number(entry.key[2]) });
      }
    });
    return out;
  }

  /**
   * Judges the conditions on fresh reads, then commits `mutate` with versionstamp checks on the head and
   * the fence's lock record; a failed commit means something changed in between, so it judges again.
   */
  async #conditionalWrite(op: "put" | "delete", key: string, when: WriteConditions | undefined, mutate: (atomic: KvAtomicLike, current: KvEntryLike) => KvAtomicLike | undefined): Promise<void> {
    const fence = when?.fence;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const [current, lock] = await Promise.all([
        this.#call(op, () => this.#kv.get(this.#head(key))),
        fence ? this.#call(op, () => this.#kv.get(this.#lockKey(fence.name))) : undefined,
      ]);
      const refusal = judge(when, current, lock);
      if (refusal) throw refusedWrite(refusal, op, key, when);
      const atomic = this.#kv.atomic().check({ key: this.#head(key), versionstamp: current.versionstamp });
      if (fence && lock) atomic.check({ key: this.#lockKey(fence.name), versionstamp: lock.versionstamp });
      const old = current.value as Head | undefined;
      if (mutate(atomic, current) === undefined) return; // nothing to write (deleting a missing key)
      const result = await this.#commit(op, atomic);
      if (!result.ok) {
        await backOff(round);
        continue;
      }
      if (old && "g" in old) await this.#deleteChunks(key, old.g).catch(() => undefined);
      return;
    }
    throw new EdgecertError("storage", `deno kv ${op} of "${key}" kept losing to concurrent writers (${MAX_ROUNDS} rounds)`);
  }

  async #tryLock(name: string, ttlMs: number): Promise<LockAttempt> {
    const key = this.#lockKey(name);
    const entry = await this.#call("lock", () => this.#kv.get(key));
    const record = entry.value as LockRecord | undefined;
    const now = Date.now();
    if (record && record.expiresAt > now) return { heldUntil: record.expiresAt };
    // At least this instance's clock in ms: the record goes back with the store (an older copy restored),
    // the clock does not, so a token handed out before that is never handed out again.
    const token = Math.max((record?.token ?? 0) + 1, now);
    const expiresAt = now + ttlMs;
    const result = await this.#commit("lock", this.#kv.atomic().check({ key, versionstamp: entry.versionstamp }).set(key, { token, expiresAt } satisfies LockRecord));
    if (!result.ok) return {}; // another instance took it first: look again
    const lease = new HeldLease(name, token, expiresAt, ttlMs, {
      renew: async (ttl) => {
        const at = Date.now();
        if (!(await this.#updateLock(name, token, at + ttl))) throw lapsed(name, token);
        return at + ttl;
      },
      release: async () => {
        await this.#updateLock(name, token, 0);
      },
    });
    return { lease };
  }

  /** Sets the expiry of lease `token` on `name` while it still holds; false when it lapsed or was taken over. */
  async #updateLock(name: string, token: number, expiresAt: number): Promise<boolean> {
    const key = this.#lockKey(name);
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const entry = await this.#call("lock", () => this.#kv.get(key));
      const record = entry.value as LockRecord | undefined;
      if (!record || record.token !== token || record.expiresAt <= Date.now()) return false;
      const result = await this.#commit("lock", this.#kv.atomic().check({ key, versionstamp: entry.versionstamp }).set(key, { token, expiresAt } satisfies LockRecord));
      if (result.ok) return true;
    }
    return false;
  }

  /** Moves (or removes) `id`'s entry; a fence is checked on the lock record's versionstamp in the same commit. */
  async #moveDue(id: string, at: number | undefined, options: DueWriteOptions | undefined): Promise<void> {
    const pointer: KvKeyLike = [this.#p, "di", id];
    const fence = options?.fence;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const [entry, lock] = await Promise.all([
        this.#call("setDue", () => this.#kv.get(pointer)),
        fence ? this.#call("setDue", () => this.#kv.get(this.#lockKey(fence.name))) : undefined,
      ]);
      if (fence && judge({ fence }, entry, lock) === "lease_lost") throw dueLeaseLost(id, fence);
      if (options?.earlierOnly && at !== undefined && typeof entry.value === "number" && entry.value <= at) return;
      const atomic = this.#kv.atomic().check({ key: pointer, versionstamp: entry.versionstamp });
      if (fence && lock) atomic.check({ key: this.#lockKey(fence.name), versionstamp: lock.versionstamp });
      if (typeof entry.value === "number") atomic.delete([this.#p, "d", entry.value, id]);
      if (at === undefined) atomic.delete(pointer);
      else atomic.set([this.#p, "d", at, id], true).set(pointer, at);
      if ((await this.#commit("setDue", atomic)).ok) return;
      await backOff(round);
    }
    throw new EdgecertError("storage", `deno kv setDue of "${id}" kept losing to concurrent writers`);
  }

  /** The bytes a head names, or undefined when its chunks are gone (replaced meanwhile). */
  async #readValue(key: string, head: Head): Promise<Uint8Array | undefined> {
    if ("d" in head) return new Uint8Array(head.d);
    const out = new Uint8Array(head.len);
    let count = 0;
    await this.#call("get", async () => {
      for await (const entry of this.#kv.list({ prefix: [this.#p, "c", key, head.g] })) {
        const i = Number(entry.key[4]);
        const chunk = entry.value as Uint8Array;
        out.set(chunk, i * CHUNK_BYTES);
        count++;
      }
    });
    return count === head.n ? out : undefined;
  }

  async #deleteChunks(key: string, generation: string): Promise<void> {
    for await (const entry of this.#kv.list({ prefix: [this.#p, "c", key, generation] })) await this.#kv.delete(entry.key as KvKeyLike);
  }

  #head(key: string): KvKeyLike {
    return [this.#p, "v", key];
  }

  #chunk(key: string, generation: string, i: number): KvKeyLike {
    return [this.#p, "c", key, generation, i];
  }

  #lockKey(name: string): KvKeyLike {
    return [this.#p, "l", name];
  }

  /**
   * Runs one Deno KV call. Local Deno KV is SQLite: processes sharing a file meet "database is locked"
   * under contention, which is retried (bounded) rather than reported; anything else becomes
   * `EdgecertError("storage")`.
   */
  async #call<T>(op: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (error) {
        if (error instanceof EdgecertError) throw error;
        if (isBusy(error) && attempt < BUSY_RETRIES) {
          await new Promise((r) => setTimeout(r, Math.min(100, 2 ** attempt) * (0.5 + Math.random())));
          continue;
        }
        throw new EdgecertError("storage", `deno kv ${op} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      }
    }
  }

  /** Commits `atomic`; a busy database counts as a failed check (the caller re-reads and builds a new operation). */
  async #commit(op: string, atomic: KvAtomicLike): Promise<{ ok: boolean }> {
    try {
      return await atomic.commit();
    } catch (error) {
      if (isBusy(error)) return { ok: false };
      throw new EdgecertError("storage", `deno kv ${op} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }
}

/** How often a call that met a locked SQLite database is tried again (about 4 s in all). */
const BUSY_RETRIES = 50;

function isBusy(error: unknown): boolean {
  return /database is locked|SQLITE_BUSY/i.test(error instanceof Error ? error.message : String(error));
}

/** Which condition fails on these reads, if any; a lost lease first. */
function judge(when: WriteConditions | undefined, current: KvEntryLike, lock: KvEntryLike | undefined): WriteRefusal | undefined {
  if (when?.fence) {
    const record = lock?.value as LockRecord | undefined;
    if (!record || record.token !== when.fence.token || record.expiresAt <= Date.now()) return "lease_lost";
  }
  if (when?.ifVersion === null && current.versionstamp !== null) return "conflict";
  if (typeof when?.ifVersion === "string" && (current.versionstamp === null || versionOf(current) !== when.ifVersion)) return "conflict";
  return undefined;
}

/**
 * A value's version: its versionstamp and the writer's nonce. A versionstamp comes from Deno KV's
 * commit counter, kept in the store's own data: a store restored from an older copy of its SQLite file
 * (or a hosted one restored to an earlier point) counts on from the restored value, so a later write may
 * get a versionstamp an earlier one had (locally the counter moves by a small random step per commit:
 * likely, not certain); the nonce tells those writes apart. The commit itself still checks the versionstamp read, so between that
 * read and the commit nothing can change unnoticed.
 */
function versionOf(entry: KvEntryLike): string {
  const nonce = (entry.value as Head | null | undefined)?.r;
  return typeof nonce === "string" ? `${entry.versionstamp}.${nonce}` : String(entry.versionstamp);
}
