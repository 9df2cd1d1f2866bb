import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seededRandom } from "../support/seeded-random.ts";
import { EXACT_POSITIONS } from "../../workers/bounded-scan.ts";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";
import { startWorker, type WorkerInstance } from "../support/worker.ts";
import type { QueuedEntryInput as Entry } from "../support/queued-entry.ts";

// Issue 26: the CA budget's queue in the admin API (GET /admin/queue, a certificate's `queue`) costs
// what a page returns, not the queue's length — onboarding 100,000 names queues up to 100,000. Measured
// with SQLite's own count (`rowsRead`) from the renewal index's Durable Object in workerd. Before, each
// page computed every waiting row's estimate (a window over the whole queue, then OFFSET) and counted
// the queue, and a certificate's position loaded every waiting row: 10,000+ rows read per page at
// 10,000 queued. Then a seeded walk by cursor while certificates start and stop waiting between pages:
// every certificate that waits throughout is listed exactly once, in queue order, nothing listed
// twice unless it started waiting again behind the cursor. EDGECERT_QUEUE_SEEDS=N walks N seeds (default
// 3); a failing seed replays with EDGECERT_QUEUE_SEED=<seed>.
const QUEUED = 10_000;
const HOUR = 3_600_000;
const SEEDS = process.env.EDGECERT_QUEUE_SEED ? [Number(process.env.EDGECERT_QUEUE_SEED)] : Array.from({ length: Number(process.env.EDGECERT_QUEUE_SEEDS ?? 3) }, (_, i) => 1 + i);
/** Refill intervals by `CA_LIMITS` below: orders one an hour, a registered domain's certificates one a 7.2 h. */
const INTERVAL: Record<string, number> = { orders: HOUR, domain: 7.2 * HOUR };
const LANES = ["orders https://ca.test/acct/1", "domain a.test", "domain b.test", "domain c.test"];

interface QueuedRow {
  entry: { id: string; queuedFor?: string };
  position: number | null;
  estimatedAt: number;
}
interface QueueIndex {
  upsertMany(entries: Entry[]): Promise<void>;
  upsert(entry: Entry): Promise<void>;
  remove(id: string): Promise<boolean>;
  queuePage(after: { at: number; id: string } | undefined, limit: number): Promise<{ queued: QueuedRow[]; total: number; cursor?: string; rowsRead: number }>;
  queuePosition(id: string): Promise<(QueuedRow & { rowsRead: number }) | undefined>;
  queuePositions(ids: string[]): Promise<{ queued: QueuedRow[]; total: number; rowsRead: number }>;
}

let pebble: PebbleInstance;
let worker: WorkerInstance;
const queueIndex = async () => (await worker.index()) as unknown as QueueIndex;
const afterOf = (cursor: string | undefined) => (cursor ? { at: Number(cursor.split("~")[0]), id: cursor.slice(cursor.indexOf("~") + 1) } : undefined);

beforeAll(async () => {
  pebble = await startPebble();
  worker = await startWorker(pebble, { vars: { CA_LIMITS: "orders=24/24h,domain=10/72h" } });
});
afterAll(async () => {
  await worker?.stop();
  await pebble?.stop();
});

const entry = (id: string, dueAt: number, queuedFor: string | undefined, now: number): Entry => ({
  id, names: [`${id}.queue.test`], dueAt, status: "failed", failures: 1, ...(queuedFor ? { queuedFor } : {}), updatedAt: now,
});

