import { EdgecertError } from "../../errors.ts";
import { base64Decode, base64Encode } from "../../webcrypto/base64url.ts";
import type { Lease, LockOptions, Storage, StorageEntry, StorageListOptions, StorageListResult, WriteConditions } from "../storage.ts";
import { assertValidKey, assertValidPrefix } from "../keys.ts";
import { decodeKeyCursor, listLimit } from "../list-page.ts";
import { pageOfFetched } from "../fetched-page.ts";
import { acquireWithin, lockSettings, type LockAttempt } from "../lock-wait.ts";
import { HeldLease, lapsed } from "../lease.ts";
import { valueBytes } from "../value-bytes.ts";
import { versionNonce } from "../version-nonce.ts";
import { checkConditions, refusedWrite } from "../conditional-write.ts";
import { checkDueEntry, checkDueLimit, checkDueOptions, checkDueTime, dueLeaseLost, type DueEntry, type DueIndex, type DueWriteOptions } from "../due-index.ts";
import type { PostgresQueryClient, PostgresRow } from "./postgres-client.ts";

/** Options for {@link PostgresStorage}. */
export interface PostgresStorageOptions {
  /** A PostgreSQL ≥ 13 client: see `fromPg`, `fromPostgresJs`. */
  client: PostgresQueryClient;
  /** Table name (a plain lower-case identifier); a sequence `<table>_version` sits beside it. Default `edgecert_storage`. */
  table?: string;
}

/** The server's clock in epoch ms: lease expiry is judged by it, never by a client's. */
const NOW_MS = "(extract(epoch from clock_timestamp()) * 1000)::bigint";
/** Keys are printable ASCII (≤ 0x7e), so every key with a prefix sorts below prefix + DEL. */
const AFTER_ALL_KEYS = "\x7f";

/**
 * {@link Storage} in PostgreSQL ≥ 13, shared by any number of processes and machines, through a
 * `query(sql, params)` adapter (no PostgreSQL client is a dependency of edgecert). Call
 * {@link PostgresStorage.migrate} once (it is idempotent) before first use.
 *
 * Layout: one table, `(kind, key)` primary key, `key` in the "C" collation so `list` pages come in byte
 * order from the index. Kind `v` rows hold a value and its version, `<n>.<nonce>`: `n` from a sequence (so
 * it differs after a delete + recreate) and 96 random bits drawn by the writer, so a version is never
 * reused even when the database goes back in time — a restored backup or point-in-time recovery, a
 * failover to an asynchronous standby that lagged: the sequence is restored (or lags) with the rows and
 * hands its numbers out again, the nonce does not. Kind `l` rows are leases: the fencing token and the expiry in
 * epoch ms by the server's clock — rows, not advisory locks, which belong to a session and vanish with
 * a pooled connection; the row stays after a release, so tokens only grow, and a new token is at least
 * the server's clock in ms, so it also outgrows every token handed out before the database went back in
 * time (as long as the server's clock does not go back further). Kind `d` rows are the
 * {@link DueIndex}, with a partial index on the due time.
 *
 * Consistency: each operation is a single statement. A fenced write locks the lease row `FOR SHARE` in
 * the statement that writes, so a takeover (which updates that row) is ordered entirely before or after
 * it; a version condition is part of the `UPDATE`'s `WHERE` (re-checked on the newest row under
 * concurrency) or an `INSERT … ON CONFLICT DO NOTHING`. A refused write changes nothing. Client errors
 * become `EdgecertError("storage")` with the client's error as `cause`.
 */
export class PostgresStorage implements Storage, DueIndex {
  readonly #client: PostgresQueryClient;
  readonly #t: string;
  readonly #seq: string;

  /**
   * Storage in a PostgreSQL table through a client adapter.
   * @param options The client adapter and table name; call `migrate()` once.
   */
  constructor(options: PostgresStorageOptions) {
    if (!options || typeof options.client?.query !== "function") throw new EdgecertError("invalid_input", "PostgresStorage needs { client } with query(sql, params)");
    const table = options.table ?? "edgecert_storage";
    if (typeof table !== "string" || !/^[a-z_][a-z0-9_]{0,50}$/.test(table)) {
      throw new EdgecertError("invalid_input", `PostgresStorage table must be a lower-case identifier, got ${JSON.stringify(table)}`);
    }
    this.#client = options.client;
    this.#t = table;
    this.#seq = `${table}_version`;
  }

