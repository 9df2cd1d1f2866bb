// Sustained renewals through the Worker's cron tick (issue 26): simulated windows in workerd
// (test/support/worker-day.ts) — the real cron handler, index claim, dispatcher fan-out and their
// per-invocation counts; each renewer models its ACME exchange against a CA stand-in with the CA's
// latency on a virtual clock — and one real renewal at a time against Pebble for what a renewer
// invocation itself costs (bench/renewer-cost.ts). Run from bench/run.ts, or alone:
//   npx tsx bench/worker-day.ts            (an hour at the day's rate and 30-minute bursts; ~4 min here)
//   BENCH_WORKER_DAY=1 npx tsx bench/worker-day.ts   (the whole day and 3-hour bursts; ~1.5 h here)
import { fileURLToPath } from "node:url";
import { defaultRenewalModel, renewalLatencyMs, type CaLatencyModel, type CaStep } from "../test/support/ca-latency-model.ts";
import type { PebbleInstance } from "../test/support/pebble.ts";
import { simulateRenewals, type TickRow, type WindowOptions, type WindowResult } from "../test/support/worker-day.ts";
import { renewerCost } from "./renewer-cost.ts";

/**
 * Workers' per-invocation limits the ticks are held to (docs/worker.md "Renewal throughput", from
 * https://developers.cloudflare.com/workers/platform/limits/): subrequests 1,000 on Paid (the page now
 * lists 10,000; the stricter figure is kept) and 50 on Free, 6 connections open at once on both, CPU 30 s
 * by default on Paid (up to 5 min) and 10 ms on Free; a cron invocation may run 15 minutes of wall time,
 * and a claim (workers/scheduled.ts CLAIM_MS) lasts as long.
 */
export const WORKERS_LIMITS = { paidSubrequests: 1_000, freeSubrequests: 50, openConnections: 6, paidCpuMs: 30_000, freeCpuMs: 10, cronWallMs: 15 * 60_000 } as const;

/** A window as reported: its settings, what came out, and its ticks in short. */
export interface WindowFigures {
  name: string;
  ticks: number;
  certificates: number;
  dueInWindow: number;
  burst: WindowOptions["burst"] | null;
  renewBatch: number;
  renewChunk: number;
  renewed: number;
  renewedMore: number;
  /** Renewals a dispatcher or renewer reported failed (the stand-in never fails: a fault of the run, e.g. local workerd out of memory). */
  failedRenewals: number;
  backlog: number;
  /** How long the oldest of those had waited at the window's end (0 without a backlog). */
  oldestWaitingMs: number;
  /** Renewals a day at the window's rate (renewed / ticks × 1,440). */
  perDay: number;
  worstLagMs: number;
  /** The longest wait among 99 % of the ticks (by each tick's longest). */
  p99TickLagMs: number;
  /** Minute by which every certificate due so far was renewed, after the burst (null: not within the window). */
  drainedAtMinute: number | null;
  maxRenewedPerTick: number;
  maxDispatchers: number;
  maxCronSubrequests: number;
  maxDispatcherSubrequests: number;
  maxRenewerSubrequests: number;
  maxInFlight: number;
  caMaxOpen: number;
  longestTickMs: number;
  /** workerd CPU of a tick, all its invocations together (an upper bound for each one of them). */
  maxTickCpuMs: number;
  medianTickCpuMs: number;
  /** Ticks over a Paid-plan limit (subrequests, connections, a claim's or a cron invocation's 15 minutes, 30 s CPU). */
  ticksOverPaidLimits: number;
  /** Ticks whose cron and dispatcher invocations stay within Workers Free's 50 subrequests. */
  ticksWithinFreeSubrequests: number;
  wallS: number;
  workerdCpuS: number;
  workerdRssBytes: number;
  /** Per tick: [minute, due waiting, renewed, dispatchers, cron subrequests, most subrequests of a dispatcher, duration ms, longest lag ms, CPU ms]. */
  series: number[][];
}

const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? 0;

/** Whether a tick stayed within the Paid plan's limits. */
function withinPaid(r: TickRow): boolean {
  const L = WORKERS_LIMITS;
  return (
    Math.max(r.cronSubrequests, r.dispatcherMaxSubrequests, r.renewerMaxSubrequests) <= L.paidSubrequests &&
    Math.max(r.cronMaxInFlight, r.dispatcherMaxInFlight, r.renewerMaxInFlight) <= L.openConnections &&
    r.durationMs <= L.cronWallMs &&
    r.cpuMs <= L.paidCpuMs
  );
}

