import { DurableObject } from "cloudflare:workers";
import type { Env } from "./env.ts";
import { boundedPage, EXACT_POSITIONS, MAX_ROWS_SCANNED } from "./bounded-scan.ts";
import { envCaLimits, intervalFor, queueIntervals } from "./queue-estimates.ts";
import { registeredDomains } from "./registered-domains.ts";
import type { RateLimit } from "../src/budget/ca-limits.ts";

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
  /**
   * 1 = the next the budget lets go among those waiting; null past the first {@link EXACT_POSITIONS}
   * (counting further would read every row ahead: the page's cost would grow with the queue).
   */
  position: number | null;
  /** When it is expected to be sent (epoch ms). */
  estimatedAt: number;
}

/** A page of the queue (see {@link RenewalIndex.queuePage}). */
export interface QueuePage {
  queued: QueuedEntry[];
  /** Certificates waiting in all (kept by the index, not counted per page). */
  total: number;
  /** Where the next page starts (`<estimatedAt>~<id>` of this page's last), when more may follow. */
  cursor?: string;
  /** Rows SQLite read for the page. */
  rowsRead: number;
}

/** A bucket's latest estimates a newly waiting entry looks among for the one it goes after (see `RenewalIndex.#queueAt`). */
const LANE_TAIL = 16;

/**
 * How far a claimed first issuance's turn moves back: behind every turn pending (turns count names,
 * far below 2^32), by a step `release` can take off exactly. A name claimed again and again (a first
 * issuance backing off for months) stays exact in a double up to 2^21 claims.
 */
const CLAIMED_TURN = 2 ** 32;

/** Registered domains whose pending first issuances the CA budget's queue is told (see {@link FirstBacklog}), and among which the claim looks for those whose own limit binds. */
const BACKLOG_DOMAINS = 8;

/**
 * First issuances pending in the index — all of them, and the registered domains with the most — as
 * the CA budget's queue is told after each claim (`FairQueue.setBacklog`): it sees only the few
 * hundred the index let through, and judges on these which customer's own limit decides the finish.
 */
export interface FirstBacklog {
  total: number;
  byDomain: Array<{ domain: string; pending: number }>;
}

/** The one renewal index of a Worker (RPC stub). */
export const renewalIndex = (env: Env) => env.RENEWAL_INDEX.get(env.RENEWAL_INDEX.idFromName("index"));

