import { EdgecertError, isEdgecertError } from "../errors.ts";
import { assertValidKey, assertValidPrefix } from "./keys.ts";
import { MAX_LIST_LIMIT } from "./list-page.ts";
import type { DurableObjectStateLike, SqlValueLike } from "./workers-bindings.ts";
import type { Fence, WriteConditions } from "./storage.ts";
import { checkConditions, checkVersion, leaseLost } from "./conditional-write.ts";
import { versionNonce } from "./version-nonce.ts";
import { base64urlEncode } from "../webcrypto/base64url.ts";
import {
  conditionsFrom,
  LEGACY_KV_VERSION_PREFIX,
  Paths,
  REFUSED_STATUS,
  VERSION_HEADER,
  type ErrorAnswer,
  type ListAnswer,
  type LockAnswer,
  type LockRequest,
  type ReleaseRequest,
  type RenewAnswer,
  type RenewRequest,
  type ValuesAnswer,
  type ValuesRequest,
} from "./durable-object-protocol.ts";

/**
 * Which value table a request is for: {@link DurableObjectStorage}'s values (a delete removes the
 * row), or {@link KvStorage}'s authoritative copies (a delete leaves a row with a NULL value, so the
 * object can tell "deleted" from "never written here").
 */
type Space = { table: "edgecert_values"; tombstones: false } | { table: "edgecert_kv_values"; tombstones: true };
const DO_SPACE: Space = { table: "edgecert_values", tombstones: false };
const KV_SPACE: Space = { table: "edgecert_kv_values", tombstones: true };

/**
 * The Durable Object behind {@link DurableObjectStorage} and behind {@link KvStorage}'s locks. Export it
 * from your Worker's main module and bind it with SQLite storage:
 *
 * ```jsonc
 * // wrangler.jsonc
 * "durable_objects": { "bindings": [{ "name": "EDGECERT", "class_name": "EdgecertStorageObject" }] },
 * "migrations": [{ "tag": "v1", "new_sqlite_classes": ["EdgecertStorageObject"] }]
 * ```
 * ```ts
 * export { EdgecertStorageObject } from "edgecert/storage";
 * ```
 *
 * Values live in the object's SQLite database (table `edgecert_values`, at most 2 MB per value), each
 * with a version from one counter per object (`edgecert_meta`) and a random nonce, so a version is never
 * reused, also after a delete or a point-in-time recovery; {@link KvStorage}'s authoritative copies are in `edgecert_kv_values`. Locks are in
 * `edgecert_locks`, one row per name whose `token` column only grows (rows are never deleted, so
 * tokens keep growing across releases and restarts; a new token is at least the clock in ms, so they
 * also outgrow tokens from before a point-in-time recovery). Each request runs as one synchronous SQLite
 * transaction, and an object handles one request at a time, so every operation — a conditional
 * write's check of version and fence included — is atomic and strongly consistent; lease expiry
 * follows the object's clock.
 *
 * It answers `fetch` (not RPC) so that it needs no `cloudflare:workers` import and this module loads
 * anywhere; the request format is internal to edgecert.
 */
export class EdgecertStorageObject {
  readonly #sql: DurableObjectStateLike["storage"]["sql"];
  readonly #transaction: DurableObjectStateLike["storage"]["transactionSync"];

  /**
   * Called by the Workers runtime.
   * @param ctx The object's state (its SQLite storage).
   */
  constructor(ctx: DurableObjectStateLike, _env?: unknown) {
    const storage = ctx.storage;
    this.#sql = storage.sql;
    this.#transaction = (fn) => storage.transactionSync(fn);
    this.#sql.exec("CREATE TABLE IF NOT EXISTS edgecert_values (key TEXT PRIMARY KEY, value BLOB NOT NULL, version INTEGER)");
    try {
      this.#sql.exec("SELECT version FROM edgecert_values LIMIT 0");
    } catch {
      // Made by a release before versions: its rows read as version 0 until written again.
      this.#sql.exec("ALTER TABLE edgecert_values ADD COLUMN version INTEGER");
    }
    this.#sql.exec("CREATE TABLE IF NOT EXISTS edgecert_kv_values (key TEXT PRIMARY KEY, value BLOB, version INTEGER NOT NULL)");
    this.#sql.exec("CREATE TABLE IF NOT EXISTS edgecert_meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)");
    this.#sql.exec("CREATE TABLE IF NOT EXISTS edgecert_locks (name TEXT PRIMARY KEY, token INTEGER NOT NULL, owner TEXT, expires_at INTEGER NOT NULL)");
  }

