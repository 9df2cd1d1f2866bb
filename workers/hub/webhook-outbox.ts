/**
 * The webhook outbox: endpoints, the events queued for each, and the log of every attempt, in one
 * Durable Object's SQLite. `publish` only inserts rows and arms the alarm; the alarm delivers what is
 * due, signs each attempt (Standard Webhooks, src/hub/webhook-signature.ts), and schedules retries with
 * exponential backoff and jitter. Delivery is at least once: an attempt's retry time is written before
 * it is sent, so an attempt cut off by an eviction is sent again; receivers dedupe on `webhook-id`,
 * which every attempt of one event shares.
 * @module
 */
import { DurableObject } from "cloudflare:workers";
import { newWebhookSecret, signWebhook } from "../../src/hub/webhook-signature.ts";
import { parseRetryAfter } from "../../src/acme/retry.ts";
import { base64urlEncode } from "../../src/webcrypto/base64url.ts";
import type { Env } from "../env.ts";
import { MAX_RETRY_WAIT_MS, readWebhookConfig, type WebhookConfig } from "./webhook-config.ts";
import { TEST_EVENT, type EventType, type WebhookEvent } from "./webhook-events.ts";
import { webhookUrlProblem } from "./webhook-url.ts";
import { boundedPage, MAX_ROWS_SCANNED } from "../bounded-scan.ts";

/** Attempts in flight at once, in all and per endpoint: a dead endpoint holds at most its share. */
const MAX_IN_FLIGHT = 50;
const MAX_IN_FLIGHT_PER_ENDPOINT = 4;
/** Finished messages kept per endpoint for the delivery log; older ones are deleted. */
const KEEP_FINISHED = 200;
/** Pending messages per endpoint beyond which the oldest are given up (an endpoint down for weeks). */
const MAX_PENDING = 1000;
/** How long the secret before a rotation still signs (Standard Webhooks: zero-downtime rotation). */
const PREVIOUS_SECRET_MS = 24 * 3_600_000;
/** Bytes of a response body kept in the log, to show why an endpoint refused. */
const RESPONSE_EXCERPT = 200;

/** An endpoint as the admin API shows it (never its secret). */
export interface EndpointView {
  id: string;
  url: string;
  /** Event types it receives; empty: all. */
  events: EventType[];
  label: string | null;
  createdAt: string;
  /** Set when the endpoint answered 410 Gone (Standard Webhooks: stop sending) until it is enabled again. */
  disabledAt: string | null;
  disabledReason: string | null;
  pending: number;
  /** Until when the secret before the last rotation still signs too (a second `v1` signature). */
  previousSecretUntil: string | null;
}

/** One attempt of one message. */
export interface Attempt {
  at: string;
  /** HTTP status, or null when no response came (timeout, refused connection). */
  status: number | null;
  error: string | null;
  durationMs: number;
  /** The start of the response body, for debugging a refusal. */
  response: string | null;
}

/** One event's delivery to one endpoint, with every attempt. */
export interface DeliveryView {
  messageId: string;
  endpointId: string;
  type: string;
  /** `pending` (will be tried again), `delivered` (a 2xx), `failed` (attempts exhausted, 410, or given up). */
  state: "pending" | "delivered" | "failed";
  createdAt: string;
  deliveredAt: string | null;
  nextAttemptAt: string | null;
  attempts: Attempt[];
}

interface EndpointRow extends Record<string, SqlStorageValue> {
  id: string;
  url: string;
  events: string;
  secret: string;
  label: string | null;
  created_at: number;
  disabled_at: number | null;
  disabled_reason: string | null;
  previous_secret: string | null;
  previous_until: number | null;
}

interface MessageRow extends Record<string, SqlStorageValue> {
  endpoint_id: string;
  id: string;
  type: string;
  body: string;
  created_at: number;
  state: string;
  next_at: number | null;
  delivered_at: number | null;
  attempts: string;
  /** Attempts before the current round (a manual retry starts a new one with the full schedule). */
  round_start: number;
}

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