  /** Creates the table, its due-time index and the version sequence when missing. Safe to run from every instance. */
  async migrate(): Promise<void> {
    const statements = [
      `CREATE TABLE IF NOT EXISTS ${this.#t} (
        kind text NOT NULL CHECK (kind IN ('v', 'l', 'd')),
        key text COLLATE "C" NOT NULL,
        value bytea,
        version bigint,
        token bigint,
        expires_at bigint,
        due_at bigint,
        PRIMARY KEY (kind, key))`,
      `CREATE SEQUENCE IF NOT EXISTS ${this.#seq}`,
      // Added after the first release: tables made by it get the column here (their rows keep reading).
      `ALTER TABLE ${this.#t} ADD COLUMN IF NOT EXISTS nonce text`,
      `CREATE INDEX IF NOT EXISTS ${this.#t}_due ON ${this.#t} (due_at, key) WHERE kind = 'd'`,
    ];
    for (const sql of statements) {
      try {
        await this.#query("migrate", sql, []);
      } catch (error) {
        // Two instances creating the same object at once: one loses with a duplicate; the object exists.
        if (!/already exists|duplicate key/.test(String((error as Error).message))) throw error;
      }
    }
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    return (await this.getEntry(key))?.value;
  }

  async getEntry(key: string): Promise<StorageEntry | undefined> {
    assertValidKey(key);
    const rows = await this.#query("get", `SELECT encode(value, 'base64') AS value, ${VERSION_TEXT} AS version FROM ${this.#t} WHERE kind = 'v' AND key = $1`, [key]);
    const row = rows[0];
    if (!row) return undefined;
    // encode(…, 'base64') breaks lines every 76 characters.
    return { value: base64Decode(String(row.value ?? "").replace(/\s+/g, "")), version: String(row.version) };
  }

  async put(key: string, value: Uint8Array | string, when?: WriteConditions): Promise<void> {
    assertValidKey(key);
    checkConditions(when);
    const data = base64Encode(valueBytes(value));
    const { fenceCte, fenceWhere, params } = this.#fenceParts(when, [key, data, versionNonce()]);
    let sql: string;
    if (typeof when?.ifVersion === "string") {
      sql = `${fenceCte} UPDATE ${this.#t} SET value = decode($2, 'base64'), version = nextval('${this.#seq}'), nonce = $3
        WHERE kind = 'v' AND key = $1 AND ${versionIs(when.ifVersion, params)} ${fenceWhere ? `AND ${fenceWhere}` : ""} RETURNING 1 AS ok`;
    } else {
      const onConflict = when?.ifVersion === null ? "DO NOTHING" : "DO UPDATE SET value = EXCLUDED.value, version = EXCLUDED.version, nonce = EXCLUDED.nonce";
      sql = `${fenceCte} INSERT INTO ${this.#t} (kind, key, value, version, nonce)
        SELECT 'v', $1, decode($2, 'base64'), nextval('${this.#seq}'), $3 ${fenceWhere ? `WHERE ${fenceWhere}` : ""}
        ON CONFLICT (kind, key) ${onConflict} RETURNING 1 AS ok`;
    }
    const rows = await this.#query("put", sql, params);
    if (rows.length > 0) return;
    const why = await this.#diagnose(key, when);
    // An unconditional fenced put is refused only by its fence.
    throw refusedWrite(when?.fence && (!why.fenceHeld || when.ifVersion === undefined) ? "lease_lost" : "conflict", "put", key, when);
  }

  async delete(key: string, when?: WriteConditions): Promise<void> {
    assertValidKey(key);
    checkConditions(when);
    if (when?.ifVersion !== null) {
      const { fenceCte, fenceWhere, params } = this.#fenceParts(when, [key]);
      let versionWhere = "";
      if (typeof when?.ifVersion === "string") versionWhere = `AND ${versionIs(when.ifVersion, params)}`;
      const sql = `${fenceCte} DELETE FROM ${this.#t} WHERE kind = 'v' AND key = $1 ${versionWhere} ${fenceWhere ? `AND ${fenceWhere}` : ""} RETURNING 1 AS ok`;
      const rows = await this.#query("delete", sql, params);
      if (rows.length > 0 || when === undefined || (when.fence === undefined && when.ifVersion === undefined)) return;
    }
    // Nothing deleted under conditions: find out whether a condition failed or the key was just absent.
    const why = await this.#diagnose(key, when);
    if (when?.fence && !why.fenceHeld) throw refusedWrite("lease_lost", "delete", key, when);
    if (typeof when?.ifVersion === "string" || (when?.ifVersion === null && why.version !== undefined)) throw refusedWrite("conflict", "delete", key, when);
  }