  /** Serves one storage request from {@link DurableObjectStorage} or {@link KvStorage}. */
  async fetch(request: Request): Promise<Response> {
    try {
      const url = new URL(request.url);
      const route = `${request.method} ${url.pathname}`;
      switch (route) {
        case `GET ${Paths.value}`:
          return this.#get(DO_SPACE, keyParam(url));
        case `GET ${Paths.kvValue}`:
          return this.#get(KV_SPACE, keyParam(url));
        case `PUT ${Paths.value}`:
        case `PUT ${Paths.kvValue}`:
        case `DELETE ${Paths.value}`:
        case `DELETE ${Paths.kvValue}`: {
          const key = keyParam(url);
          const when = conditionsFrom(url.searchParams);
          checkConditions(when);
          const value = request.method === "PUT" ? await request.arrayBuffer() : null;
          const version = this.#write(url.pathname === Paths.value ? DO_SPACE : KV_SPACE, key, value, when);
          return new Response(null, { status: 204, headers: { [VERSION_HEADER]: version } });
        }
        case `GET ${Paths.list}`:
          return json(this.#list(url.searchParams));
        case `POST ${Paths.values}`:
          return json(this.#values(await request.json()));
        case `POST ${Paths.lock}`:
          return json(this.#lock(await request.json()));
        case `POST ${Paths.renew}`:
          return json(this.#renew(await request.json()));
        case `POST ${Paths.release}`:
          this.#release(await request.json());
          return new Response(null, { status: 204 });
        default:
          return json({ error: `no route ${route}` } satisfies ErrorAnswer, 404);
      }
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (isEdgecertError(error, "conflict") || isEdgecertError(error, "lease_lost")) {
        return json({ error: message, code: error.code as "conflict" | "lease_lost" } satisfies ErrorAnswer, REFUSED_STATUS);
      }
      const status = isEdgecertError(error, "invalid_input") ? 400 : 500;
      return json({ error: message } satisfies ErrorAnswer, status);
    }
  }

  /** 200 with the value and its version; 404 when absent (`x-edgecert-row: none` when never written here). */
  #get(space: Space, key: string): Response {
    const row = this.#sql.exec(`SELECT value, version FROM ${space.table} WHERE key = ?`, key).toArray()[0];
    if (!row || row.value === null) return new Response(null, { status: 404, headers: { "x-edgecert-row": row ? "deleted" : "none" } });
    const value = row.value;
    return new Response(value instanceof ArrayBuffer ? value : new ArrayBuffer(0), {
      headers: { "content-type": "application/octet-stream", [VERSION_HEADER]: String(row.version ?? 0) },
    });
  }

  /**
   * Writes (`value`) or deletes (null) `key` when `when` holds, in one transaction; returns the new
   * version. Throws `lease_lost` / `conflict` (nothing written) otherwise.
   */
  #write(space: Space, key: string, value: ArrayBuffer | null, when: WriteConditions): string {
    return this.#transaction(() => {
      if (when.fence) this.#checkFence(when.fence);
      const row = this.#sql.exec(`SELECT version, value IS NULL AS gone FROM ${space.table} WHERE key = ?`, key).toArray()[0];
      const current = row && !row.gone ? String(row.version ?? 0) : undefined;
      // KvStorage read a value written before it had this object (version "kv-…"): good while the
      // object still has no row for the key; any write through the object makes such versions stale.
      const legacy = space.tombstones && !row && typeof when.ifVersion === "string" && when.ifVersion.startsWith(LEGACY_KV_VERSION_PREFIX);
      if (!legacy) checkVersion(key, current, when.ifVersion);
      const version = this.#nextVersion();
      if (value === null && !space.tombstones) {
        this.#sql.exec(`DELETE FROM ${space.table} WHERE key = ?`, key);
      } else {
        this.#sql.exec(
          `INSERT INTO ${space.table} (key, value, version) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = excluded.version`,
          key,
          value,
          version,
        );
      }
      return version;
    });
  }

  /** `lease_lost` unless lock `fence.name` is held, unexpired by this object's clock, with `fence.token`. */
  #checkFence(fence: Fence): void {
    const row = this.#sql.exec("SELECT token, owner, expires_at FROM edgecert_locks WHERE name = ?", fence.name).toArray()[0];
    if (!row || row.owner === null || Number(row.token) !== fence.token || Number(row.expires_at) <= Date.now()) throw leaseLost(fence);
  }

  /**
   * `<n>.<nonce>`: the object's counter and a random nonce. The counter lives in this object's storage,
   * which point-in-time recovery can take back to an earlier state; the nonce keeps a version from being
   * handed out again for another write then. (Stored as TEXT in the `version` column; SQLite keeps it as
   * written. Rows from before the nonce read as their bare number until written again.)
   */
  #nextVersion(): string {
    this.#sql.exec("INSERT INTO edgecert_meta (name, value) VALUES ('version', 1) ON CONFLICT (name) DO UPDATE SET value = value + 1");
    return `${Number(this.#sql.exec("SELECT value FROM edgecert_meta WHERE name = 'version'").toArray()[0]!.value)}.${versionNonce()}`;
  }

  /** Many values of the `value` table in one request (a listing reads a page of records in one round trip). */
  #values(body: unknown): ValuesAnswer {
    const keys = (body as Partial<ValuesRequest> | null)?.keys;
    if (!Array.isArray(keys) || keys.length > MAX_LIST_LIMIT) throw new EdgecertError("invalid_input", `values: keys must be an array of at most ${MAX_LIST_LIMIT} keys`);
    return {
      values: keys.map((key: unknown) => {
        if (typeof key !== "string") throw new EdgecertError("invalid_input", "values: every key must be a string");
        assertValidKey(key);
        const row = this.#sql.exec(`SELECT value FROM ${DO_SPACE.table} WHERE key = ?`, key).toArray()[0];
        return row && row.value instanceof ArrayBuffer ? base64urlEncode(new Uint8Array(row.value)) : null;
      }),
    };
  }

  #list(params: URLSearchParams): ListAnswer {
    const prefix = params.get("prefix") ?? "";
    assertValidPrefix(prefix);
    const after = params.get("after");
    if (after !== null) assertValidKey(after, "list cursor key");
    const limit = Math.min(Number(params.get("limit") ?? MAX_LIST_LIMIT), MAX_LIST_LIMIT);
    if (!Number.isInteger(limit) || limit < 1) throw new EdgecertError("invalid_input", "list limit must be a positive integer");
    // Keys are ASCII and SQLite compares TEXT bytewise, so the prefix range is [prefix, prefix with its last character + 1).
    const clauses = ["key >= ?"];
    const bindings: SqlValueLike[] = [prefix];
    if (prefix !== "") {
      clauses.push("key < ?");
      bindings.push(prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1));
    }
    if (after !== null) {
      clauses.push("key > ?");
      bindings.push(after);
    }
    const rows = this.#sql.exec(`SELECT key FROM edgecert_values WHERE ${clauses.join(" AND ")} ORDER BY key LIMIT ?`, ...bindings, limit + 1).toArray();
    const keys = rows.slice(0, limit).map((row) => String(row.key));
    return { keys, more: rows.length > limit };
  }

  #lock(body: unknown): LockAnswer {
    const { name, owner, ttlMs } = lockRequest(body);
    return this.#transaction(() => {
      const now = Date.now();
      const row = this.#sql.exec("SELECT token, owner, expires_at FROM edgecert_locks WHERE name = ?", name).toArray()[0];
      if (row && row.owner !== null && Number(row.expires_at) > now) return { acquired: false, heldUntil: Number(row.expires_at) };
      // At least the clock in ms: a point-in-time recovery takes the row back, not the clock, so a token
      // handed out before it is never handed out again.
      const token = Math.max((row ? Number(row.token) : 0) + 1, now);
      const expiresAt = now + ttlMs;
      this.#sql.exec(
        "INSERT INTO edgecert_locks (name, token, owner, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET token = excluded.token, owner = excluded.owner, expires_at = excluded.expires_at",
        name,
        token,
        owner,
        expiresAt,
      );
      return { acquired: true, token, expiresAt };
    });
  }

  #renew(body: unknown): RenewAnswer {
    const { name, owner, token, ttlMs } = renewRequest(body);
    return this.#transaction(() => {
      const now = Date.now();
      const row = this.#sql.exec("SELECT expires_at FROM edgecert_locks WHERE name = ? AND owner = ? AND token = ?", name, owner, token).toArray()[0];
      if (!row || Number(row.expires_at) <= now) return { renewed: false };
      const expiresAt = now + ttlMs;
      this.#sql.exec("UPDATE edgecert_locks SET expires_at = ? WHERE name = ?", expiresAt, name);
      return { renewed: true, expiresAt };
    });
  }

  #release(body: unknown): void {
    const { name, owner, token } = releaseRequest(body);
    // The row stays: its token is the fencing counter for the next holder.
    this.#sql.exec("UPDATE edgecert_locks SET owner = NULL, expires_at = 0 WHERE name = ? AND owner = ? AND token = ?", name, owner, token);
  }
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

