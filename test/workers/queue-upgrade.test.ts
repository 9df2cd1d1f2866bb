import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";
import { startWorker } from "../support/worker.ts";
import type { QueuedEntryInput as Entry } from "../support/queued-entry.ts";

// Issue 26: the renewal index keeps the CA budget queue's order in a `queue_at` column, an index on it
// and a count kept by triggers (ed81ac0). A deployment made before that has certificates waiting with
// none of them; its first start after the upgrade adds them and fills in every waiting certificate's
// estimate once. Here the real Worker's index writes the entries, a variant turns its database back
// into the old schema (test/support/worker-upgrade/pre-queue-schema-worker.ts), and the real Worker
// starts on the same persisted state: the queue reads as if the entries had been written by the new
// code — each lane's waiters one refill interval apart from their refill, every one listed once, in
// order, with positions and the total — and the count keeps up with what happens next.
const HOUR = 3_600_000;
/** CA_LIMITS below: the account's orders one an hour, a registered domain's certificates one per 7.2 h. */
const CA_LIMITS = "orders=24/24h,domain=10/72h";
const ORDERS = "orders https://ca.test/acct/1";
const DOMAIN = "domain a.test";
const VARIANT = fileURLToPath(new URL("../support/worker-upgrade/pre-queue-schema-worker.ts", import.meta.url));

interface UpgradeIndex {
  upsertMany(entries: Entry[]): Promise<void>;
  upsert(entry: Entry): Promise<void>;
  remove(id: string): Promise<boolean>;
  toPreQueueSchema(): Promise<void>;
  columns(): Promise<string[]>;
}
interface Queued {
  id: string;
  position: number | null;
  estimatedAt: string;
}
interface QueueBody {
  total: number;
  queued: Queued[];
  cursor: string | null;
}

let pebble: PebbleInstance;
let dir: string;
beforeAll(async () => {
  pebble = await startPebble();
  dir = await mkdtemp(join(tmpdir(), "edgecert-queue-upgrade-"));
});
afterAll(async () => {
  await pebble?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const entry = (id: string, dueAt: number, queuedFor: string | undefined, now: number): Entry => ({
  id, names: [`${id}.upgrade.test`], dueAt, status: "failed", failures: 1, ...(queuedFor ? { queuedFor } : {}), updatedAt: now,
});

describe("upgrading a deployment whose renewal index predates the queue's order column", () => {
  it("fills in every waiting certificate's estimate once, lists each once in order, and keeps the count", { timeout: 120_000 }, async () => {
    const now = Date.now();
    const refill = now + HOUR;
    // Five waiting on the account's bucket (the same refill), three on a domain's, two not waiting.
    const entries = [
      ...["o1", "o2", "o3", "o4", "o5"].map((id) => entry(id, refill, ORDERS, now)),
      ...["d1", "d2", "d3"].map((id) => entry(id, refill + 10 * 60_000, DOMAIN, now)),
      entry("idle1", now + 30 * 24 * HOUR, undefined, now),
      entry("idle2", now + 31 * 24 * HOUR, undefined, now),
    ];
    const old = await startWorker(pebble, { entry: VARIANT, persistTo: dir, vars: { CA_LIMITS } });
    try {
      const index = (await old.index()) as unknown as UpgradeIndex;
      await index.upsertMany(entries);
      await index.toPreQueueSchema();
      expect(await index.columns()).not.toContain("queue_at");
    } finally {
      await old.stop();
    }

    const worker = await startWorker(pebble, { persistTo: dir, vars: { CA_LIMITS } });
    try {
      const body = (await (await worker.admin("/admin/queue?limit=200")).json()) as QueueBody;
      expect(body.total).toBe(8);
      // Each lane in due order, one refill interval apart from its refill, the lanes merged by estimate.
      const expected = [
        ...["o1", "o2", "o3", "o4", "o5"].map((id, k) => ({ id, at: refill + k * HOUR })),
        ...["d1", "d2", "d3"].map((id, k) => ({ id, at: refill + 10 * 60_000 + k * 7.2 * HOUR })),
      ].sort((a, b) => a.at - b.at || a.id.localeCompare(b.id));
      expect(body.queued.map((q) => ({ id: q.id, at: Date.parse(q.estimatedAt) }))).toEqual(expected);
      expect(body.queued.map((q) => q.position)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);

      // By cursor, three at a time: the same eight, each once, in the same order.
      const walked: string[] = [];
      let cursor: string | null = null;
      for (let pages = 0; pages < 10; pages++) {
        const page = (await (await worker.admin(`/admin/queue?limit=3${cursor ? `&cursor=${cursor}` : ""}`)).json()) as QueueBody;
        walked.push(...page.queued.map((q) => q.id));
        cursor = page.cursor;
        if (!cursor) break;
      }
      expect(walked).toEqual(expected.map((e) => e.id));

      // The count the upgrade started keeps up: one more waiting, one no longer waiting, one removed.
      const index = (await worker.index()) as unknown as UpgradeIndex;
      await index.upsert(entry("o6", refill, ORDERS, now));
      await index.upsert(entry("d1", refill + 10 * 60_000, undefined, now));
      await index.remove("o2");
      const after = (await (await worker.admin("/admin/queue?limit=200")).json()) as QueueBody;
      expect(after.total).toBe(7);
      expect(after.queued.map((q) => q.id).sort()).toEqual(["d2", "d3", "o1", "o3", "o4", "o5", "o6"]);
      // The newcomer waits behind the last of its lane that was there before it.
      const o6 = after.queued.find((q) => q.id === "o6")!;
      expect(Date.parse(o6.estimatedAt)).toBe(refill + 5 * HOUR);
    } finally {
      await worker.stop();
    }
  });
});