/** Summary of one cron tick. */
export interface TickStats {
  at: number;
  /** Index rows SQLite read to find and claim the due entries. */
  rowsRead: number;
  dispatched: number;
  /** Entries claimed but given back (workers/scheduled.ts DISPATCH_WINDOW_MS, and those held back); absent when none. */
  released?: number;
  /** First issuances held back for want of room in the CA budget's queue (BUDGET_QUEUE_MAX); absent when none. */
  heldBack?: number;
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
  queue_at: number | null;
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
    // Due order, renewals and first issuances apart: a tick claims every due renewal however many first
    // issuances wait before it, and only as many of those as the CA budget's queue has room for.
    this.sql.exec("DROP INDEX IF EXISTS certificates_by_due");
    this.sql.exec("CREATE INDEX IF NOT EXISTS certificates_renewal_due ON certificates (due_at) WHERE not_after IS NOT NULL");
    this.sql.exec("CREATE INDEX IF NOT EXISTS certificates_first_due ON certificates (due_at) WHERE not_after IS NULL");
    // Added later: indexes created before have no profile column yet.
    const columns = this.sql.exec<{ name: string }>("PRAGMA table_info(certificates)").toArray().map((c) => c.name);
    if (!columns.includes("profile")) this.sql.exec("ALTER TABLE certificates ADD COLUMN profile TEXT");
    if (!columns.includes("challenge")) this.sql.exec("ALTER TABLE certificates ADD COLUMN challenge TEXT");
    if (!columns.includes("next_attempt_at")) this.sql.exec("ALTER TABLE certificates ADD COLUMN next_attempt_at INTEGER");
    if (!columns.includes("issuer")) this.sql.exec("ALTER TABLE certificates ADD COLUMN issuer TEXT");
    if (!columns.includes("queued_for")) this.sql.exec("ALTER TABLE certificates ADD COLUMN queued_for TEXT");
    this.#queueSchema(!columns.includes("queue_at"));
    this.#turnSchema(!columns.includes("turn"));
    // Admin listings filtered by state read only their page's rows (./bounded-scan.ts).
    this.sql.exec("CREATE INDEX IF NOT EXISTS certificates_by_status ON certificates (status, id)");
    this.sql.exec("CREATE INDEX IF NOT EXISTS certificates_queued_by_id ON certificates (id) WHERE queued_for IS NOT NULL");
    this.sql.exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
    // Other CA limits (a deployment, which restarts this object): those waiting for the budget were due
    // at their turn under the old ones (days, at a domain's 50 a week) — due a minute ago (before the
    // tick that starts this object), to wait again under these.
    const limits = env.CA_LIMITS + env.ACME_DIRECTORY_URL;
    if (this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'limits'").toArray()[0]?.value !== limits) {
      this.sql.exec("UPDATE certificates SET due_at = ? WHERE queued_for IS NOT NULL", Date.now() - 6e4);
      this.sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('limits', ?)", limits);
    }
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
  upsert(entry: IndexEntry, first?: { d: string; turn: number }): void {
    const queueAt = this.#queueAt(entry);
    this.sql.exec(
      `INSERT INTO certificates (id, names, due_at, status, not_after, failures, last_error, updated_at, profile, next_attempt_at, challenge, issuer, queued_for, queue_at, reg_domain, turn)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET names = excluded.names, due_at = excluded.due_at, status = excluded.status,
         not_after = excluded.not_after, failures = excluded.failures, last_error = excluded.last_error, updated_at = excluded.updated_at,
         profile = excluded.profile, next_attempt_at = excluded.next_attempt_at,
         challenge = excluded.challenge, issuer = excluded.issuer, queued_for = excluded.queued_for, queue_at = excluded.queue_at`,
      entry.id, JSON.stringify(entry.names), entry.dueAt, entry.status, entry.notAfter ?? null, entry.failures, entry.lastError ?? null, entry.updatedAt,
      entry.profile ?? null, entry.nextAttemptAt ?? null, entry.challenge ?? null, entry.issuer ?? null, entry.queuedFor ?? null, queueAt, first?.d ?? null, first?.turn ?? null,
    );
  }

  /**
   * Adds a certificate to manage if it is not there yet; returns the entry either way. `domain`: its
   * registered domain, whose turn it takes among first issuances (see `#turnSchema`).
   */
  add(id: string, names: string[], now: number, profile?: string, challenge?: string, updatedAt = now, domain?: string): { entry: IndexEntry; created: boolean } {
    const existing = this.get(id);
    if (existing) return { entry: existing, created: false };
    const entry: IndexEntry = { id, names, dueAt: now, status: "pending", failures: 0, updatedAt, ...(profile ? { profile } : {}), ...(challenge ? { challenge } : {}) };
    // Behind its domain's pending first issuances, from the round the oldest pending one is in.
    const d = domain ?? "";
    this.sql.exec("INSERT OR IGNORE INTO first_pending (d, n) VALUES (?, 0)", d);
    const turn = this.sql.exec<{ t: number }>(
      "SELECT (SELECT n FROM first_pending WHERE d = ?) + IFNULL((SELECT turn FROM certificates WHERE not_after IS NULL AND turn IS NOT NULL ORDER BY turn LIMIT 1), 0) AS t",
      d,
    ).one().t;
    this.upsert(entry, { d, turn });
    return { entry, created: true };
  }

