import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";
import { startWorker } from "../support/worker.ts";

// Issue 26: the renewal index claims first issuances in turns across registered domains (each entry's
// `reg_domain` and `turn`, counts per domain in `first_pending`). A deployment made before that has
// pending first issuances with none of them; its first start after the upgrade gives each its
// registered domain (Public Suffix List) and turn, each domain's in due order, and counts them. The
// real index writes the entries, a variant turns its database back into the old schema
// (test/support/worker-upgrade/pre-turn-schema-worker.ts), and the real Worker starts on the same
// persisted state. Without the backfill, the claim took the big customer's names in due order.
const VARIANT = fileURLToPath(new URL("../support/worker-upgrade/pre-turn-schema-worker.ts", import.meta.url));

interface Item {
  id: string;
  names: string[];
  dueAt: number;
}
interface UpgradeIndex {
  addMany(items: Item[], now: number): Promise<unknown>;
  toPreTurnSchema(): Promise<void>;
  columns(): Promise<string[]>;
  claimDue(now: number, limit: number, claimMs: number, firsts: number, fair: object): Promise<{ entries: Array<{ id: string }> }>;
}

let pebble: PebbleInstance;
let dir: string;
beforeAll(async () => {
  pebble = await startPebble();
  dir = await mkdtemp(join(tmpdir(), "edgecert-turn-upgrade-"));
});
afterAll(async () => {
  await pebble?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("upgrading a deployment whose renewal index predates the turns of first issuances", () => {
  it("gives every pending first issuance its registered domain and turn once, and counts them", { timeout: 120_000 }, async () => {
    const now = Date.now();
    const name = (domain: string, i: number) => ({ id: `n${i}.${domain}`, names: [`n${i}.${domain}`] });
    // A big customer's 6 names added first, then three small customers' one each.
    const items = [
      ...Array.from({ length: 6 }, (_, i) => ({ ...name("big-upgrade.test", i), dueAt: now - 10_000 + i })),
      ...[0, 1, 2].map((j) => ({ ...name(`s${j}-upgrade.test`, 0), dueAt: now - 5_000 + j })),
    ];
    const old = await startWorker(pebble, { entry: VARIANT, persistTo: dir });
    try {
      const index = (await old.index()) as unknown as UpgradeIndex;
      await index.addMany(items, now);
      await index.toPreTurnSchema();
      expect(await index.columns()).not.toContain("turn");
    } finally {
      await old.stop();
    }

    const worker = await startWorker(pebble, { persistTo: dir, vars: { CA_LIMITS: "orders=10/1h,domain=1/1h" } });
    try {
      const index = (await worker.index()) as unknown as UpgradeIndex;
      // In turns: each customer's first name (the big one's earliest), then the big one's second.
      const turns = await index.claimDue(now, 100, 60_000, 5, { queueMax: 100 });
      expect(turns.entries.map((e) => e.id)).toEqual(["n0.big-upgrade.test", "n0.s0-upgrade.test", "n0.s1-upgrade.test", "n0.s2-upgrade.test", "n1.big-upgrade.test"]);
      // The counts: 9 pending, the big customer's 6 (4 left to claim); its own limit binds (6 x 10/h >= 1/2 x 9 x 1/h),
      // so with the limits the claim gives it its need (1 + 1/h x 100 / (2 x 10/h) = 6, less 2 in flight) and nothing in turns.
      const binding = await index.claimDue(now, 100, 60_000, 8, { queueMax: 100, orders: { count: 10, periodMs: 3_600_000 }, domain: { count: 1, periodMs: 3_600_000 } });
      expect(binding.entries.map((e) => e.id)).toEqual(["n2.big-upgrade.test", "n3.big-upgrade.test", "n4.big-upgrade.test", "n5.big-upgrade.test"]);
    } finally {
      await worker.stop();
    }
  });
});
