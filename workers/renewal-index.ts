import { DurableObject } from "cloudflare:workers";
import type { Env } from "./env.ts";
import { boundedPage, MAX_ROWS_SCANNED } from "./bounded-scan.ts";

/** One certificate in the index. */
export interface IndexEntry {
  id: string;
  names: string[];
  /** Epoch ms when the certificate next needs work (issue, renew, retry). */
  dueAt: number;
  /**
   * `pending`: not issued yet; `valid`: issued, renewals fine; `failing`: issued (still served) but its
   * renewal is failing; `failed`: never issued, attempts failing.
   */
  status: "pending" | "valid" | "failing" | "failed";
  notAfter?: number;
  failures: number;
  lastError?: string;
  /** While failing: the earliest next attempt (epoch ms), from the manager's backoff and the CA's Retry-After. */
  nextAttemptAt?: number;
  /** Certificate profile asked for this certificate (draft-ietf-acme-profiles), if any. */
  profile?: string;
  /** Challenge type asked for this certificate (`dns-01`, `http-01`, `dns-persist-01`), tried first. */
  challenge?: string;
  /** Issuer of the stored certificate (its distinguished name), once there is one: listings show it without reading the certificate. */
  issuer?: string;
  /**
   * Set while the certificate waits for the CA's budget (CA_LIMITS): the bucket that holds it back
   * (`orders <account>`, `domain <registered domain>`, `nameset <names>`); its `dueAt` is when that
   * bucket holds a token again.
   */
  queuedFor?: string;
  updatedAt: number;
}

/** A certificate waiting for the CA's budget, as the admin API's queue shows it. */
export interface QueuedEntry {
  entry: IndexEntry;
  /** 1 = the next the budget lets go among those waiting. */
  position: number;
  /** When it is expected to be sent (epoch ms). */
  estimatedAt: number;
}

/** How often each kind of bucket lets one order go (its period / count, ms); 0 where unknown. */
export interface QueueIntervals {
  orders: number;
  domain: number;
  nameset: number;
}

/** The one renewal index of a Worker (RPC stub). */
export const renewalIndex = (env: Env) => env.RENEWAL_INDEX.get(env.RENEWAL_INDEX.idFromName("index"));

/** Summary of one cron tick. */
export interface TickStats {
  at: number;
  /** Index rows SQLite read to find and claim the due entries. */
  rowsRead: number;
  dispatched: number;
  /** Entries claimed but given back (workers/scheduled.ts DISPATCH_WINDOW_MS); absent when none. */
  released?: number;
  outcomes: Record<string, number>;
  /** What the tick's invocations spent (workers/scheduled.ts); absent in ticks recorded before it was kept. */
  invocations?: InvocationSummary;
}

/** Subrequests and simultaneous calls of a tick's invocations, each against Workers' per-invocation limits. */
export interface InvocationSummary {
  /** The cron invocation: the index calls and one call per chunk. */
  tick: { subrequests: number; maxInFlight: number };
  /** Dispatcher invocations the tick made (one per chunk). */
  dispatchers: number;
  /** The most subrequests (renewer calls) one dispatcher invocation made. */
  dispatcherMaxSubrequests: number;
  /** The most renewer calls one dispatcher invocation had open at once. */
  dispatcherMaxInFlight: number;
}

interface Row extends Record<string, SqlStorageValue> {
  id: string;
  names: string;
  due_at: number;
  status: string;
  not_after: number | null;
  failures: number;
  last_error: string | null;
  updated_at: number;
  profile: string | null;
  next_attempt_at: number | null;
  challenge: string | null;
  issuer: string | null;
  queued_for: string | null;
}