function keyParam(url: URL): string {
  const key = url.searchParams.get("key") ?? "";
  assertValidKey(key);
  return key;
}

function field<T>(body: unknown, name: string, type: "string" | "number"): T {
  const value = (body as Record<string, unknown> | null)?.[name];
  if (typeof value !== type || (type === "number" && !Number.isFinite(value))) {
    throw new EdgecertError("invalid_input", `storage object request needs ${type} "${name}"`);
  }
  return value as T;
}

function releaseRequest(body: unknown): ReleaseRequest {
  const name = field<string>(body, "name", "string");
  assertValidKey(name, "lock name");
  return { name, owner: field(body, "owner", "string"), token: field(body, "token", "number") };
}

function lockRequest(body: unknown): LockRequest {
  const name = field<string>(body, "name", "string");
  assertValidKey(name, "lock name");
  const ttlMs = field<number>(body, "ttlMs", "number");
  if (ttlMs <= 0) throw new EdgecertError("invalid_input", "ttlMs must be > 0");
  return { name, owner: field(body, "owner", "string"), ttlMs };
}

function renewRequest(body: unknown): RenewRequest {
  const { name, owner, token } = releaseRequest(body);
  const ttlMs = field<number>(body, "ttlMs", "number");
  if (ttlMs <= 0) throw new EdgecertError("invalid_input", "ttlMs must be > 0");
  return { name, owner, token, ttlMs };
}
