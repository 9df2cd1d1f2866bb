import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_ROWS_SCANNED } from "../../workers/bounded-scan.ts";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";
import { startWebhookReceiver, type WebhookReceiver } from "../support/webhook-receiver.ts";
import { startWorker, type WorkerInstance } from "../support/worker.ts";

// A searched or filtered admin listing page costs a bounded number of storage reads, however many
// records exist (issue 26): at 10,000 certificates every page of a search with 3 matches looks at most
// at MAX_ROWS_SCANNED rows of its SQLite table (SQLite's own count, `rowsRead`, from the Durable Object
// that holds it: the id index to the scan's edge, then the rows up to it), and a state filter reads only its page through an index; the walk by cursor finds
// every match. Webhook endpoints and deliveries (1,200 each) are walked with a bound of 300. Before, a
// search read rows until it had a full page or the table ended: 10,000 rows for a page of 3 matches. (The deploy-token listing's
// bound, in storage operations, is test/hub/token-listing.test.ts.)
const RECORDS = 10_000;
// Webhook endpoints and deliveries are made one RPC each from Node (about 8 ms and 37 ms here), so npm
// test makes 1,200 of each (past one page's bound); EDGECERT_LISTING_SCALE=5 makes 6,000.
const SCALE = Number(process.env.EDGECERT_LISTING_SCALE ?? 1);
/** Events published to 10 endpoints: 10 deliveries each. */
const DELIVERY_EVENTS = 120 * SCALE;
/** Webhook endpoints listed (besides the 10 deliveries go to). */
const ENDPOINTS = 1_200 * SCALE;
/** The scan bound the webhook listings are walked with here (MAX_ROWS_SCANNED is larger than the tables these tests can fill quickly). */
const SMALL_BOUND = 300;
const rare = (i: number) => i % 4_000 === 1_999;
let pebble: PebbleInstance;
let worker: WorkerInstance;
let receiver: WebhookReceiver;

type Page = { cursor?: string | number; rowsRead: number };
interface IndexList {
  list(after: string | undefined, limit: number, filter: { like?: string; status?: string }): Promise<Page & { entries: Array<{ id: string }> }>;
}
interface Outbox {
  createEndpoint(input: { url: string; events: string[]; label?: string }): Promise<unknown>;
  listEndpoints(page: { cursor?: number; limit: number; like?: string; disabled?: boolean; maxScanned?: number }): Promise<Page & { webhooks: Array<{ label?: string }> }>;
  publish(event: { type: string; timestamp: string; data: Record<string, unknown> }): Promise<unknown>;
  deliveries(endpoint: string | undefined, page: { limit: number; state?: string; cursor?: string; like?: string; maxScanned?: number }): Promise<Page & { deliveries: Array<{ type: string }> }>;
}

beforeAll(async () => {
  pebble = await startPebble();
  receiver = await startWebhookReceiver();
  // Deliveries fail once and wait an hour: they stay in the log, pending.
  worker = await startWorker(pebble, { vars: { WEBHOOK_ALLOW_PRIVATE_URLS: "true", WEBHOOK_RETRY_SCHEDULE: "1h" } });
});
afterAll(async () => {
  await worker?.stop();
  await receiver?.close();
  await pebble?.stop();
});

async function outbox(): Promise<Outbox> {
  const ns = await worker.mf.getDurableObjectNamespace("WEBHOOK_OUTBOX");
  return ns.get(ns.idFromName("webhooks")) as unknown as Outbox;
}

/** Walks a listing by cursor: every page's rows read and what it found. */
async function walk<T>(read: (cursor: string | number | undefined) => Promise<Page & { rows: T[] }>): Promise<{ found: T[]; rowsRead: number[] }> {
  const found: T[] = [];
  const rowsRead: number[] = [];
  let cursor: string | number | undefined;
  do {
    const page = await read(cursor);
    found.push(...page.rows);
    rowsRead.push(page.rowsRead);
    cursor = page.cursor;
    expect(rowsRead.length).toBeLessThan(200);
  } while (cursor !== undefined);
  return { found, rowsRead };
}

const report = (what: string, w: { rowsRead: number[] }, records = RECORDS) =>
  console.log(`${what} at ${records.toLocaleString("en")} records: ${w.rowsRead.length} pages, rows read per page ${Math.min(...w.rowsRead)}-${Math.max(...w.rowsRead)}`);