  async list(prefix: string, options?: StorageListOptions): Promise<StorageListResult> {
    assertValidPrefix(prefix);
    const limit = listLimit(options);
    const after = options?.cursor === undefined ? undefined : decodeKeyCursor(options.cursor);
    const rows = await this.#query(
      "list",
      `SELECT key FROM ${this.#t} WHERE kind = 'v' AND key >= $1 COLLATE "C" AND key < $2 COLLATE "C" AND key > $3 COLLATE "C"
        ORDER BY key COLLATE "C" LIMIT $4::int`,
      [prefix, prefix + AFTER_ALL_KEYS, after ?? "", String(limit + 1)],
    );
    return pageOfFetched(rows.map((r) => String(r.key)), limit);
  }

  async lock(name: string, options?: LockOptions): Promise<Lease> {
    const settings = lockSettings(name, options);
    return await acquireWithin(name, settings, () => this.#tryLock(name, settings.ttlMs));
  }

  async setDue(id: string, dueAtMs: number, options?: DueWriteOptions): Promise<void> {
    const at = checkDueEntry(id, dueAtMs, options);
    const { fenceCte, fenceWhere, params } = this.#fenceParts(options, [id, String(at)]);
    const update = options?.earlierOnly ? "LEAST(t.due_at, EXCLUDED.due_at)" : "EXCLUDED.due_at";
    const rows = await this.#query(
      "setDue",
      `${fenceCte} INSERT INTO ${this.#t} AS t (kind, key, due_at) SELECT 'd', $1, $2::bigint ${fenceWhere ? `WHERE ${fenceWhere}` : ""}
        ON CONFLICT (kind, key) DO UPDATE SET due_at = ${update} RETURNING 1 AS ok`,
      params,
    );
    if (rows.length === 0 && options?.fence) throw dueLeaseLost(id, options.fence);
  }

  async clearDue(id: string, options?: Pick<DueWriteOptions, "fence">): Promise<void> {
    assertValidKey(id, "due id");
    checkDueOptions(options);
    if (!options?.fence) {
      await this.#query("clearDue", `DELETE FROM ${this.#t} WHERE kind = 'd' AND key = $1`, [id]);
      return;
    }
    const { fenceCte, fenceWhere, params } = this.#fenceParts(options, [id]);
    // The fence's verdict is returned whether or not there was a row to delete.
    const rows = await this.#query(
      "clearDue",
      `${fenceCte}, gone AS (DELETE FROM ${this.#t} WHERE kind = 'd' AND key = $1 AND ${fenceWhere} RETURNING 1) SELECT ${fenceWhere} AS held`,
      params,
    );
    const held = rows[0]?.held;
    if (!(held === true || held === "t" || held === "true")) throw dueLeaseLost(id, options.fence);
  }

  async due(untilMs: number, limit: number): Promise<DueEntry[]> {
    const until = checkDueTime(untilMs, "untilMs");
    checkDueLimit(limit);
    const rows = await this.#query(
      "due",
      `SELECT key, due_at::text AS due_at FROM ${this.#t} WHERE kind = 'd' AND due_at <= $1::bigint ORDER BY due_at, key LIMIT $2::int`,
      [String(until), String(limit)],
    );
    return rows.map((r) => ({ id: String(r.key), dueAtMs: Number(r.due_at) }));
  }

  async #tryLock(name: string, ttlMs: number): Promise<LockAttempt> {
    const ttl = String(Math.max(1, Math.ceil(ttlMs)));
    const started = Date.now();
    // Takes the row when it is free or its lease lapsed by the server's clock; the token counts up in the row.
    const rows = await this.#query(
      "lock",
      `INSERT INTO ${this.#t} AS t (kind, key, token, expires_at) VALUES ('l', $1, ${NOW_MS}, ${NOW_MS} + $2::bigint)
        ON CONFLICT (kind, key) DO UPDATE SET token = GREATEST(t.token + 1, ${NOW_MS}), expires_at = EXCLUDED.expires_at WHERE t.expires_at <= ${NOW_MS}
        RETURNING token::text AS token`,
      [name, ttl],
    );
    if (rows.length === 0) {
      const held = await this.#query("lock", `SELECT (expires_at - ${NOW_MS})::text AS left FROM ${this.#t} WHERE kind = 'l' AND key = $1`, [name]);
      const left = Number(held[0]?.left);
      return left > 0 ? { heldUntil: Date.now() + left } : {};
    }
    const tokenText = String(rows[0]!.token);
    const token = Number(tokenText);
    const lease = new HeldLease(name, token, started + ttlMs, ttlMs, {
      renew: async (ttl) => {
        const at = Date.now();
        const renewed = await this.#query(
          "renew",
          `UPDATE ${this.#t} SET expires_at = ${NOW_MS} + $3::bigint WHERE kind = 'l' AND key = $1 AND token = $2::bigint AND expires_at > ${NOW_MS} RETURNING 1 AS ok`,
          [name, tokenText, String(Math.max(1, Math.ceil(ttl)))],
        );
        if (renewed.length === 0) throw lapsed(name, token);
        return at + ttl;
      },
      release: async () => {
        await this.#query("release", `UPDATE ${this.#t} SET expires_at = 0 WHERE kind = 'l' AND key = $1 AND token = $2::bigint`, [name, tokenText]);
      },
    });
    return { lease };
  }

  /** The fence check as a CTE that share-locks the lease row for the writing statement. */
  #fenceParts(when: WriteConditions | undefined, params: (string | null)[]): { fenceCte: string; fenceWhere: string; params: (string | null)[] } {
    const fence = when?.fence;
    if (!fence) return { fenceCte: "", fenceWhere: "", params };
    params.push(fence.name, String(fence.token));
    const n = params.length;
    return {
      fenceCte: `WITH fence AS MATERIALIZED (SELECT 1 FROM ${this.#t} WHERE kind = 'l' AND key = $${n - 1} AND token = $${n}::bigint AND expires_at > ${NOW_MS} FOR SHARE)`,
      fenceWhere: "EXISTS (SELECT 1 FROM fence)",
      params,
    };
  }

  /** Why a conditional write did nothing: whether the fence still holds, and the key's version now. */
  async #diagnose(key: string, when: WriteConditions | undefined): Promise<{ fenceHeld: boolean; version: string | undefined }> {
    const fence = when?.fence;
    const rows = await this.#query(
      "read",
      `SELECT (SELECT ${VERSION_TEXT} FROM ${this.#t} WHERE kind = 'v' AND key = $1) AS version,
        EXISTS (SELECT 1 FROM ${this.#t} WHERE kind = 'l' AND key = $2 AND token = $3::bigint AND expires_at > ${NOW_MS}) AS held`,
      [key, fence?.name ?? "", String(fence?.token ?? 0)],
    );
    const row = rows[0] ?? {};
    const held = row.held === true || row.held === "t" || row.held === "true";
    return { fenceHeld: fence === undefined || held, version: row.version == null ? undefined : String(row.version) };
  }

  async #query(op: string, sql: string, params: (string | null)[]): Promise<PostgresRow[]> {
    try {
      return await this.#client.query(sql, params);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const hint = /(relation|column) .* does not exist/.test(message) ? " (run PostgresStorage.migrate() first)" : "";
      throw new EdgecertError("storage", `postgres ${op} failed: ${message}${hint}`, { cause: error });
    }
  }
}

/**
 * A version as this backend reads it: `<sequence value>.<nonce>`, or the bare sequence value for a row
 * written before versions had a nonce (such a row keeps its version until it is next written).
 */
const VERSION_TEXT = "(version::text || coalesce('.' || nonce, ''))";

/**
 * The condition "the row is at `version`", its parameters appended to `params`. A string this backend
 * never issued can never match (sequence -1).
 */
function versionIs(version: string, params: (string | null)[]): string {
  const parts = /^([0-9]{1,18})(?:\.([0-9a-f]{24}))?$/.exec(version);
  params.push(parts ? parts[1]! : "-1", parts?.[2] ?? null);
  return `version = $${params.length - 1}::bigint AND nonce IS NOT DISTINCT FROM $${params.length}::text`;
}