/** A window's figures from what it did. */
export function windowFigures(name: string, options: WindowOptions, result: WindowResult): WindowFigures {
  const rows = result.rows;
  const burstMinute = options.burst?.minute;
  const drained = burstMinute === undefined ? undefined : rows.find((r) => r.minute > burstMinute && r.dueBefore - r.renewed <= 0);
  return {
    name,
    ticks: options.ticks,
    certificates: result.certificates,
    dueInWindow: result.dueInWindow,
    burst: options.burst ?? null,
    renewBatch: options.renewBatch,
    renewChunk: options.renewChunk,
    renewed: result.summary.renewedOnce + result.summary.renewedMore,
    renewedMore: result.summary.renewedMore,
    failedRenewals: rows.reduce((n, r) => n + (r.outcomes["failed"] ?? 0), 0),
    backlog: result.summary.backlog,
    oldestWaitingMs: result.summary.oldestWaitingDueAt === null ? 0 : result.windowEnd - result.summary.oldestWaitingDueAt,
    perDay: Math.round(((result.summary.renewedOnce + result.summary.renewedMore) / options.ticks) * 1_440),
    worstLagMs: Math.max(0, ...rows.map((r) => r.maxLagMs)),
    p99TickLagMs: percentile(rows.map((r) => r.maxLagMs), 0.99),
    drainedAtMinute: drained?.minute ?? null,
    maxRenewedPerTick: Math.max(0, ...rows.map((r) => r.renewed)),
    maxDispatchers: Math.max(0, ...rows.map((r) => r.dispatchers)),
    maxCronSubrequests: Math.max(0, ...rows.map((r) => r.cronSubrequests)),
    maxDispatcherSubrequests: Math.max(0, ...rows.map((r) => r.dispatcherMaxSubrequests)),
    maxRenewerSubrequests: Math.max(0, ...rows.map((r) => r.renewerMaxSubrequests)),
    maxInFlight: Math.max(0, ...rows.map((r) => Math.max(r.cronMaxInFlight, r.dispatcherMaxInFlight, r.renewerMaxInFlight))),
    caMaxOpen: Math.max(0, ...rows.map((r) => r.caMaxOpen)),
    longestTickMs: Math.max(0, ...rows.map((r) => r.durationMs)),
    maxTickCpuMs: Math.max(0, ...rows.map((r) => r.cpuMs)),
    medianTickCpuMs: percentile(rows.map((r) => r.cpuMs), 0.5),
    ticksOverPaidLimits: rows.filter((r) => !withinPaid(r)).length,
    ticksWithinFreeSubrequests: rows.filter((r) => Math.max(r.cronSubrequests, r.dispatcherMaxSubrequests) <= WORKERS_LIMITS.freeSubrequests).length,
    wallS: result.wallS,
    workerdCpuS: result.workerdCpuS,
    workerdRssBytes: result.workerdRssBytes,
    series: rows.map((r) => [r.minute, r.dueBefore, r.renewed, r.dispatchers, r.cronSubrequests, r.dispatcherMaxSubrequests, r.durationMs, r.maxLagMs, r.cpuMs]),
  };
}

/** The windows: the short ones by default, the whole day and 3-hour bursts with `long`. */
export function windows(model: CaLatencyModel, long: boolean): Array<{ name: string; options: WindowOptions }> {
  const perMinute = 300_000 / 1_440;
  const dayTicks = long ? 1_440 : 60;
  const burstTicks = long ? 180 : 30;
  const burst = long ? { minute: 30, count: 20_000 } : { minute: 5, count: 3_000 };
  const common = { renewChunk: 25, model };
  return [
    { name: long ? "day" : "1 hour at the day's rate", options: { ...common, ticks: dayTicks, due: Math.round(perMinute * dayTicks), notDue: long ? 700_000 : 100_000, renewBatch: 250 } },
    ...[250, 1_000].map((renewBatch) => ({
      name: `burst, RENEW_BATCH ${renewBatch}`,
      options: { ...common, ticks: burstTicks, due: Math.round(perMinute * burstTicks), notDue: 10_000, burst, renewBatch },
    })),
  ];
}