describe("the CA budget queue's admin views cost a bounded number of rows", () => {
  it(`at ${QUEUED.toLocaleString("en")} queued, every page and a position read at most their rows and ${EXACT_POSITIONS} rows ahead`, { timeout: 120_000 }, async () => {
    const index = await queueIndex();
    const now = Date.now();
    const rand = seededRandom(7);
    // Each refused later than the one before (a bucket's refill time only grows between refusals).
    const all = Array.from({ length: QUEUED }, (_, i) => entry(`bulk-${String(i).padStart(5, "0")}`, now + HOUR + i * 10 + Math.floor(rand() * 10), LANES[i % 10 === 0 ? 1 + (i % 3) : 0], now));
    for (let i = 0; i < all.length; i += 2_000) await index.upsertMany(all.slice(i, i + 2_000));

    const limit = 200;
    const seen: QueuedRow[] = [];
    const reads: number[] = [];
    let cursor: string | undefined;
    do {
      const page = await index.queuePage(afterOf(cursor), limit);
      expect(page.total).toBe(QUEUED);
      seen.push(...page.queued);
      reads.push(page.rowsRead);
      cursor = page.cursor;
      expect(reads.length).toBeLessThanOrEqual(QUEUED / limit + 1);
    } while (cursor !== undefined);
    console.log(`queue at ${QUEUED.toLocaleString("en")} queued: ${reads.length} pages of ${limit}, rows read per page ${Math.min(...reads)}-${Math.max(...reads)} (first ${reads[0]}, last ${reads.at(-1)})`);
    for (const r of reads) expect(r).toBeLessThanOrEqual(limit + 1 + EXACT_POSITIONS + 2);
    expect(new Set(seen.map((q) => q.entry.id)).size).toBe(QUEUED);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.estimatedAt).toBeGreaterThanOrEqual(seen[i - 1]!.estimatedAt);
    // Exact positions up to EXACT_POSITIONS, then null (the estimated time still says when).
    expect(seen.slice(0, EXACT_POSITIONS).map((q) => q.position)).toEqual(Array.from({ length: EXACT_POSITIONS }, (_, i) => i + 1));
    expect(seen.slice(EXACT_POSITIONS + limit).every((q) => q.position === null)).toBe(true);
    // The one-an-hour account bucket: 9,000 waiting on it, so the last of them about 9,000 hours out.
    const onOrders = seen.filter((q) => q.entry.queuedFor === LANES[0]);
    expect(onOrders.at(-1)!.estimatedAt - onOrders[0]!.estimatedAt).toBe((onOrders.length - 1) * INTERVAL.orders!);

    const near = await index.queuePosition(seen[9]!.entry.id);
    const far = await index.queuePosition(seen.at(-1)!.entry.id);
    console.log(`queue position at ${QUEUED.toLocaleString("en")} queued: #10 read ${near!.rowsRead} rows, the last read ${far!.rowsRead}`);
    expect(near).toMatchObject({ position: 10, estimatedAt: seen[9]!.estimatedAt });
    expect(far).toMatchObject({ position: null, estimatedAt: seen.at(-1)!.estimatedAt });
    expect(near!.rowsRead).toBeLessThanOrEqual(10 + 2);
    expect(far!.rowsRead).toBeLessThanOrEqual(EXACT_POSITIONS + 2);

    // Through the admin API: the cursor walks on, the detail says where past the exact positions.
    const first = (await (await worker.admin("/admin/queue?limit=3")).json()) as { total: number; queued: Array<{ id: string; position: number }>; cursor: string };
    expect(first.total).toBe(QUEUED);
    expect(first.queued.map((q) => q.position)).toEqual([1, 2, 3]);
    const second = (await (await worker.admin(`/admin/queue?limit=3&cursor=${encodeURIComponent(first.cursor)}`)).json()) as typeof first;
    expect(second.queued.map((q) => [q.id, q.position])).toEqual(seen.slice(3, 6).map((q, i) => [q.entry.id, 4 + i]));
    const detail = (await (await worker.admin(`/admin/certificates/${seen.at(-1)!.entry.id}`)).json()) as { queue: { position: number | null; positionAfter?: number } };
    expect(detail.queue).toMatchObject({ position: null, positionAfter: EXACT_POSITIONS });
    for (const bad of ["cursor=12", "cursor=x~y", "cursor=1~a%2Fb"]) expect((await worker.admin(`/admin/queue?${bad}`)).status, bad).toBe(400);

    // A page of certificates at once (the dashboard's certificates, one call): each one's place as
    // queuePosition gives it, in queue order, for the rows ahead of the first plus those between —
    // not EXACT_POSITIONS rows each (50 one by one here: ~40,000 rows).
    const picks = Array.from({ length: 50 }, (_, i) => i * 190 + (i % 7));
    const ids = [...picks.map((i) => seen[i]!.entry.id).reverse(), "not-in-the-index"];
    const batch = await index.queuePositions(ids);
    console.log(`queue positions of 50 certificates spread over ${QUEUED.toLocaleString("en")} queued, in one call: ${batch.rowsRead} rows read`);
    expect(batch.total).toBe(QUEUED);
    expect(batch.queued.map((q) => [q.entry.id, q.position, q.estimatedAt])).toEqual(picks.map((i) => [seen[i]!.entry.id, i < EXACT_POSITIONS ? i + 1 : null, seen[i]!.estimatedAt]));
    expect(batch.rowsRead).toBeLessThanOrEqual(EXACT_POSITIONS + 3 * ids.length);
    const viaApi = (await (await worker.admin(`/admin/queue?ids=${ids.join(",")}`)).json()) as { total: number; queued: Array<{ id: string; position: number | null; positionAfter?: number }>; cursor: null };
    expect(viaApi.total).toBe(QUEUED);
    expect(viaApi.queued.map((q) => [q.id, q.position, q.positionAfter ?? null])).toEqual(picks.map((i) => [seen[i]!.entry.id, i < EXACT_POSITIONS ? i + 1 : null, i < EXACT_POSITIONS ? null : EXACT_POSITIONS]));
    for (const bad of ["ids=", "ids=a,,b", "ids=a%2Fb", `ids=${Array.from({ length: 201 }, (_, i) => `c${i}`).join(",")}`, "ids=a&limit=3"]) {
      expect((await worker.admin(`/admin/queue?${bad}`)).status, bad.slice(0, 40)).toBe(400);
    }

    for (let i = 0; i < all.length; i += 2_000) await index.upsertMany(all.slice(i, i + 2_000).map((e) => entry(e.id, e.dueAt, undefined, now)));
    expect((await index.queuePage(undefined, 1)).total).toBe(0);
  });

  it("certificates refused together (one refill time) are estimated one refill interval apart, whatever order they are written in; one due earlier goes ahead", async () => {
    const index = await queueIndex();
    const now = Date.now();
    const due = now + HOUR;
    const rand = seededRandom(11);
    const ids = Array.from({ length: 40 }, (_, i) => `tie-${String(i).padStart(2, "0")}`).sort(() => rand() - 0.5);
    for (const id of ids) await index.upsert(entry(id, due, LANES[0], now));
    const early = entry("tie-early", now + 10 * 60_000, LANES[0], now);
    await index.upsert(early);
    const page = await index.queuePage(undefined, 50);
    expect(page.queued.map((q) => q.entry.id)).toEqual(["tie-early", ...ids]);
    expect(page.queued.map((q) => q.estimatedAt)).toEqual([early.dueAt, ...ids.map((_, i) => due + i * INTERVAL.orders!)]);
    for (const id of [...ids, early.id]) await index.remove(id);
  });

  it(`a walk by cursor lists every certificate waiting throughout exactly once, in queue order, while others come and go (${SEEDS.length} seeds)`, { timeout: 120_000 }, async () => {
    const index = await queueIndex();
    let pages = 0;
    let changes = 0;
    let listed = 0;
    for (const seed of SEEDS) {
      const rand = seededRandom(seed);
      const now = Date.now();
      const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
      /** The model: what waits, and on which lane with which due time. */
      const waiting = new Map<string, Entry>();
      let made = 0;
      const fresh = (): Entry => entry(`walk-${seed}-${made++}`, now + Math.floor(rand() * 4 * HOUR), pick(LANES), now);
      const initial = Array.from({ length: 150 }, fresh);
      await index.upsertMany(initial);
      for (const e of initial) waiting.set(e.id, e);
      const touched = new Set<string>();
      const shown = new Map<string, number>();
      let cursor: string | undefined;
      let last: { at: number; id: string } | undefined;
      do {
        const page = await index.queuePage(afterOf(cursor), 1 + Math.floor(rand() * 12));
        pages++;
        expect(page.total, `seed ${seed}`).toBe(waiting.size);
        for (const q of page.queued) {
          const id = q.entry.id;
          expect(waiting.has(id), `seed ${seed}: ${id} listed while not waiting`).toBe(true);
          // Strictly after the previous row in queue order: nothing twice, nothing out of order.
          if (last) expect(q.estimatedAt > last.at || (q.estimatedAt === last.at && id > last.id), `seed ${seed}: ${id} out of order`).toBe(true);
          last = { at: q.estimatedAt, id };
          shown.set(id, (shown.get(id) ?? 0) + 1);
          listed++;
        }
        cursor = page.cursor;
        // Between pages: some start waiting, some stop, some wait again from a new due time.
        for (let k = Math.floor(rand() * 4); k > 0; k--) {
          changes++;
          const roll = rand();
          if (roll < 0.4 || waiting.size === 0) {
            const e = fresh();
            await index.upsert(e);
            waiting.set(e.id, e);
            touched.add(e.id);
          } else {
            const id = pick([...waiting.keys()]);
            touched.add(id);
            waiting.delete(id);
            if (roll < 0.6) await index.remove(id);
            else if (roll < 0.8) await index.upsert(entry(id, now, undefined, now));
            else {
              const again = entry(id, now + Math.floor(rand() * 4 * HOUR), pick(LANES), now);
              await index.upsert(again);
              waiting.set(id, again);
            }
          }
        }
        expect(pages).toBeLessThan(10_000);
      } while (cursor !== undefined);
      for (const e of initial) {
        if (!touched.has(e.id)) expect(shown.get(e.id), `seed ${seed}: ${e.id} waited throughout`).toBe(1);
      }
      for (const [id, n] of shown) if (!touched.has(id)) expect(n, `seed ${seed}: ${id}`).toBe(1);
      // Clean up for the next seed.
      for (const id of new Set([...waiting.keys(), ...initial.map((e) => e.id)])) await index.remove(id);
      expect((await index.queuePage(undefined, 1)).total, `seed ${seed}`).toBe(0);
    }
    console.log(`queue walk: ${SEEDS.length} seeds, ${pages} pages, ${listed} rows listed, ${changes} changes between pages`);
  });
});
