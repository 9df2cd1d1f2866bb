import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PebbleInstance } from "../support/pebble.ts";
import { startWorker, type WorkerInstance } from "../support/worker.ts";

// Renewal throughput (issue 26): one cron tick with thousands of due certificates dispatches every one
// of them, and each invocation stays within Workers' per-invocation limits — 1000 subrequests (paid
// plan) and 6 simultaneous open connections. The old tick made one subrequest per certificate from the
// cron invocation and capped RENEW_BATCH at 1000 (a 5,000 batch was a configuration error, ticks skipped).
//
// No CA work is asked of anyone here: there is no CA (every outbound request answers 404), so each
// renewal fails fast and records its failure; what is measured is the dispatch. Throughput with a CA's
// latency is in `npm run bench` (bench/renewal-throughput.ts).
// Cost: npm test runs 150 due certificates (~6-12 s) under RENEW_BATCH 10000 (the most a tick may claim);
// FANOUT_DUE=10000 runs a full tick (589 dispatchers). Before renewers left memory after their renewal
// (test/workers/renewer-eviction.test.ts), 5,000 ran local workerd out of SQLite memory (SQLITE_NOMEM):
// every renewer kept its database open for 30 s after its last CA request.
const DUE = Number(process.env.FANOUT_DUE ?? 150);
const BATCH = 10_000;
const CHUNK = 17;
const downCa = { directoryUrl: "https://ca.fanout.test/directory" } as unknown as PebbleInstance;
let worker: WorkerInstance;
let caRequests = 0;

beforeAll(async () => {
  worker = await startWorker(downCa, {
    port: 0,
    vars: { RENEW_BATCH: String(BATCH), RENEW_CHUNK: String(CHUNK) },
    outbound: () => {
      caRequests++;
      return new Response("no CA here", { status: 404 });
    },
  });
});
afterAll(async () => {
  await worker?.stop();
});

describe("cron tick fan-out", () => {
  it(`a tick with ${DUE.toLocaleString("en")} due certificates (RENEW_BATCH ${BATCH}) dispatches them all, each invocation within Workers' limits`, { timeout: 600_000 }, async () => {
    const index = await worker.index();
    const now = Date.now();
    const entries = Array.from({ length: DUE + 100 }, (_, i) => ({
      id: `fan-${i}`,
      names: [`fan-${i}.example.test`],
      dueAt: i < DUE ? now - 1_000 : now + 86_400_000,
      status: "valid",
      failures: 0,
      updatedAt: now,
    }));
    for (let i = 0; i < entries.length; i += 2_000) await index.upsertMany(entries.slice(i, i + 2_000));

    const started = Date.now();
    await worker.cron(now);
    const tick = await index.lastTick();
    expect(tick?.dispatched).toBe(DUE);
    expect(Object.values(tick!.outcomes).reduce((a, b) => a + b, 0)).toBe(DUE);
    const inv = tick!.invocations!;
    expect(inv.dispatchers).toBe(Math.ceil(DUE / CHUNK));
    // The cron invocation: claim + record + one call per chunk; a dispatcher: one call per certificate.
    expect(inv.tick.subrequests).toBe(Math.ceil(DUE / CHUNK) + 2);
    expect(inv.tick.subrequests).toBeLessThanOrEqual(1000);
    expect(inv.dispatcherMaxSubrequests).toBe(CHUNK);
    expect(inv.tick.maxInFlight).toBeLessThanOrEqual(6);
    expect(inv.dispatcherMaxInFlight).toBeLessThanOrEqual(6);
    // Every certificate reached its renewer (which asked the CA and recorded the failure).
    expect(caRequests).toBeGreaterThanOrEqual(DUE);
    expect(await index.get(`fan-${DUE - 1}`)).toMatchObject({ status: "failed", failures: 1 });
    expect(await index.get(`fan-${DUE + 1}`)).toMatchObject({ status: "valid", failures: 0 });
    console.log(
      `fan-out: ${DUE} due in 1 tick, ${inv.dispatchers} dispatcher invocations; subrequests: cron ${inv.tick.subrequests}, dispatcher max ${inv.dispatcherMaxSubrequests}; ` +
        `open at once: cron ${inv.tick.maxInFlight}, dispatcher ${inv.dispatcherMaxInFlight}; ${caRequests} CA requests; ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  });

  it("a tick gives back only the claims it still holds: an entry a renewer wrote meanwhile keeps what the renewer wrote", async () => {
    const index = (await worker.index()) as unknown as {
      upsertMany(entries: unknown[]): Promise<void>;
      claimDue(now: number, limit: number, claimMs: number): Promise<{ entries: Array<{ id: string; dueAt: number }> }>;
      release(entries: Array<{ id: string; dueAt: number }>, claimedUntil: number): Promise<number>;
      upsert(entry: unknown): Promise<void>;
      get(id: string): Promise<{ dueAt: number } | undefined>;
    };
    // Far in the past, so that no other certificate of this file is due before them.
    const due = 1_000_000;
    const claimMs = 15 * 60_000;
    await index.upsertMany(["give-a", "give-b"].map((id) => ({ id, names: [`${id}.example.test`], dueAt: due, status: "valid", failures: 0, updatedAt: due })));
    const { entries } = await index.claimDue(due + 1, 2, claimMs);
    expect(entries.map((e) => e.id).sort()).toEqual(["give-a", "give-b"]);
    // give-b's renewer finished in between: due again in 100 days.
    await index.upsert({ id: "give-b", names: ["give-b.example.test"], dueAt: due + 100 * 86_400_000, status: "valid", failures: 0, updatedAt: due + 2 });
    expect(await index.release(entries.map((e) => ({ id: e.id, dueAt: e.dueAt })), due + 1 + claimMs)).toBe(1);
    expect((await index.get("give-a"))?.dueAt).toBe(due);
    expect((await index.get("give-b"))?.dueAt).toBe(due + 100 * 86_400_000);
  });
});
