import { describe, expect, it } from "vitest";
import { defaultRenewalModel } from "../support/ca-latency-model.ts";
import { simulateRenewals } from "../support/worker-day.ts";

// Fifteen simulated minutes of renewals through the Worker's own tick (issue 26; test/support/worker-day.ts):
// the cron handler, the renewal index's claim, the dispatchers' fan-out and their per-invocation counts
// run as deployed, in workerd; each certificate's renewer models its ACME exchange against a CA stand-in
// with the measured latency (9 requests, 4.26 s a renewal), on a virtual clock (wall time plays no part
// in any figure asserted). 450 certificates come due spread over the window and 200 more at once at
// minute 3, with RENEW_BATCH 60 and RENEW_CHUNK 10 (capacity 60 a minute). The day at 300,000 is in
// `npm run bench` (BENCH_WORKER_DAY=1 for the whole day; bench/worker-day.ts).
const BATCH = 60;
const CHUNK = 10;

describe("renewals through the Worker's tick, 15 simulated minutes", () => {
  it("renews every certificate that comes due exactly once, none left behind, no invocation over Workers' limits", { timeout: 120_000 }, async () => {
    const result = await simulateRenewals({ ticks: 15, due: 450, notDue: 150, burst: { minute: 3, count: 200 }, renewBatch: BATCH, renewChunk: CHUNK, model: defaultRenewalModel() });
    const { summary, rows } = result;
    expect(summary).toEqual({ certificates: 800, renewedOnce: 650, renewedMore: 0, backlog: 0, oldestWaitingDueAt: null, failing: 0 });
    expect(rows.reduce((n, r) => n + r.renewed, 0)).toBe(650);
    for (const r of rows) {
      expect(r.renewedAgain).toBe(0);
      expect(r.outcomes).toEqual(r.dispatched > 0 ? { renewed: r.dispatched } : {});
      expect(r.renewed).toBe(r.dispatched);
      expect(r.dispatched).toBe(Math.min(BATCH, r.dueBefore));
      expect(r.released).toBe(0);
      // Workers Free: 50 subrequests an invocation; every plan: 6 connections open at once.
      expect(r.cronSubrequests).toBe(2 + Math.ceil(r.dispatched / CHUNK));
      expect(r.cronSubrequests).toBeLessThanOrEqual(50);
      expect(r.dispatcherMaxSubrequests).toBeLessThanOrEqual(CHUNK);
      expect(r.renewerMaxSubrequests).toBeLessThanOrEqual(50);
      expect(Math.max(r.cronMaxInFlight, r.dispatcherMaxInFlight, r.renewerMaxInFlight)).toBeLessThanOrEqual(6);
      // Over before the next tick (a full one: 1 round of 6 chunks, each 2 rounds of 6 renewals, 8.5 s).
      expect(r.durationMs).toBeLessThan(60_000);
    }
    // The burst drains at 60 a minute less the ~30 coming due: the worst wait is the burst's last.
    const worst = Math.max(...rows.map((r) => r.maxLagMs));
    expect(worst).toBeGreaterThan(60_000);
    expect(worst).toBeLessThan(15 * 60_000);
    console.log(
      `15 simulated minutes: ${summary.renewedOnce} renewed once, ${summary.renewedMore} twice, backlog ${summary.backlog}; ` +
        `cron ≤ ${Math.max(...rows.map((r) => r.cronSubrequests))} subrequests, dispatcher ≤ ${Math.max(...rows.map((r) => r.dispatcherMaxSubrequests))}, renewer ≤ ${Math.max(...rows.map((r) => r.renewerMaxSubrequests))}; ` +
        `worst lag ${(worst / 60_000).toFixed(1)} min; ${result.wallS} s wall, workerd ${result.workerdCpuS} s CPU`,
    );
  });

  it("keeps every tick within the cron invocation's 15 minutes when the CA is slow: chunks not started by then are left to the next ticks", { timeout: 120_000 }, async () => {
    // 600 due at once, RENEW_BATCH 600 / RENEW_CHUNK 25 (24 chunks: 4 rounds of 6), a CA taking a minute
    // to validate: 62 s a renewal, 5 renewals after one another in a chunk, 20.8 minutes for the tick
    // (old code), past the cron invocation's 15 minutes and its claims. Now chunks start only within the
    // first 10 minutes; the 12 that did not are given back and the next tick takes them.
    const slowCa = defaultRenewalModel(undefined, 250, 60_000);
    const result = await simulateRenewals({ ticks: 3, due: 0, notDue: 100, burst: { minute: 0, count: 600 }, renewBatch: 600, renewChunk: 25, model: slowCa });
    const { summary, rows } = result;
    const longest = Math.max(...rows.map((r) => r.durationMs));
    console.log(`slow CA (${(result.renewalLatencyMs / 1000).toFixed(1)} s a renewal): ${rows.map((r) => `tick ${r.minute}: ${r.renewed} renewed, ${r.released} given back, ${(r.durationMs / 60_000).toFixed(1)} min`).join("; ")}`);
    expect(summary).toEqual({ certificates: 700, renewedOnce: 600, renewedMore: 0, backlog: 0, oldestWaitingDueAt: null, failing: 0 });
    expect(longest).toBeLessThanOrEqual(15 * 60_000);
    expect(rows[0]).toMatchObject({ dispatched: 300, released: 300, renewed: 300, cronSubrequests: 2 + 12 + 1 });
    expect(rows[1]).toMatchObject({ dispatched: 300, released: 0, renewed: 300 });
  });
});