  /**
   * Adds each certificate not there yet (one call: the admin API's bulk add), in order, due at its
   * `dueAt`; an id given twice is added once. Returns each entry, and whether this call added it.
   */
  addMany(items: Array<{ id: string; names: string[]; profile?: string; challenge?: string; dueAt: number; domain?: string | undefined }>, now: number): Array<{ entry: IndexEntry; created: boolean }> {
    return items.map((item) => this.add(item.id, item.names, item.dueAt, item.profile, item.challenge, now, item.domain));
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
   * Claims up to `limit` entries due at `now`, renewals (entries with a certificate) before first
   * issuances, and at most `firsts` of those: each is pushed `claimMs` into the future so an
   * overlapping tick does not dispatch it twice (its renewer sets the real next time). First issuances
   * go by turns across registered domains — each domain's first, then each one's second, … (`turn`,
   * see `#turnSchema`) — so the CA budget's queue, which holds only `queueMax` orders, holds every
   * customer's next name rather than the earliest added customer's backlog; but a domain whose own
   * limit decides when its names are done (its pending names at its limit's rate take at least half as
   * long as all pending names at the account's) first gets enough of its names (up to half of
   * `firsts`) to spend its limit as it refills until the queue takes more, so it never loses time.
   * Returns the claimed entries and how many rows SQLite read doing it: O(claimed + `queueMax`), the
   * turn order passing over entries in flight.
   */
  claimDue(now: number, limit: number, claimMs: number, firsts = limit, fair: { queueMax: number; orders?: RateLimit | undefined; domain?: RateLimit | undefined } = { queueMax: limit }): { entries: IndexEntry[]; rowsRead: number; backlog: FirstBacklog } {
    const renewals = this.sql.exec<Row>("SELECT * FROM certificates WHERE due_at <= ? AND not_after IS NOT NULL ORDER BY due_at LIMIT ?", now, limit);
    const rows = renewals.toArray();
    let rowsRead = renewals.rowsRead;
    let room = Math.min(firsts, limit - rows.length);
    const pending = this.sql.exec<{ n: number }>("SELECT n FROM first_pending WHERE d = '*'");
    const total = pending.toArray()[0]?.n ?? 0;
    rowsRead += pending.rowsRead;
    const take = (n: number, sql: string, ...args: SqlStorageValue[]): number => {
      if (n <= 0) return 0;
      const cursor = this.sql.exec<Row>(sql, ...args, n);
      const found = cursor.toArray();
      rowsRead += cursor.rowsRead;
      // A claimed first issuance goes behind every turn pending now (when due again: backing off, waiting), so
      // the front of the turns holds those due, not those in flight. By a fixed step, which `release` takes back.
      for (const r of found) rowsRead += this.sql.exec("UPDATE certificates SET due_at = ?, turn = turn + ? WHERE id = ?", now + claimMs, CLAIMED_TURN, r.id).rowsRead;
      rows.push(...found);
      room -= found.length;
      return found.length;
    };
    const { orders, domain, queueMax } = fair;
    // The domains with the most pending first issuances (O(8) rows, by first_pending_by_n): the queue is
    // told them (only a domain limit makes them matter to it), and the binding ones among them claim first.
    let largest: Array<{ d: string; n: number }> = [];
    if (domain) {
      const found = this.sql.exec<{ d: string; n: number }>("SELECT d, n FROM first_pending WHERE d NOT IN ('*', '') ORDER BY n DESC LIMIT ?", BACKLOG_DOMAINS);
      largest = found.toArray();
      rowsRead += found.rowsRead;
    }
    // Domains whose own limit binds (pending × account rate ≥ ½ × all pending × domain rate), the 8 largest:
    // their bucket's worth and what refills while the queue drains to half (when a tick takes more), less what
    // is in flight, up to half the room; no more in turns, where a lone one would fill the queue.
    const own = ["*"];
    if (orders && domain) {
      const rate = (l: RateLimit) => l.count / l.periodMs;
      const binds = Math.max(1, (total * rate(domain)) / (2 * rate(orders)));
      own.push(...largest.filter((r) => r.n >= binds).map((r) => r.d));
      const need = Math.ceil(domain.count + (rate(domain) * queueMax) / (2 * rate(orders)));
      let half = Math.floor(room / 2);
      for (const d of own.slice(1)) {
        const inFlight = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM certificates WHERE reg_domain = ? AND not_after IS NULL AND due_at > ?", d, now);
        const n = inFlight.one().n;
        rowsRead += inFlight.rowsRead;
        half -= take(Math.min(half, need - n), "SELECT * FROM certificates WHERE reg_domain = ? AND not_after IS NULL AND due_at <= ? ORDER BY due_at LIMIT ?", d, now);
      }
    }
    // The rest in turns, then (any due beyond those, and entries written without a turn) in due order, each
    // looking at most at `queueMax` + the room rows: it passes over those not due and the domains above.
    const others = `IFNULL(reg_domain, '') NOT IN (${own.map(() => "?").join()}) LIMIT ?`;
    take(room, `SELECT * FROM (SELECT * FROM certificates WHERE not_after IS NULL AND turn IS NOT NULL ORDER BY turn, due_at LIMIT ?) WHERE due_at <= ? AND ${others}`, room + queueMax, now, ...own);
    take(room, `SELECT * FROM (SELECT * FROM certificates WHERE not_after IS NULL AND due_at <= ? ORDER BY due_at LIMIT ?) WHERE ${others}`, now, room + queueMax, ...own);
    return { entries: rows.map(toEntry), rowsRead, backlog: { total, byDomain: largest.map((r) => ({ domain: r.d, pending: r.n })) } };
  }

  /**
   * Gives back entries a tick claimed but did not hand out: each is due again at `dueAt` (its due time
   * before the claim), a first issuance at its turn before the claim — where it is still claimed until
   * `claimedUntil`. An entry a renewer or the admin API wrote meanwhile keeps what they wrote. Returns
   * how many went back. (Handed back behind every turn, a small customer's name held back for want of
   * room in the budget's queue waited until the end: 18 of 10,000 small customers had their first
   * certificate only at 3,900–4,028 s of 4,958 in the 100,000-name run through the Worker.)
   */
  release(entries: Array<{ id: string; dueAt: number }>, claimedUntil: number): number {
    let released = 0;
    for (const e of entries) if (this.sql.exec("UPDATE certificates SET due_at = ?, turn = turn - ? WHERE id = ? AND due_at = ?", e.dueAt, CLAIMED_TURN, e.id, claimedUntil).rowsWritten > 0) released++;
    return released;
  }

  /**
   * First issuances take turns across registered domains (see {@link RenewalIndex.claimDue}): each
   * entry keeps its registered domain (`reg_domain`) and `turn` from when it was added, and
   * `first_pending` counts each domain's pending first issuances (`*`: all of them), kept by triggers.
   * On the first start after an upgrade, those already pending get theirs, each domain's in due order.
   */
  #turnSchema(upgrade: boolean): void {
    if (upgrade) {
      this.sql.exec("ALTER TABLE certificates ADD COLUMN reg_domain TEXT");
      this.sql.exec("ALTER TABLE certificates ADD COLUMN turn INTEGER");
    }
    this.sql.exec("CREATE INDEX IF NOT EXISTS certificates_first_turn ON certificates (turn, due_at) WHERE not_after IS NULL");
    this.sql.exec("CREATE INDEX IF NOT EXISTS certificates_first_domain ON certificates (reg_domain, due_at) WHERE not_after IS NULL");
    this.sql.exec("CREATE TABLE IF NOT EXISTS first_pending (d TEXT PRIMARY KEY, n INTEGER NOT NULL)");
    this.sql.exec("CREATE INDEX IF NOT EXISTS first_pending_by_n ON first_pending (n)");
    const count = (name: string, on: string, when: string, row: string, delta: string) =>
      this.sql.exec(`CREATE TRIGGER IF NOT EXISTS first_pending_${name} AFTER ${on} ON certificates WHEN ${when} BEGIN UPDATE first_pending SET n = n + ${delta} WHERE d IN (IFNULL(${row}.reg_domain, ''), '*'); END`);
    count("insert", "INSERT", "NEW.not_after IS NULL", "NEW", "1");
    count("delete", "DELETE", "OLD.not_after IS NULL", "OLD", "-1");
    count("update", "UPDATE OF not_after", "(OLD.not_after IS NULL) != (NEW.not_after IS NULL)", "NEW", "(NEW.not_after IS NULL) - (OLD.not_after IS NULL)");
    if (upgrade) void this.ctx.blockConcurrencyWhile(() => this.#backfillTurns());
  }

  async #backfillTurns(): Promise<void> {
    const rows = this.sql.exec<{ id: string; names: string }>("SELECT id, names FROM certificates WHERE not_after IS NULL").toArray();
    const domainOf = rows.length > 0 ? await registeredDomains(envCaLimits(this.env)) : undefined;
    for (const r of rows) this.sql.exec("UPDATE certificates SET reg_domain = ? WHERE id = ?", domainOf?.((JSON.parse(r.names) as string[])[0] ?? r.id) ?? "", r.id);
    this.sql.exec(
      `UPDATE certificates SET turn = t.turn FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY reg_domain ORDER BY due_at, id) - 1 AS turn FROM certificates WHERE not_after IS NULL) AS t
       WHERE t.id = certificates.id`,
    );
    this.sql.exec("DELETE FROM first_pending");
    this.sql.exec(
      "INSERT INTO first_pending (d, n) SELECT IFNULL(reg_domain, ''), COUNT(*) FROM certificates WHERE not_after IS NULL GROUP BY 1 UNION ALL SELECT '*', COUNT(*) FROM certificates WHERE not_after IS NULL",
    );
  }

