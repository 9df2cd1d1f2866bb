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
      expect(r.renewed).toBe(r.dispatched);
      expect(r.dispatched).toBe(Math.min(BATCH, r.dueBefore));
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
});