/** ±10 % jitter (Standard Webhooks: spread retries so they do not arrive in bursts). */
/** An endpoint URL the current setting refuses: no request is made. */
class RefusedUrl extends Error {}

const jitter = (ms: number) => Math.round(ms * (0.9 + Math.random() * 0.2));

/** A message row as the delivery log shows it. */
function toDeliveryView(r: MessageRow): DeliveryView {
  return {
    messageId: r.id,
    endpointId: r.endpoint_id,
    type: r.type,
    state: r.state as DeliveryView["state"],
    createdAt: new Date(r.created_at).toISOString(),
    deliveredAt: iso(r.delivered_at),
    nextAttemptAt: r.state === "pending" ? iso(r.next_at) : null,
    attempts: JSON.parse(r.attempts) as Attempt[],
  };
}

/** The outbox Durable Object; one per Worker (`idFromName("webhooks")`). */
export class WebhookOutbox extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  /** Attempts being sent, by `endpoint message`; the alarm never waits for them. */
  readonly #inFlight = new Set<string>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`CREATE TABLE IF NOT EXISTS endpoints (
      id TEXT PRIMARY KEY, url TEXT NOT NULL, events TEXT NOT NULL, secret TEXT NOT NULL, label TEXT,
      created_at INTEGER NOT NULL, disabled_at INTEGER, disabled_reason TEXT)`);
    this.sql.exec(`CREATE TABLE IF NOT EXISTS messages (
      endpoint_id TEXT NOT NULL, id TEXT NOT NULL, type TEXT NOT NULL, body TEXT NOT NULL, created_at INTEGER NOT NULL,
      state TEXT NOT NULL, next_at INTEGER, delivered_at INTEGER, attempts TEXT NOT NULL, PRIMARY KEY (endpoint_id, id))`);
    // Columns added after the first release: an outbox created before gets them here.
    const endpointColumns = this.sql.exec<{ name: string }>("PRAGMA table_info(endpoints)").toArray().map((c) => c.name);
    if (!endpointColumns.includes("previous_secret")) this.sql.exec("ALTER TABLE endpoints ADD COLUMN previous_secret TEXT");
    if (!endpointColumns.includes("previous_until")) this.sql.exec("ALTER TABLE endpoints ADD COLUMN previous_until INTEGER");
    const messageColumns = this.sql.exec<{ name: string }>("PRAGMA table_info(messages)").toArray().map((c) => c.name);
    if (!messageColumns.includes("round_start")) this.sql.exec("ALTER TABLE messages ADD COLUMN round_start INTEGER NOT NULL DEFAULT 0");
    this.sql.exec("CREATE INDEX IF NOT EXISTS messages_due ON messages (state, next_at)");
    this.sql.exec("CREATE INDEX IF NOT EXISTS messages_by_endpoint ON messages (endpoint_id, created_at)");
    // Every endpoint's log, newest first, a page at a time: read along this index, not sorted whole per page.
    this.sql.exec("CREATE INDEX IF NOT EXISTS messages_by_time ON messages (created_at)");
    // The delivery log filtered by state reads only its page's rows (../bounded-scan.ts).
    this.sql.exec("CREATE INDEX IF NOT EXISTS messages_by_state_time ON messages (state, created_at)");
  }

  #view(r: EndpointRow): EndpointView {
    const pending = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM messages WHERE endpoint_id = ? AND state = 'pending'", r.id).one().n;
    return {
      id: r.id,
      url: r.url,
      events: JSON.parse(r.events) as EventType[],
      label: r.label,
      createdAt: new Date(r.created_at).toISOString(),
      disabledAt: iso(r.disabled_at),
      disabledReason: r.disabled_reason,
      pending,
      previousSecretUntil: r.previous_until !== null && r.previous_until > Date.now() ? new Date(r.previous_until).toISOString() : null,
    };
  }

  #endpoint(id: string): EndpointRow | undefined {
    return this.sql.exec<EndpointRow>("SELECT * FROM endpoints WHERE id = ?", id).toArray()[0];
  }

  /** Adds an endpoint; the secret is returned here only. */
  createEndpoint(input: { url: string; events: EventType[]; label?: string }): { endpoint: EndpointView; secret: string } {
    const id = `wh_${base64urlEncode(crypto.getRandomValues(new Uint8Array(9)))}`;
    const secret = newWebhookSecret();
    this.sql.exec("INSERT INTO endpoints (id, url, events, secret, label, created_at) VALUES (?, ?, ?, ?, ?, ?)", id, input.url, JSON.stringify(input.events), secret, input.label ?? null, Date.now());
    return { endpoint: this.#view(this.#endpoint(id)!), secret };
  }

  /**
   * A page of endpoints in the order they were added, after `cursor` (the last page's): those whose URL
   * or label contains `like` (a SQL LIKE pattern, `\\` escaping) and, with `disabled`, in that state.
   * Filtered, it reads at most {@link MAX_ROWS_SCANNED} rows: the page may hold fewer than `limit`
   * with a cursor to go on (../bounded-scan.ts; `maxScanned` lowers the bound for tests). `rowsRead`: what SQLite read for it.
   */
  listEndpoints(page: { cursor?: number; limit: number; like?: string; disabled?: boolean; maxScanned?: number }): { webhooks: EndpointView[]; cursor?: number; rowsRead: number } {
    const conditions = [...(page.like ? ["(url LIKE ? ESCAPE '\\' OR COALESCE(label, '') LIKE ? ESCAPE '\\')"] : []), ...(page.disabled === undefined ? [] : [page.disabled ? "disabled_at IS NOT NULL" : "disabled_at IS NULL"])];
    const filtered = conditions.length > 0;
    const scanned = filtered ? Math.max(page.maxScanned ?? MAX_ROWS_SCANNED, page.limit + 1) : page.limit + 1;
    const rows = this.sql.exec<EndpointRow & { n: number; hit: number }>(
      `SELECT rowid AS n, *, ${filtered ? conditions.join(" AND ") : "1"} AS hit FROM endpoints WHERE rowid > ? ORDER BY rowid LIMIT ?`,
      ...(page.like ? [page.like, page.like] : []),
      page.cursor ?? 0,
      scanned,
    );
    const shown = boundedPage(rows, page.limit, scanned);
    return { webhooks: shown.hits.map((r) => this.#view(r)), ...(shown.after ? { cursor: shown.after.n } : {}), rowsRead: rows.rowsRead };
  }

  getEndpoint(id: string): EndpointView | undefined {
    const row = this.#endpoint(id);
    return row ? this.#view(row) : undefined;
  }

  /** Removes an endpoint with its queue and log; what is in flight is not retried. */
  deleteEndpoint(id: string): boolean {
    if (!this.#endpoint(id)) return false;
    this.sql.exec("DELETE FROM messages WHERE endpoint_id = ?", id);
    this.sql.exec("DELETE FROM endpoints WHERE id = ?", id);
    return true;
  }

  /** Sends to an endpoint again after it was disabled (a 410); events from while it was disabled are not sent. */
  enableEndpoint(id: string): EndpointView | undefined {
    if (!this.#endpoint(id)) return undefined;
    this.sql.exec("UPDATE endpoints SET disabled_at = NULL, disabled_reason = NULL WHERE id = ?", id);
    return this.getEndpoint(id);
  }

  /**
   * Gives an endpoint a new secret, returned here only. The old one keeps signing beside it (two `v1`
   * signatures) for 24 hours, so receivers can switch without losing a delivery.
   */
  rotateSecret(id: string): { endpoint: EndpointView; secret: string } | undefined {
    const row = this.#endpoint(id);
    if (!row) return undefined;
    const secret = newWebhookSecret();
    this.sql.exec("UPDATE endpoints SET secret = ?, previous_secret = ?, previous_until = ? WHERE id = ?", secret, row.secret, Date.now() + PREVIOUS_SECRET_MS, id);
    return { endpoint: this.getEndpoint(id)!, secret };
  }

  /**
   * Sends a finished message again (a failed one after an outage, or a delivered one to replay it)
   * with the whole retry schedule; its earlier attempts stay in the log. Undefined when there is no
   * such message; "pending" when it is still being tried; "disabled" when the endpoint is.
   */
  async retryMessage(endpointId: string, messageId: string): Promise<DeliveryView | "pending" | "disabled" | undefined> {
    const endpoint = this.#endpoint(endpointId);
    const row = this.sql.exec<MessageRow>("SELECT * FROM messages WHERE endpoint_id = ? AND id = ?", endpointId, messageId).toArray()[0];
    if (!endpoint || !row) return undefined;
    if (row.state === "pending") return "pending";
    if (endpoint.disabled_at !== null) return "disabled";
    const now = Date.now();
    const attempts = (JSON.parse(row.attempts) as Attempt[]).length;
    this.sql.exec("UPDATE messages SET state = 'pending', next_at = ?, delivered_at = NULL, round_start = ? WHERE endpoint_id = ? AND id = ?", now, attempts, endpointId, messageId);
    await this.#arm(now);
    return toDeliveryView(this.sql.exec<MessageRow>("SELECT * FROM messages WHERE endpoint_id = ? AND id = ?", endpointId, messageId).one());
  }

  /**
   * Queues `event` for each enabled endpoint subscribed to its type (or for `only`, whatever it
   * subscribed to: the test event) and arms the alarm. Returns the message id, shared by every
   * endpoint's copy and every attempt (the receivers' idempotency key).
   */
  async publish(event: WebhookEvent, only?: string): Promise<{ messageId: string; endpoints: number }> {
    const messageId = `msg_${base64urlEncode(crypto.getRandomValues(new Uint8Array(16)))}`;
    const now = Date.now();
    const rows = only
      ? this.sql.exec<EndpointRow>("SELECT * FROM endpoints WHERE id = ? AND disabled_at IS NULL", only).toArray()
      : this.sql.exec<EndpointRow>("SELECT * FROM endpoints WHERE disabled_at IS NULL").toArray();
    const subscribed = (r: EndpointRow) => {
      const events = JSON.parse(r.events) as string[];
      return events.length === 0 || events.includes(event.type);
    };
    const targets = rows.filter((r) => only !== undefined || event.type === TEST_EVENT || subscribed(r));
    // The body is fixed now: every attempt sends, and signs, exactly these bytes.
    const body = JSON.stringify(event);
    for (const r of targets) {
      this.sql.exec("INSERT INTO messages (endpoint_id, id, type, body, created_at, state, next_at, attempts) VALUES (?, ?, ?, ?, ?, 'pending', ?, '[]')", r.id, messageId, event.type, body, now, now);
      this.#bound(r.id, now);
    }
    if (targets.length > 0) await this.#arm(now);
    return { messageId, endpoints: targets.length };
  }

  /** Keeps an endpoint's queue and log bounded. */
  #bound(endpointId: string, now: number): void {
    const pending = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM messages WHERE endpoint_id = ? AND state = 'pending'", endpointId).one().n;
    if (pending > MAX_PENDING) {
      const given = JSON.stringify({ at: new Date(now).toISOString(), status: null, error: `given up: more than ${MAX_PENDING} events waiting for this endpoint`, durationMs: 0, response: null });
      // Appended: the attempts already made stay in the log before the reason it ends.
      this.sql.exec(
        "UPDATE messages SET state = 'failed', next_at = NULL, attempts = json_insert(attempts, '$[#]', json(?)) WHERE endpoint_id = ? AND id IN (SELECT id FROM messages WHERE endpoint_id = ? AND state = 'pending' ORDER BY created_at LIMIT ?)",
        given, endpointId, endpointId, pending - MAX_PENDING,
      );
    }
    this.sql.exec(
      "DELETE FROM messages WHERE endpoint_id = ? AND id IN (SELECT id FROM messages WHERE endpoint_id = ? AND state != 'pending' ORDER BY created_at DESC LIMIT -1 OFFSET ?)",
      endpointId, endpointId, KEEP_FINISHED,
    );
  }

  /** The alarm at the earliest pending attempt (never later than one already set). */
  async #arm(now: number): Promise<void> {
    const next = this.sql.exec<{ t: number | null }>("SELECT MIN(next_at) AS t FROM messages WHERE state = 'pending'").one().t;
    if (next === null) return;
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > next) await this.ctx.storage.setAlarm(Math.max(next, now));
  }

  /**
   * A page of the delivery log, newest first: one endpoint's or every endpoint's, optionally in one
   * state and only events whose type or body (the certificate's names) contains `like`. `cursor` is
   * the last page's: `<created_at>.<rowid>` of its last row. A state alone (every endpoint's log) is
   * read through its index; a search, or a state within one endpoint's log, reads at most
   * {@link MAX_ROWS_SCANNED} rows: the page may hold fewer than `limit` with a cursor to go on
   * (../bounded-scan.ts; `maxScanned` lowers the bound for tests). `rowsRead`: what SQLite read for it.
   */
  deliveries(endpointId: string | undefined, page: { limit: number; state?: DeliveryView["state"]; cursor?: string; like?: string; maxScanned?: number }): { deliveries: DeliveryView[]; cursor?: string; rowsRead: number } {
    // Newest first; ties (events of one millisecond) by insertion order, newest first too.
    const [createdAt, rowid] = page.cursor ? page.cursor.split(".").map(Number) : [];
    const stateIndexed = page.state !== undefined && !endpointId && !page.like;
    const where = [...(endpointId ? ["endpoint_id = ?"] : []), ...(stateIndexed ? ["state = ?"] : [])];
    const args = [...(endpointId ? [endpointId] : []), ...(stateIndexed ? [page.state!] : [])];
    const conditions = [...(page.state && !stateIndexed ? ["state = ?"] : []), ...(page.like ? ["(type LIKE ? ESCAPE '\\' OR body LIKE ? ESCAPE '\\')"] : [])];
    const hitArgs = [...(page.state && !stateIndexed ? [page.state] : []), ...(page.like ? [page.like, page.like] : [])];
    const scanned = conditions.length > 0 ? Math.max(page.maxScanned ?? MAX_ROWS_SCANNED, page.limit + 1) : page.limit + 1;
    const select = (range: string[], rangeArgs: number[], limit: number) =>
      this.sql.exec<MessageRow & { n: number; hit: number }>(
        `SELECT rowid AS n, *, ${conditions.length > 0 ? conditions.join(" AND ") : "1"} AS hit FROM messages ${[...where, ...range].length ? `WHERE ${[...where, ...range].join(" AND ")}` : ""} ORDER BY created_at DESC, rowid DESC LIMIT ?`,
        ...hitArgs,
        ...args,
        ...rangeArgs,
        limit,
      );
    // After a cursor: the rest of its millisecond, then older ones — two index ranges, so no row
    // before the cursor is read (one OR of the two reads every row of the cursor's millisecond again).
    const reads: Array<{ rowsRead: number }> = [];
    function* rowsFrom(): Generator<MessageRow & { n: number; hit: number }> {
      const first = page.cursor ? select(["created_at = ? AND rowid < ?"], [createdAt!, rowid!], scanned) : select([], [], scanned);
      reads.push(first);
      let read = 0;
      for (const row of first) {
        read++;
        yield row;
      }
      if (!page.cursor || read >= scanned) return;
      const older = select(["created_at < ?"], [createdAt!], scanned - read);
      reads.push(older);
      yield* older;
    }
    const shown = boundedPage(rowsFrom(), page.limit, scanned);
    const rowsRead = reads.reduce((n, r) => n + r.rowsRead, 0);
    return { deliveries: shown.hits.map(toDeliveryView), ...(shown.after ? { cursor: `${shown.after.created_at}.${shown.after.n}` } : {}), rowsRead };
  }

  /**
   * Starts an attempt for each due message and returns without waiting for any: one endpoint that
   * hangs until the timeout delays neither the other endpoints nor events published meanwhile (the
   * next alarm can run while those attempts are still open). Each attempt re-arms when it ends.
   */
  override async alarm(): Promise<void> {
    let config: WebhookConfig;
    try {
      config = readWebhookConfig(this.env);
    } catch (err) {
      // A malformed variable: say so and look again in a minute rather than send with a guessed policy.
      console.error(JSON.stringify({ level: "error", event: "webhook.configuration_error", error: err instanceof Error ? err.message : String(err) }));
      await this.ctx.storage.setAlarm(Date.now() + 60_000);
      return;
    }
    const now = Date.now();
    // The oldest few due of each endpoint, not the oldest due overall: a dead endpoint with a long
    // backlog must not fill the batch and starve the others.
    const due = this.sql
      .exec<MessageRow>(
        `SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY endpoint_id ORDER BY next_at, rowid) AS rank FROM messages WHERE state = 'pending' AND next_at <= ?)
         WHERE rank <= ? ORDER BY next_at LIMIT ?`,
        now, MAX_IN_FLIGHT_PER_ENDPOINT, MAX_IN_FLIGHT * 2,
      )
      .toArray();
    const perEndpoint = new Map<string, number>();
    for (const key of this.#inFlight) {
      const endpoint = key.split(" ")[0]!;
      perEndpoint.set(endpoint, (perEndpoint.get(endpoint) ?? 0) + 1);
    }
    for (const m of due) {
      const key = `${m.endpoint_id} ${m.id}`;
      const busy = perEndpoint.get(m.endpoint_id) ?? 0;
      if (this.#inFlight.has(key) || busy >= MAX_IN_FLIGHT_PER_ENDPOINT || this.#inFlight.size >= MAX_IN_FLIGHT) continue;
      perEndpoint.set(m.endpoint_id, busy + 1);
      this.#inFlight.add(key);
      const run = this.#attempt(m, config)
        .catch((err: unknown) => console.error(JSON.stringify({ level: "error", event: "webhook.attempt_crashed", message: m.id, error: String(err) })))
        .finally(() => {
          this.#inFlight.delete(key);
          return this.#arm(Date.now());
        });
      this.ctx.waitUntil(run);
    }
    // What was left for lack of a free slot is due now: look again shortly rather than at once.
    const waiting = due.some((m) => !this.#inFlight.has(`${m.endpoint_id} ${m.id}`));
    if (waiting) await this.ctx.storage.setAlarm(Date.now() + 1000);
    else await this.#arm(Date.now());
  }

  async #attempt(m: MessageRow, config: WebhookConfig): Promise<void> {
    const endpoint = this.#endpoint(m.endpoint_id);
    if (!endpoint) return;
    // The attempt's number in its round: a manual retry gets the whole schedule again.
    const n = (JSON.parse(m.attempts) as Attempt[]).length - m.round_start + 1;
    const last = n > config.retryDelaysMs.length;
    const start = Date.now();
    // Written before sending: if this invocation dies mid-attempt, the retry is already scheduled.
    const retryAt = last ? null : start + config.timeoutMs + jitter(config.retryDelaysMs[n - 1]!);
    this.sql.exec("UPDATE messages SET next_at = ? WHERE endpoint_id = ? AND id = ?", retryAt ?? start + config.timeoutMs, m.endpoint_id, m.id);

    let status: number | null = null;
    let error: string | null = null;
    let response: string | null = null;
    let retryAfter: number | undefined;
    try {
      const previous = endpoint.previous_secret !== null && endpoint.previous_until !== null && endpoint.previous_until > start ? [endpoint.previous_secret] : [];
      // Checked again at sending: the setting may have been turned off since the endpoint was added.
      const refused = webhookUrlProblem(new URL(endpoint.url), config.allowPrivateUrls);
      if (refused) throw new RefusedUrl(refused);
      const headers = await signWebhook([endpoint.secret, ...previous], m.id, start / 1000, m.body);
      const res = await fetch(endpoint.url, {
        method: "POST",
        headers: { ...headers, "content-type": "application/json", "user-agent": "edgecert-webhooks" },
        body: m.body,
        // Standard Webhooks: a redirect is a failure (update the URL instead of following it).
        redirect: "manual",
        signal: AbortSignal.timeout(config.timeoutMs),
      });
      status = res.status;
      response = (await res.text()).slice(0, RESPONSE_EXCERPT) || null;
      retryAfter = parseRetryAfter(res.headers.get("retry-after"));
      if (status < 200 || status > 299) error = `HTTP ${status}`;
    } catch (err) {
      const name = err instanceof Error ? err.name : "";
      error =
        err instanceof RefusedUrl
          ? `refused: ${err.message}`
          : name === "TimeoutError" || name === "AbortError"
            ? `timeout: no response within ${config.timeoutMs / 1000} s`
            : `network: ${err instanceof Error ? err.message : String(err)}`.slice(0, 300);
    }
    const attempt: Attempt = { at: new Date(start).toISOString(), status, error, durationMs: Date.now() - start, response };
    // The row as it is now, not as it was when the attempt began: while the request was open the
    // message may have been given up (the endpoint's queue overflowed) or removed with its endpoint.
    const current = this.sql.exec<MessageRow>("SELECT * FROM messages WHERE endpoint_id = ? AND id = ?", m.endpoint_id, m.id).toArray()[0];
    if (!current) return;
    if (current.state !== "pending") {
      // Finished meanwhile: this attempt goes into the log before the entry that finished it, and a
      // 2xx still means the receiver has the event.
      const log = JSON.parse(current.attempts) as Attempt[];
      log.splice(Math.max(0, log.length - 1), 0, attempt);
      if (error === null) this.sql.exec("UPDATE messages SET state = 'delivered', next_at = NULL, delivered_at = ?, attempts = ? WHERE endpoint_id = ? AND id = ?", Date.now(), JSON.stringify(log), m.endpoint_id, m.id);
      else this.sql.exec("UPDATE messages SET attempts = ? WHERE endpoint_id = ? AND id = ?", JSON.stringify(log), m.endpoint_id, m.id);
      return;
    }
    const row = [JSON.stringify([...(JSON.parse(current.attempts) as Attempt[]), attempt]), m.endpoint_id, m.id] as const;
    if (error === null) {
      this.sql.exec("UPDATE messages SET state = 'delivered', next_at = NULL, delivered_at = ?, attempts = ? WHERE endpoint_id = ? AND id = ?", Date.now(), ...row);
    } else if (status === 410) {
      // 410 Gone: the receiver wants no more (Standard Webhooks, "Delivery success and failure").
      this.sql.exec("UPDATE messages SET state = 'failed', next_at = NULL, attempts = ? WHERE endpoint_id = ? AND id = ?", ...row);
      this.sql.exec("UPDATE endpoints SET disabled_at = ?, disabled_reason = ? WHERE id = ?", Date.now(), `answered 410 Gone to ${m.id}`, m.endpoint_id);
      this.sql.exec("UPDATE messages SET state = 'failed', next_at = NULL WHERE endpoint_id = ? AND state = 'pending'", m.endpoint_id);
    } else if (retryAt === null) {
      this.sql.exec("UPDATE messages SET state = 'failed', next_at = NULL, attempts = ? WHERE endpoint_id = ? AND id = ?", ...row);
    } else {
      // The schedule's wait from now, or longer when the endpoint asked for it (Retry-After on 429/503).
      const wait = Math.min(MAX_RETRY_WAIT_MS, Math.max(jitter(config.retryDelaysMs[n - 1]!), retryAfter ?? 0));
      this.sql.exec("UPDATE messages SET next_at = ?, attempts = ? WHERE endpoint_id = ? AND id = ?", Date.now() + wait, ...row);
    }
    if (error !== null) console.warn(JSON.stringify({ level: "warn", event: "webhook.attempt_failed", endpoint: m.endpoint_id, message: m.id, attempt: n, error }));
  }
}