const toEntry = (r: Row): IndexEntry => ({
  id: r.id,
  names: JSON.parse(r.names) as string[],
  dueAt: r.due_at,
  status: r.status as IndexEntry["status"],
  ...(r.not_after !== null ? { notAfter: r.not_after } : {}),
  failures: r.failures,
  ...(r.last_error !== null ? { lastError: r.last_error } : {}),
  ...(r.profile !== null && r.profile !== undefined ? { profile: r.profile } : {}),
  ...(r.challenge !== null && r.challenge !== undefined ? { challenge: r.challenge } : {}),
  ...(r.next_attempt_at !== null && r.next_attempt_at !== undefined ? { nextAttemptAt: r.next_attempt_at } : {}),
  ...(r.issuer !== null && r.issuer !== undefined ? { issuer: r.issuer } : {}),
  ...(r.queued_for !== null && r.queued_for !== undefined ? { queuedFor: r.queued_for } : {}),
  updatedAt: r.updated_at,
});

/**
 * The renewal index: every managed certificate with the time it next needs work, in SQLite ordered by
 * that time, so a cron tick reads only what is due — O(due), not O(all). One instance per Worker.
 */
export class RenewalIndex extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`CREATE TABLE IF NOT EXISTS certificates (
      id TEXT PRIMARY KEY, names TEXT NOT NULL, due_at INTEGER NOT NULL, status TEXT NOT NULL,
      not_after INTEGER, failures INTEGER NOT NULL DEFAULT 0, last_error TEXT, updated_at INTEGER NOT NULL)`);
    this.sql.exec("CREATE INDEX IF NOT EXISTS certificates_by_due ON certificates (due_at)");
    // Added later: indexes created before have no profile column yet.
    const columns = this.sql.exec<{ name: string }>("PRAGMA table_info(certificates)").toArray().map((c) => c.name);
    if (!columns.includes("profile")) this.sql.exec("ALTER TABLE certificates ADD COLUMN profile TEXT");
    if (!columns.includes("challenge")) this.sql.exec("ALTER TABLE certificates ADD COLUMN challenge TEXT");
    if (!columns.includes("next_attempt_at")) this.sql.exec("ALTER TABLE certificates ADD COLUMN next_attempt_at INTEGER");
    if (!columns.includes("issuer")) this.sql.exec("ALTER TABLE certificates ADD COLUMN issuer TEXT");
    if (!columns.includes("queued_for")) this.sql.exec("ALTER TABLE certificates ADD COLUMN queued_for TEXT");
    // Only the waiting certificates: the queue's order and a position cost O(queued), not O(all).
    this.sql.exec("CREATE INDEX IF NOT EXISTS certificates_queued ON certificates (due_at, id) WHERE queued_for IS NOT NULL");
    // Admin listings filtered by state read only their page's rows (./bounded-scan.ts).
    this.sql.exec("CREATE INDEX IF NOT EXISTS certificates_by_status ON certificates (status, id)");
    this.sql.exec("CREATE INDEX IF NOT EXISTS certificates_queued_by_id ON certificates (id) WHERE queued_for IS NOT NULL");
    this.sql.exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
  }

  /** Records what the last cron tick did (for GET /admin/status). */
  recordTick(stats: TickStats): void {
    this.sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('lastTick', ?)", JSON.stringify(stats));
  }

  /** What the last cron tick did, if any ran. */
  lastTick(): TickStats | undefined {
    const row = this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'lastTick'").toArray()[0];
    return row ? (JSON.parse(row.value) as TickStats) : undefined;
  }

  /** Adds or replaces an entry. */
  upsert(entry: IndexEntry): void {
    this.sql.exec(
      `INSERT INTO certificates (id, names, due_at, status, not_after, failures, last_error, updated_at, profile, next_attempt_at, challenge, issuer, queued_for)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET names = excluded.names, due_at = excluded.due_at, status = excluded.status,
         not_after = excluded.not_after, failures = excluded.failures, last_error = excluded.last_error, updated_at = excluded.updated_at,
         profile = excluded.profile, next_attempt_at = excluded.next_attempt_at,
         challenge = excluded.challenge, issuer = excluded.issuer, queued_for = excluded.queued_for`,
      entry.id, JSON.stringify(entry.names), entry.dueAt, entry.status, entry.notAfter ?? null, entry.failures, entry.lastError ?? null, entry.updatedAt,
      entry.profile ?? null, entry.nextAttemptAt ?? null, entry.challenge ?? null, entry.issuer ?? null, entry.queuedFor ?? null,
    );
  }

  /** Adds a certificate to manage if it is not there yet; returns the entry either way. */
  add(id: string, names: string[], now: number, profile?: string, challenge?: string): { entry: IndexEntry; created: boolean } {
    const existing = this.get(id);
    if (existing) return { entry: existing, created: false };
    const entry: IndexEntry = { id, names, dueAt: now, status: "pending", failures: 0, updatedAt: now, ...(profile ? { profile } : {}), ...(challenge ? { challenge } : {}) };
    this.upsert(entry);
    return { entry, created: true };
  }

  get(id: string): IndexEntry | undefined {
    const row = this.sql.exec<Row>("SELECT * FROM certificates WHERE id = ?", id).toArray()[0];
    return row ? toEntry(row) : undefined;
  }

  remove(id: string): boolean {
    return this.sql.exec("DELETE FROM certificates WHERE id = ?", id).rowsWritten > 0;
  }

  /**
   * A page of entries by id, after `after`: those with a name (or id) containing `filter.like` (a SQL
   * LIKE pattern, `\` escaping) and in `filter.status` (or `queued`: waiting for the CA's budget), when
   * given. A state alone is read through its index (the page's rows only); a search reads at most
   * {@link MAX_ROWS_SCANNED} rows, so its page may hold fewer than `limit` with a cursor to go on (see
   * ./bounded-scan.ts; `maxScanned` lowers the bound for tests). `rowsRead`: what SQLite read for it.
   */
  list(after: string | undefined, limit: number, filter: { like?: string; status?: string } = {}, maxScanned = MAX_ROWS_SCANNED): { entries: IndexEntry[]; cursor?: string; rowsRead: number } {
    // `queued`: waiting for the CA's budget, whatever the status its failure state gives it.
    const status = filter.status === "queued" ? ["queued_for IS NOT NULL"] : filter.status ? ["status = ?"] : [];
    const where = ["id > ?", ...status];
    const args: Array<string | number> = [after ?? "", ...(filter.status && filter.status !== "queued" ? [filter.status] : [])];
    if (!filter.like) {
      const rows = this.sql.exec<Row>(`SELECT * FROM certificates WHERE ${where.join(" AND ")} ORDER BY id LIMIT ?`, ...args, limit + 1);
      const found = rows.toArray();
      const page = found.slice(0, limit).map(toEntry);
      return { entries: page, ...(found.length > limit ? { cursor: page[page.length - 1]!.id } : {}), rowsRead: rows.rowsRead };
    }
    // The search looks at the next `scanned` rows by id: up to the id `scanned` rows on (read from the
    // index alone), and SQLite hands over only the matches among them — no row object is made for the
    // thousands that do not match.
    const scanned = Math.max(maxScanned, limit + 1);
    const bound = this.sql.exec<{ id: string }>(`SELECT id FROM certificates WHERE ${where.join(" AND ")} ORDER BY id LIMIT 1 OFFSET ?`, ...args, scanned - 1);
    const edge = bound.toArray()[0]?.id;
    const rows = this.sql.exec<Row>(
      `SELECT * FROM certificates WHERE ${where.join(" AND ")}${edge !== undefined ? " AND id <= ?" : ""} AND (names LIKE ? ESCAPE '\\' OR id LIKE ? ESCAPE '\\') ORDER BY id LIMIT ?`,
      ...args, ...(edge !== undefined ? [edge] : []), filter.like, filter.like, limit + 1,
    );
    const hits = rows.toArray();
    const entries = hits.slice(0, limit).map(toEntry);
    // More matches than the page: go on after its last; none more up to the edge: after the edge.
    const cursor = hits.length > limit ? entries[limit - 1]!.id : edge;
    return { entries, ...(cursor !== undefined ? { cursor } : {}), rowsRead: bound.rowsRead + rows.rowsRead };
  }

  /**
   * Claims up to `limit` entries due at `now`: each is pushed `claimMs` into the future so an
   * overlapping tick does not dispatch it twice (its renewer sets the real next time). Returns the
   * claimed entries and how many rows SQLite read doing it.
   */
  claimDue(now: number, limit: number, claimMs: number): { entries: IndexEntry[]; rowsRead: number } {
    const cursor = this.sql.exec<Row>("SELECT * FROM certificates WHERE due_at <= ? ORDER BY due_at LIMIT ?", now, limit);
    const rows = cursor.toArray();
    let rowsRead = cursor.rowsRead;
    for (const r of rows) {
      rowsRead += this.sql.exec("UPDATE certificates SET due_at = ? WHERE id = ?", now + claimMs, r.id).rowsRead;
    }
    return { entries: rows.map(toEntry), rowsRead };
  }

  /**
   * Gives back entries a tick claimed but did not hand out: each is due again at `dueAt` (its due time
   * before the claim) — where it is still claimed until `claimedUntil`. An entry a renewer or the admin
   * API wrote meanwhile keeps what they wrote. Returns how many went back.
   */
  release(entries: Array<{ id: string; dueAt: number }>, claimedUntil: number): number {
    let released = 0;
    for (const e of entries) if (this.sql.exec("UPDATE certificates SET due_at = ? WHERE id = ? AND due_at = ?", e.dueAt, e.id, claimedUntil).rowsWritten > 0) released++;
    return released;
  }

  /**
   * The certificates waiting for the CA's budget, in the order the budget will let them go, `limit`
   * from position `offset + 1`. Each waits for its bucket's refill (its due time); behind another
   * waiter on the same bucket, one refill interval (`intervals`: the bucket's period / count, by kind)
   * later per waiter ahead of it — a token bucket lets one go per interval.
   */
  queue(offset: number, limit: number, intervals: QueueIntervals): { queued: QueuedEntry[]; total: number } {
    const rows = this.#queueRows(intervals, "LIMIT ? OFFSET ?", limit, offset);
    const total = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM certificates WHERE queued_for IS NOT NULL").one().n;
    return { queued: rows.map((r, i) => ({ entry: toEntry(r), position: offset + i + 1, estimatedAt: r.eta })), total };
  }

  /** Where `id` is in {@link RenewalIndex.queue}, when it waits for the CA's budget. */
  queuePosition(id: string, intervals: QueueIntervals): QueuedEntry | undefined {
    const rows = this.#queueRows(intervals, "");
    const i = rows.findIndex((r) => r.id === id);
    return i < 0 ? undefined : { entry: toEntry(rows[i]!), position: i + 1, estimatedAt: rows[i]!.eta };
  }

  /** The waiting rows with their estimated time (eta), earliest first; O(queued) through certificates_queued. */
  #queueRows(intervals: QueueIntervals, tail: string, ...args: number[]): Array<Row & { eta: number }> {
    return this.sql
      .exec<Row & { eta: number }>(
        `SELECT *, due_at + (ROW_NUMBER() OVER (PARTITION BY queued_for ORDER BY due_at, id) - 1) *
           (CASE WHEN queued_for LIKE 'orders %' THEN ? WHEN queued_for LIKE 'domain %' THEN ? ELSE ? END) AS eta
         FROM certificates WHERE queued_for IS NOT NULL ORDER BY eta, id ${tail}`,
        intervals.orders, intervals.domain, intervals.nameset, ...args,
      )
      .toArray();
  }

  /** Bytes the index's SQLite database takes (rows, indexes, free pages). */
  storageBytes(): number {
    return this.sql.databaseSize;
  }

  /** Number of entries (admin listings). */
  count(): number {
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM certificates").one().n;
  }

  /** Upserts many entries in one transaction (bulk imports). */
  upsertMany(entries: IndexEntry[]): void {
    this.ctx.storage.transactionSync(() => {
      for (const e of entries) this.upsert(e);
    });
  }
}
