/**
 * The fleet queue over damaged and left-over records (issue 26, review): a crashed process's records —
 * some truncated, some of the wrong shape, some valid — never crash or stall the live processes, and
 * none is left behind for good. Seeded search: each seed writes a dead process's records (its lease,
 * a renewal, first issuances and their hint and turn counter, the queue's turn) and damages a seeded
 * subset (cut at a seeded byte, wrong JSON types, arbitrary bytes); then a live process queues orders
 * behind a spent bucket (1 order per 10 s) on a virtual clock. Checked per seed: every order granted,
 * in at most (orders + 1) periods plus the dead lease, nothing thrown, and afterwards no record of the
 * dead process is left (its lease, orders, hints). npm test runs 60 seeds; EDGECERT_DAMAGE_SEEDS=n for
 * more, EDGECERT_DAMAGE_SEED=s to start at (and replay) seed s.
 *
 * Found: a lapsed lease record with no order left under it — a process that crashed after its last
 * order was removed and before it removed its record, or after writing its record and before its
 * orders — stayed forever (only a walk meeting one of its orders removed it), and every walk of every
 * process read it again.
 */
import { describe, expect, it } from "vitest";
import type { CaLimits } from "../../src/budget/ca-limits.ts";
import { FairQueue, type AdmissionRequest } from "../../src/budget/fair-queue.ts";
import { FleetBudget } from "../../src/budget/fleet-budget.ts";
import { encodeOrder, encodeProcess, QueueLayout } from "../../src/budget/queue-records.ts";
import { MemoryStorage } from "../../src/storage/memory-storage.ts";
import { seededRandom } from "../support/seeded-random.ts";

const START = Date.UTC(2026, 11, 6);
const PERIOD = 10_000;
const DEAD_LEASE = 30_000;
const ACCOUNT = "https://ca.damage.test/acct/1";
const limits: CaLimits = { newOrdersPerAccount: { count: 1, periodMs: PERIOD } };
const SEEDS = Number(process.env.EDGECERT_DAMAGE_SEEDS ?? 60);
const FIRST = Number(process.env.EDGECERT_DAMAGE_SEED ?? 1);

const order = (name: string, expiresAt?: number): AdmissionRequest => ({ id: name, account: ACCOUNT, names: [name], nameSetId: name, ...(expiresAt !== undefined ? { expiresAt } : {}) });

/** One way to damage a stored value, chosen by `random`. */
function damage(value: string, random: () => number): string {
  const how = Math.floor(random() * 4);
  if (how === 0) return value.slice(0, Math.floor(random() * value.length));
  if (how === 1) return JSON.stringify({ until: "soon", total: [], heavy: 7, id: 3, names: "x", buckets: {}, turn: "x", last: -1 });
  if (how === 2) return String.fromCharCode(...Array.from({ length: 1 + Math.floor(random() * 40) }, () => Math.floor(random() * 256)));
  return "null";
}

async function run(seed: number): Promise<string[]> {
  const random = seededRandom(seed);
  const problems: string[] = [];
  let now = START;
  const storage = new MemoryStorage();
  const budget = new FleetBudget({ storage, limits, ca: "ca", now: () => now, sendMarginMs: 0 });
  const layout = new QueueLayout(budget);
  // The dead process: lease lapsed (or, for some seeds, still running for a while), with some of its records.
  const dead = "deadproc";
  const leaseLeft = random() < 0.5 ? -1 : Math.floor(random() * DEAD_LEASE);
  const records = new Map<string, string>();
  records.set(layout.process(dead), encodeProcess({ until: START + leaseLeft, total: 2, heavy: [["big.example", 2]] }));
  const refs = await budget.bucketsFor(order("x.big.example"));
  if (random() < 0.7) records.set(layout.renewal(START + 86_400_000, dead, "0"), encodeOrder(order("r.dead.example", START + 86_400_000), refs));
  if (random() < 0.7) {
    records.set(layout.first("big.example", 1, dead, "1"), encodeOrder(order("a.big.example"), refs));
    records.set(layout.first("big.example", 2, dead, "2"), encodeOrder(order("b.big.example"), refs));
    records.set(layout.hint(1, "big.example"), "");
    records.set(layout.turnCounter("big.example"), JSON.stringify({ last: 2 }));
  }
  records.set(layout.turn, JSON.stringify({ turn: 1 }));
  for (const [key, value] of records) await storage.put(key, random() < 0.4 ? damage(value, random) : value);
  // A spent bucket, so the live orders go through the queue (not the empty-queue fast path).
  expect((await budget.trySpend(order("spent.example"))).granted).toBe(true);

  const queue = new FairQueue(budget, { now: () => now, sleep: async (ms) => void (now += ms), leaseMs: 20_000 });
  const names = ["w1.live.example", "w2.live.example", "w3.other.example", "w4.live.example"];
  const granted: string[] = [];
  try {
    await Promise.all(names.map((n, i) => queue.admit(order(n, i === 3 ? START + 3_600_000 : undefined)).then(() => granted.push(n))));
  } catch (err) {
    problems.push(`threw ${String(err)}`);
  }
  if (granted.length !== names.length) problems.push(`granted ${granted.length} of ${names.length}`);
  const bound = (names.length + 1) * PERIOD + DEAD_LEASE;
  if (now - START > bound) problems.push(`took ${now - START} ms, more than ${bound}`);
  // One more walk after the dead lease has surely lapsed: nothing of the dead process may stay.
  now = Math.max(now, START + DEAD_LEASE + 1);
  await queue.admit(order("late.live.example")).catch((err: unknown) => problems.push(`late order threw ${String(err)}`));
  const left: string[] = [];
  for (const prefix of [layout.processes, layout.renewals, layout.firstIssuances]) {
    for (const key of (await storage.list(prefix)).keys) if (key.includes(dead)) left.push(key.slice(layout.root.length + 1));
  }
  if (left.length > 0) problems.push(`left behind: ${left.join(", ")}`);
  return problems.map((p) => `seed ${seed}: ${p}`);
}

describe("the fleet queue over a crashed process's damaged records", () => {
  it("grants every live order, throws nothing, and leaves nothing of the dead process behind (seeded search)", { timeout: 60_000 }, async () => {
    const failures: string[] = [];
    for (let seed = FIRST; seed < FIRST + SEEDS; seed++) failures.push(...(await run(seed)));
    console.log(`queue damage: ${SEEDS} seeds from ${FIRST}, ${failures.length} failure(s)${failures.length ? `; first: ${failures[0]} (replay: EDGECERT_DAMAGE_SEED=${/seed (\d+)/.exec(failures[0]!)![1]} EDGECERT_DAMAGE_SEEDS=1)` : ""}`);
    expect(failures).toEqual([]);
  });
});