describe("admin listings read a bounded number of rows per page", () => {
  it(`certificates: a search of ${RECORDS} with 3 matches looks at most at ${MAX_ROWS_SCANNED} rows a page; a state filter reads only its page`, async () => {
    const index = (await worker.index()) as unknown as IndexList & { upsertMany(e: unknown[]): Promise<void> };
    const now = Date.now();
    const entries = Array.from({ length: RECORDS }, (_, i) => ({
      id: `bound-${String(i).padStart(5, "0")}`,
      names: [rare(i) ? `rare-${i}.bound.test` : `c${i}.bound.test`],
      dueAt: now + 86_400_000 + i,
      status: rare(i) ? "failed" : "valid",
      failures: 0,
      updatedAt: now,
    }));
    for (let i = 0; i < entries.length; i += 2_000) await index.upsertMany(entries.slice(i, i + 2_000));
    const search = await walk(async (cursor) => {
      const page = await index.list(cursor as string | undefined, 50, { like: "%rare-%" });
      return { ...page, rows: page.entries.map((e) => e.id) };
    });
    report("certificate search", search);
    expect(search.found).toEqual(["bound-01999", "bound-05999", "bound-09999"]);
    // The scan's edge is found in the id index (MAX_ROWS_SCANNED entries), then the rows up to it are read.
    for (const n of search.rowsRead) expect(n).toBeLessThanOrEqual(2 * MAX_ROWS_SCANNED + 1);
    // A table that ends exactly at a page's bound costs one more (empty) page.
    expect(search.rowsRead.length).toBeLessThanOrEqual(Math.ceil(RECORDS / MAX_ROWS_SCANNED) + 1);
    const state = await index.list(undefined, 50, { status: "failed" });
    console.log(`certificate state filter (3 of ${RECORDS}): rows read ${state.rowsRead}`);
    expect(state.entries.map((e) => e.id)).toEqual(["bound-01999", "bound-05999", "bound-09999"]);
    expect(state.rowsRead).toBeLessThanOrEqual(10);
    // Through the API: short pages with a cursor until the end, every match once.
    let cursor: string | null = null;
    const api: string[] = [];
    let pages = 0;
    do {
      const res = await worker.admin(`/admin/certificates?q=rare-&limit=50${cursor ? `&cursor=${cursor}` : ""}`);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { certificates: Array<{ id: string }>; cursor: string | null };
      api.push(...body.certificates.map((c) => c.id));
      cursor = body.cursor;
      pages++;
    } while (cursor && pages < 50);
    expect(api).toEqual(["bound-01999", "bound-05999", "bound-09999"]);
  });

  it(`webhook endpoints and deliveries: a search of ${ENDPOINTS} / ${DELIVERY_EVENTS * 10} with few matches reads at most the bound (${SMALL_BOUND} here) a page`, async () => {
    const box = await outbox();
    // Deliveries: 10 endpoints × DELIVERY_EVENTS events; the receiver never answers, so they stay pending.
    receiver.script("/refuse", ["hang"]);
    let t = Date.now();
    for (let e = 0; e < 10; e++) await box.createEndpoint({ url: `${receiver.origin}/refuse`, events: [], label: `delivery-target-${e}` });
    for (let i = 0; i < DELIVERY_EVENTS; i++) {
      const name = i % 50 === 49 ? `rare-${i}.bound.test` : `c${i}.bound.test`;
      await box.publish({ type: "certificate.renewed", timestamp: new Date().toISOString(), data: { names: [name] } });
    }
    console.log(`published ${DELIVERY_EVENTS} events in ${Date.now() - t} ms`);
    t = Date.now();
    const deliveries = await walk(async (cursor) => {
      const page = await box.deliveries(undefined, { limit: 20, like: "%rare-%", maxScanned: SMALL_BOUND, ...(cursor !== undefined ? { cursor: String(cursor) } : {}) });
      return { ...page, rows: page.deliveries };
    });
    report("delivery search", deliveries, DELIVERY_EVENTS * 10);
    // One rare event in 50, each delivered to 10 endpoints.
    expect(deliveries.found).toHaveLength(Math.floor(DELIVERY_EVENTS / 50) * 10);
    expect(deliveries.rowsRead.length).toBeGreaterThan(1);
    for (const n of deliveries.rowsRead) expect(n).toBeLessThanOrEqual(MAX_ROWS_SCANNED + 1);

    // Endpoints: ENDPOINTS more (one label in 1,000 rare).
    t = Date.now();
    for (let i = 0; i < ENDPOINTS; i += 500) {
      await Promise.all(Array.from({ length: Math.min(500, ENDPOINTS - i) }, (_, k) => box.createEndpoint({ url: `${receiver.origin}/w`, events: ["certificate.revoked"], label: (i + k) % 1_000 === 499 ? `rare-${i + k}` : `plain-${i + k}` })));
    }
    console.log(`created ${ENDPOINTS} endpoints in ${Date.now() - t} ms`);
    const endpoints = await walk(async (cursor) => {
      const page = await box.listEndpoints({ limit: 50, like: "%rare-%", maxScanned: SMALL_BOUND, ...(cursor !== undefined ? { cursor: Number(cursor) } : {}) });
      return { ...page, rows: page.webhooks.map((w) => w.label) };
    });
    report("webhook search", endpoints, ENDPOINTS + 10);
    expect(endpoints.found).toEqual(Array.from({ length: ENDPOINTS }, (_, n) => n).filter((n) => n % 1_000 === 499).map((n) => `rare-${n}`));
    expect(endpoints.rowsRead.length).toBeGreaterThan(1);
    for (const n of endpoints.rowsRead) expect(n).toBeLessThanOrEqual(MAX_ROWS_SCANNED + 1);
  });
});