  /**
   * The CA budget queue's order, kept by the index itself: each waiting certificate's `queue_at` (its
   * estimated time) is set when it starts waiting on a bucket (`queued_for`), at its bucket's refill
   * (its due time) or one refill interval after the one before it on that bucket, whichever is later —
   * a token bucket lets one go per interval (see `#queueAt`). The queue is read in (`queue_at`, `id`) order
   * through an index, so a page and a position cost what they return, not the queue's length, and
   * triggers keep the number waiting. Created (and the estimates of those already waiting filled in
   * once) on the first start after an upgrade.
   */
  #queueSchema(backfill: boolean): void {
    if (backfill) this.sql.exec("ALTER TABLE certificates ADD COLUMN queue_at INTEGER");
    this.sql.exec("DROP INDEX IF EXISTS certificates_queued");
    this.sql.exec("CREATE INDEX IF NOT EXISTS certificates_queue_order ON certificates (queue_at, id) WHERE queued_for IS NOT NULL");
    this.sql.exec("CREATE INDEX IF NOT EXISTS certificates_queue_lane ON certificates (queued_for, due_at, id) WHERE queued_for IS NOT NULL");
    this.sql.exec("CREATE INDEX IF NOT EXISTS certificates_queue_tail ON certificates (queued_for, queue_at) WHERE queued_for IS NOT NULL");
    this.sql.exec("CREATE TABLE IF NOT EXISTS queue_stats (id INTEGER PRIMARY KEY CHECK (id = 0), waiting INTEGER NOT NULL)");
    this.sql.exec("CREATE TRIGGER IF NOT EXISTS queue_waiting_insert AFTER INSERT ON certificates WHEN NEW.queued_for IS NOT NULL BEGIN UPDATE queue_stats SET waiting = waiting + 1; END");
    this.sql.exec("CREATE TRIGGER IF NOT EXISTS queue_waiting_delete AFTER DELETE ON certificates WHEN OLD.queued_for IS NOT NULL BEGIN UPDATE queue_stats SET waiting = waiting - 1; END");
    this.sql.exec(
      `CREATE TRIGGER IF NOT EXISTS queue_waiting_update AFTER UPDATE OF queued_for ON certificates WHEN (OLD.queued_for IS NULL) != (NEW.queued_for IS NULL)
       BEGIN UPDATE queue_stats SET waiting = waiting + (NEW.queued_for IS NOT NULL) - (OLD.queued_for IS NOT NULL); END`,
    );
    if (this.sql.exec("SELECT 1 FROM queue_stats").toArray().length === 0) {
      this.sql.exec("INSERT INTO queue_stats (id, waiting) SELECT 0, COUNT(*) FROM certificates WHERE queued_for IS NOT NULL");
    }
    if (!backfill) return;
    const i = queueIntervals(this.env);
    this.sql.exec(
      `WITH q AS (SELECT id, due_at + (ROW_NUMBER() OVER (PARTITION BY queued_for ORDER BY due_at, id) - 1) *
         (CASE WHEN queued_for LIKE 'orders %' THEN ? WHEN queued_for LIKE 'domain %' THEN ? ELSE ? END) AS eta
       FROM certificates WHERE queued_for IS NOT NULL)
       UPDATE certificates SET queue_at = (SELECT eta FROM q WHERE q.id = certificates.id) WHERE queued_for IS NOT NULL`,
      i.orders, i.domain, i.nameset,
    );
  }

  /**
   * The `queue_at` an entry written now gets: kept while it waits on the same bucket from the same due
   * time; else its due time, or one refill interval after the last estimate on that bucket among those
   * due no later than it, whichever is later — so entries refused together (one due time) line up one
   * interval apart in the order they were written. That last is looked for among the bucket's
   * {@link LANE_TAIL} latest estimates (the first, unless entries came with earlier due times than
   * those already there); failing that, the one before it by due time. Those behind it keep theirs: an
   * entry that starts waiting with an earlier due time than others on its bucket (rare: a bucket's
   * refill time only grows between refusals) leaves their estimates an interval early until they wait
   * again — moving them would cost a write per entry behind it.
   */
  #queueAt(entry: IndexEntry): number | null {
    if (!entry.queuedFor) return null;
    const old = this.sql.exec<{ queued_for: string | null; due_at: number; queue_at: number | null }>("SELECT queued_for, due_at, queue_at FROM certificates WHERE id = ?", entry.id).toArray()[0];
    if (old && old.queued_for === entry.queuedFor && old.due_at === entry.dueAt && old.queue_at !== null) return old.queue_at;
    const tail = this.sql
      .exec<{ queue_at: number | null; due_at: number }>("SELECT queue_at, due_at FROM certificates WHERE queued_for = ? AND id != ? ORDER BY queue_at DESC LIMIT ?", entry.queuedFor, entry.id, LANE_TAIL)
      .toArray();
    let before = tail.find((r) => r.due_at <= entry.dueAt)?.queue_at;
    if (before === undefined && tail.length === LANE_TAIL) {
      before = this.sql
        .exec<{ queue_at: number | null }>(
          "SELECT queue_at FROM certificates WHERE queued_for = ? AND (due_at, id) <= (?, ?) AND id != ? ORDER BY due_at DESC, id DESC LIMIT 1",
          entry.queuedFor, entry.dueAt, entry.id, entry.id,
        )
        .toArray()[0]?.queue_at;
    }
    return before === undefined || before === null ? entry.dueAt : Math.max(entry.dueAt, before + intervalFor(entry.queuedFor, queueIntervals(this.env)));
  }

  /**
   * The certificates waiting for the CA's budget, in the order the budget will let them go (by
   * `queue_at`, see `#queueSchema`), `limit` after `after` (a previous page's last). Reads the page's
   * rows through the queue's index and, to number them, the rows ahead of the page up to
   * {@link EXACT_POSITIONS}: at most `limit + EXACT_POSITIONS + 2` rows, however many wait. A
   * certificate that starts waiting again behind the cursor during a walk shows again later in it.
   */
  queuePage(after: { at: number; id: string } | undefined, limit: number): QueuePage {
    const rows = after
      ? this.sql.exec<Row>("SELECT * FROM certificates WHERE queued_for IS NOT NULL AND (queue_at, id) > (?, ?) ORDER BY queue_at, id LIMIT ?", after.at, after.id, limit + 1)
      : this.sql.exec<Row>("SELECT * FROM certificates WHERE queued_for IS NOT NULL ORDER BY queue_at, id LIMIT ?", limit + 1);
    const found = rows.toArray();
    let rowsRead = rows.rowsRead;
    let ahead = 0;
    if (after) {
      const counted = this.#ahead(after.at, after.id, "<=");
      ahead = counted.ahead;
      rowsRead += counted.rowsRead;
    }
    const stats = this.sql.exec<{ waiting: number }>("SELECT waiting FROM queue_stats");
    const total = stats.toArray()[0]?.waiting ?? 0;
    rowsRead += stats.rowsRead;
    const page = found.slice(0, limit);
    const queued = page.map((r, i) => ({ entry: toEntry(r), position: ahead < EXACT_POSITIONS ? ahead + i + 1 : null, estimatedAt: r.queue_at ?? r.due_at }));
    const last = page[page.length - 1];
    return { queued, total, ...(found.length > limit && last ? { cursor: `${last.queue_at ?? 0}~${last.id}` } : {}), rowsRead };
  }

  /** Where `id` is in {@link RenewalIndex.queuePage}, when it waits for the CA's budget; at most {@link EXACT_POSITIONS} + 2 rows read. */
  queuePosition(id: string): (QueuedEntry & { rowsRead: number }) | undefined {
    const cursor = this.sql.exec<Row>("SELECT * FROM certificates WHERE id = ?", id);
    const row = cursor.toArray()[0];
    if (!row || row.queued_for === null) return undefined;
    const at = row.queue_at ?? row.due_at;
    const { ahead, rowsRead } = this.#ahead(at, id, "<");
    return { entry: toEntry(row), position: ahead < EXACT_POSITIONS ? ahead + 1 : null, estimatedAt: at, rowsRead: cursor.rowsRead + rowsRead };
  }

  /**
   * {@link RenewalIndex.queuePosition} of each of `ids` that waits, in queue order, for a page of
   * certificates at once (the dashboard's): the first one's place costs the rows ahead of it up to
   * {@link EXACT_POSITIONS}, each next one only the rows between it and the one before (together up to
   * the same bound), so the set reads at most `EXACT_POSITIONS` + 2 rows per id given, not
   * `EXACT_POSITIONS` per id.
   */
  queuePositions(ids: readonly string[]): { queued: QueuedEntry[]; total: number; rowsRead: number } {
    let rowsRead = 0;
    const rows: Row[] = [];
    for (const id of new Set(ids)) {
      const cursor = this.sql.exec<Row>("SELECT * FROM certificates WHERE id = ?", id);
      const row = cursor.toArray()[0];
      rowsRead += cursor.rowsRead;
      if (row && row.queued_for !== null) rows.push(row);
    }
    const at = (r: Row) => r.queue_at ?? r.due_at;
    rows.sort((a, b) => at(a) - at(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const queued: QueuedEntry[] = [];
    let ahead = 0;
    let previous: Row | undefined;
    for (const row of rows) {
      if (ahead < EXACT_POSITIONS) {
        const left = EXACT_POSITIONS - ahead;
        const cursor = previous
          ? this.sql.exec<{ n: number }>(
              "SELECT COUNT(*) AS n FROM (SELECT 1 FROM certificates WHERE queued_for IS NOT NULL AND (queue_at, id) > (?, ?) AND (queue_at, id) < (?, ?) ORDER BY queue_at, id LIMIT ?)",
              at(previous), previous.id, at(row), row.id, left,
            )
          : this.sql.exec<{ n: number }>(
              "SELECT COUNT(*) AS n FROM (SELECT 1 FROM certificates WHERE queued_for IS NOT NULL AND (queue_at, id) < (?, ?) ORDER BY queue_at, id LIMIT ?)",
              at(row), row.id, left,
            );
        ahead += cursor.one().n + (previous ? 1 : 0);
        rowsRead += cursor.rowsRead;
      }
      queued.push({ entry: toEntry(row), position: ahead < EXACT_POSITIONS ? ahead + 1 : null, estimatedAt: at(row) });
      previous = row;
    }
    const stats = this.sql.exec<{ waiting: number }>("SELECT waiting FROM queue_stats");
    const total = stats.toArray()[0]?.waiting ?? 0;
    return { queued, total, rowsRead: rowsRead + stats.rowsRead };
  }

  /** Waiting rows before (`<`) or up to (`<=`) (`at`, `id`) in queue order, counted up to {@link EXACT_POSITIONS}. */
  #ahead(at: number, id: string, op: "<" | "<="): { ahead: number; rowsRead: number } {
    const cursor = this.sql.exec<{ n: number }>(
      `SELECT COUNT(*) AS n FROM (SELECT 1 FROM certificates WHERE queued_for IS NOT NULL AND (queue_at, id) ${op} (?, ?) ORDER BY queue_at, id LIMIT ?)`,
      at, id, EXACT_POSITIONS,
    );
    return { ahead: cursor.one().n, rowsRead: cursor.rowsRead };
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