/** The bench: a real renewal's cost (with Pebble), then the windows with the CA model from it. */
export async function workerDayBench(pebble: PebbleInstance | undefined, long: boolean, log: (line: string) => void = () => {}) {
  const rttMs = Number(process.env.BENCH_CA_LATENCY_MS ?? 250);
  const validationMs = Number(process.env.BENCH_CA_VALIDATION_MS ?? 2_000);
  const renewer = pebble ? await renewerCost(pebble, 5) : undefined;
  const steps: CaStep[] | undefined = renewer?.typicalSteps;
  const model = steps ? defaultRenewalModel(steps, rttMs, validationMs) : defaultRenewalModel(undefined, rttMs, validationMs);
  const results: WindowFigures[] = [];
  for (const w of windows(model, long)) {
    log(`  ${w.name}: ${w.options.ticks} ticks, ${(w.options.due + (w.options.burst?.count ?? 0)).toLocaleString("en")} due…`);
    results.push(windowFigures(w.name, w.options, await simulateRenewals(w.options)));
  }
  return {
    model: { requests: model.steps.length, kinds: model.steps.map((s) => s.kind).join(","), rttMs, validationMs, caServiceMs: Math.round(model.steps.reduce((n, s) => n + s.serviceMs, 0) * 10) / 10, renewalMs: Math.round(renewalLatencyMs(model)), source: model.source },
    renewer: renewer ? { ...renewer.median, maxCpuMs: renewer.maxCpuMs, renewals: renewer.renewals.length, firstIssuances: renewer.firstIssuances } : null,
    windows: results,
  };
}

export type WorkerDayFigures = Awaited<ReturnType<typeof workerDayBench>>;

const min = (ms: number) => `${(ms / 60_000).toFixed(1)} min`;

/** The report's lines. */
export function workerDayLines(f: WorkerDayFigures): string[] {
  const m = f.model;
  const lines = [
    `renewals through the Worker's tick, simulated in workerd (virtual time; CA model: ${m.requests} requests × (${m.rttMs} ms + Pebble's ${m.caServiceMs} ms in all) + ${m.validationMs} ms validation = ${(m.renewalMs / 1000).toFixed(2)} s a renewal):`,
  ];
  for (const w of f.windows) {
    lines.push(
      `  ${w.name}: ${w.ticks} ticks, ${w.dueInWindow.toLocaleString("en")} due of ${w.certificates.toLocaleString("en")}${w.burst ? ` (${w.burst.count.toLocaleString("en")} at once at minute ${w.burst.minute})` : ""}, RENEW_BATCH ${w.renewBatch} / RENEW_CHUNK ${w.renewChunk}: ` +
        `renewed ${w.renewed.toLocaleString("en")} (${w.renewedMore} twice, ${w.failedRenewals} failed ${w.failedRenewals === 0 ? "ok" : "MISS"}; ${w.perDay.toLocaleString("en")} a day at this rate), backlog at the end ${w.backlog.toLocaleString("en")}${w.backlog > 0 ? ` (the oldest waiting ${min(w.oldestWaitingMs)})` : ""}, worst lag ${min(w.worstLagMs)} (p99 of ticks ${min(w.p99TickLagMs)})` +
        `${w.burst ? `, burst drained ${w.drainedAtMinute === null ? "not within the window" : `at minute ${w.drainedAtMinute}`}` : ""}; ` +
        `per tick ≤ ${w.maxRenewedPerTick} renewals, ≤ ${w.maxDispatchers} dispatchers, subrequests cron ≤ ${w.maxCronSubrequests} / dispatcher ≤ ${w.maxDispatcherSubrequests} / modelled renewer ≤ ${w.maxRenewerSubrequests}, ≤ ${w.maxInFlight} open, ` +
        `longest tick ${(w.longestTickMs / 1000).toFixed(1)} s, tick CPU (all invocations) median ${Math.round(w.medianTickCpuMs)} ms / max ${Math.round(w.maxTickCpuMs)} ms, ticks over Paid limits ${w.ticksOverPaidLimits} ${w.ticksOverPaidLimits === 0 ? "ok" : "MISS"}; ` +
        `${w.wallS} s wall, workerd ${w.workerdCpuS} s CPU`,
    );
  }
  if (f.renewer) {
    const r = f.renewer;
    lines.push(
      `  a real renewal in the Worker's renewer against Pebble (workerd, one at a time, ${r.renewals} renewals): ${r.caRequests} CA requests, ${r.subrequests} subrequests (fetch + Durable Object calls), ${r.kvOperations} KV operation(s), ≤ ${r.maxInFlight} open; ` +
        `workerd CPU median ${r.cpuMs} ms, max ${r.maxCpuMs} ms (the renewer with every invocation it called); ${r.wallMs} ms wall on loopback`,
    );
  }
  return lines;
}

// Alone: npx tsx bench/worker-day.ts (with Pebble for the real renewal when the package is installed).
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { startPebble } = await import("../test/support/pebble.ts");
  const pebble = await startPebble({ noSleep: true });
  try {
    const f = await workerDayBench(pebble, process.env.BENCH_WORKER_DAY === "1", console.log);
    console.log(workerDayLines(f).join("\n"));
    console.log(JSON.stringify({ ...f, windows: f.windows.map((w) => ({ ...w, series: `${w.series.length} rows` })) }));
  } finally {
    await pebble.stop();
  }
}
