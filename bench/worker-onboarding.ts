/**
 * Onboarding within the CA's limits through the Worker (issue 26): the 300-name, six-domain workload
 * (150/50/40/30/20/10) added through the admin API of the real Worker in workerd, with CA_LIMITS set,
 * against real Pebble behind the stand-in enforcing Let's Encrypt's rules
 * (test/support/worker-onboarding.ts). Real time, so the windows are scaled: the issue's counts (80
 * new orders per account, 40 certificates per registered domain) per 45 s, 124 s of work the limits
 * allow; the cron tick every 5 s (deployed: every minute against windows of 3 h and 7 days). Alone:
 * `npx tsx bench/worker-onboarding.ts`; in `npm run bench` unless BENCH_WORKER_ONBOARDING=0.
 * BENCH_WORKER_ONBOARDING_EVENTS=<file> writes every newOrder and finalize the CA saw (with the ticks);
 * BENCH_WORKER_ONBOARDING_LARGE=1 runs 3,000 names over 30 registered domains instead (1,500, 9 × 100,
 * 20 × 30; with BENCH_WORKER_ONBOARDING_WINDOW_S=15, 547.5 s allowed).
 *
 * 100,000 names (`npx tsx bench/worker-onboarding.ts 100k`, or BENCH_WORKER_ONBOARDING_100K=1 in
 * `npm run bench`; about 75 minutes of real time): the in-process onboarding's mix (onboardingMix: 1 ×
 * 30,000, 10 × 2,000, 10,000 small customers with 50,000) under 2,000 new orders per account and 600
 * certificates per registered domain per 90 s (4,410 s allowed), added in bulk 1,000 a request, against
 * the in-process stand-in CA (test/support/worker-stand-in-ca.ts: Pebble 2.4 stalls long before,
 * docs/performance.md), whose http-01 validation fetches each token from the Worker. `10k`: the same run
 * in miniature, a tenth of the names, counts, window and queue (about 8 minutes; workerOnboardingMixBench).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startPebble } from "../test/support/pebble.ts";
import { onboardingMix } from "../test/support/onboarding-sim.ts";
import type { WorkerCa } from "../test/support/worker.ts";
import { workerStandInCa } from "../test/support/worker-stand-in-ca.ts";
import { quantile } from "./measure.ts";
import { serverCpuSeconds } from "./process-usage.ts";
import type { RefillUse } from "../test/support/refill-use.ts";
import { onboardThroughWorker, type WorkerOnboardingOptions, type WorkerOnboardingResult } from "../test/support/worker-onboarding.ts";

/** The bench's figures. */
export interface WorkerOnboardingFigures extends WorkerOnboardingResult {
  /** The ACME server behind the limits: Pebble, or the in-process stand-in (100,000 names). */
  ca: "Pebble" | "stand-in CA";
  windowS: number;
  cronEveryS: number;
  /** Certificates per bulk add request; 0: one POST /admin/certificates per name. */
  bulk: number;
  wallS: number;
  /**
   * With more than 50 registered domains (the 100,000-name mix): `perDomain` keeps the 11 largest and
   * this summarises the others' first and last certificate (seconds from the start).
   */
  others?: { domains: number; names: number; unissued: number; firstP50: number; firstMax: number; lastP50: number; lastP99: number; lastMax: number };
  /** 1-minute load average before and after the run (2 cores, shared). */
  load: [number, number];
  /** BUDGET_QUEUE_MAX, when the run sets it (default 5,000). */
  queueMax?: number;
}

const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

const roundRefill = (u: RefillUse): RefillUse => ({ ...u, fullMs: Math.round(u.fullMs), fullBeforeFirstMs: Math.round(u.fullBeforeFirstMs), leftover: round(u.leftover, 2), lostMs: Math.round(u.lostMs) });

/** Runs the workload once through the Worker. */
export async function workerOnboardingBench(
  server: WorkerCa,
  windowS = Number(process.env.BENCH_WORKER_ONBOARDING_WINDOW_S ?? 45),
  cronEveryS = Number(process.env.BENCH_WORKER_ONBOARDING_CRON_S ?? 5),
  bulk = Number(process.env.BENCH_WORKER_ONBOARDING_BULK ?? 0),
): Promise<WorkerOnboardingFigures> {
  // BENCH_WORKER_ONBOARDING_LARGE=1: 3,000 names over 30 registered domains (1,500, 9 × 100, 20 × 30).
  const counts = process.env.BENCH_WORKER_ONBOARDING_LARGE === "1" ? [1500, ...Array<number>(9).fill(100), ...Array<number>(20).fill(30)] : [150, 50, 40, 30, 20, 10];
  return await run(server, "Pebble", counts, { orders: { count: 80, periodMs: windowS * 1000 }, domain: { count: 40, periodMs: windowS * 1000 } }, cronEveryS, bulk);
}

/**
 * 100,000 names (onboardingMix) through the Worker against the stand-in CA, in bulk 1,000 a request,
 * the Durable Objects' data in files (as deployed; in memory local workerd cannot keep 100,000 renewer
 * objects). The limits' counts are the mix's (2,000 new orders per account, 600 per registered domain);
 * their window is 90 s, not the in-process run's 60 s. Local workerd runs every object (index, queue,
 * store, renewers) on one thread, at ~22.5 ms of CPU a certificate (10,000 names in 245 s at 92 % of a
 * core); at 60 s the limits ask 33 a second, and the first attempt (in memory) fell from 33 to 28 a
 * second between 20,000 and 36,000 names (in the whole 90 s run, 40 ms a certificate). Deployed, each
 * object has its own thread. 4,410 s allowed; the run of 2026-12-07 took 74 minutes (4,414 s, 1.001×; at 1.124× before b0f7694, 83).
 */
export async function workerOnboarding100kBench(windowS = Number(process.env.BENCH_WORKER_ONBOARDING_100K_WINDOW_S ?? 90), cronEveryS = Number(process.env.BENCH_WORKER_ONBOARDING_CRON_S ?? 5)): Promise<WorkerOnboardingFigures> {
  return workerOnboardingMixBench(1, windowS, cronEveryS);
}

/**
 * The 100,000-name run in miniature (`npx tsx bench/worker-onboarding.ts 10k`, in `npm run bench` unless
 * BENCH_WORKER_ONBOARDING_10K=0; about 8 minutes): onboardingMix(0.1) — 1 × 3,000, 10 × 200, 1,000
 * small customers with 5,000 names — with the limits' counts, their window and BUDGET_QUEUE_MAX all a
 * tenth (200 new orders and 60 per registered domain per 9 s, 500 waiting): the same rates (22 orders a
 * second, so the same workerd load), the same queue against the same buckets, a tenth of the time (441 s
 * allowed). It showed the largest customer's bucket idle that the full run showed (1.25×, as 1.124×).
 */
export async function workerOnboardingMixBench(scale: number, windowS = Math.round(900 * scale) / 10, cronEveryS = Number(process.env.BENCH_WORKER_ONBOARDING_CRON_S ?? 5)): Promise<WorkerOnboardingFigures> {
  const { counts, limits } = onboardingMix(scale);
  const server = await workerStandInCa();
  const persistTo = mkdtempSync(join(tmpdir(), "edgecert-mix-"));
  const queueMax = Math.round(5000 * scale);
  try {
    return await run(
      { ...server.target, validateAgainst: server.validateAgainst },
      "stand-in CA",
      counts,
      { orders: { ...limits.orders, periodMs: windowS * 1000 }, domain: { ...limits.domain, periodMs: windowS * 1000 } },
      cronEveryS,
      1000,
      persistTo,
      queueMax,
    );
  } finally {
    rmSync(persistTo, { recursive: true, force: true });
  }
}

async function run(
  server: WorkerCa & { validateAgainst?(url: URL): void },
  ca: WorkerOnboardingFigures["ca"],
  counts: number[],
  limits: WorkerOnboardingOptions["limits"],
  cronEveryS: number,
  bulk: number,
  persistTo?: string,
  queueMax?: number,
): Promise<WorkerOnboardingFigures> {
  const load0 = loadavg()[0]!;
  const started = Date.now();
  const windowS = limits.orders.periodMs / 1000;
  const names = counts.reduce((a, b) => a + b, 0);
  const r = await onboardThroughWorker(server, {
    counts,
    limits,
    cronEveryMs: cronEveryS * 1000,
    ...(bulk > 0 ? { bulk } : {}),
    // Bounded: twice what the account's limit allows, at least 4 windows.
    maxWallMs: Math.max(4, ((names - limits.orders.count) / limits.orders.count) * 2) * windowS * 1000,
    cpuSeconds: () => serverCpuSeconds("workerd"),
    ...(persistTo ? { persistTo } : {}),
    ...(queueMax !== undefined ? { vars: { BUDGET_QUEUE_MAX: String(queueMax) } } : {}),
  });
  return workerOnboardingFigures(r, { ca, windowS, cronEveryS, bulk, wallS: (Date.now() - started) / 1000, load: [load0, loadavg()[0]!], ...(queueMax !== undefined ? { queueMax } : {}) });
}

/** A run's result as the bench reports it: rounded, and at more than 50 registered domains the 11 largest and a summary of the others. */
export function workerOnboardingFigures(
  r: WorkerOnboardingResult,
  meta: Pick<WorkerOnboardingFigures, "ca" | "windowS" | "cronEveryS" | "bulk" | "wallS" | "load" | "queueMax">,
): WorkerOnboardingFigures {
  const perDomain = r.perDomain.map((d) => ({ ...d, firstS: round(d.firstS), lastS: round(d.lastS) }));
  const bySize = [...perDomain].sort((a, b) => b.names - a.names);
  const others = bySize.slice(11);
  return {
    ...r,
    ...(perDomain.length > 50
      ? {
          perDomain: bySize.slice(0, 11),
          others: {
            domains: others.length,
            names: others.reduce((a, d) => a + d.names, 0),
            unissued: others.filter((d) => d.issued < d.names).length,
            firstP50: quantile(others.map((d) => d.firstS), 0.5),
            firstMax: quantile(others.map((d) => d.firstS), 1),
            lastP50: quantile(others.map((d) => d.lastS), 0.5),
            lastP99: quantile(others.map((d) => d.lastS), 0.99),
            lastMax: quantile(others.map((d) => d.lastS), 1),
          },
        }
      : { perDomain }),
    elapsedS: round(r.elapsedS),
    allowedS: round(r.allowedS, 2),
    ratio: round(r.ratio, 3),
    addS: round(r.addS),
    ...(r.cpuS !== undefined ? { cpuS: round(r.cpuS) } : {}),
    refill: { orders: roundRefill(r.refill.orders), domain: roundRefill(r.refill.domain) },
    ...meta,
    wallS: round(meta.wallS),
    load: [round(meta.load[0]), round(meta.load[1])],
  };
}

const lost = (u: RefillUse) => `${(u.lostMs / 1000).toFixed(1)} s (full ${(u.fullMs / 1000).toFixed(1)} s, ${(u.fullBeforeFirstMs / 1000).toFixed(1)} of them before its first spend; ${u.leftover.toFixed(1)} tokens unspent at the end)`;

/** Each domain's first–last; many domains: the largest, and the spread of the others' first and last. */
function domainsText(f: WorkerOnboardingFigures): string {
  if (f.others) {
    const [largest, ...mid] = f.perDomain;
    const o = f.others;
    return `${largest!.names}: ${largest!.firstS}–${largest!.lastS} s, the next ${mid.length}: first by ${Math.max(...mid.map((d) => d.firstS))} s, last by ${Math.max(...mid.map((d) => d.lastS))} s, the other ${o.domains} (${o.names} names${o.unissued ? `, ${o.unissued} not all issued` : ""}): first median ${o.firstP50} s, by ${o.firstMax} s, last median ${o.lastP50} s, p99 ${o.lastP99} s, by ${o.lastMax} s`;
  }
  if (f.perDomain.length <= 8) return f.perDomain.map((d) => `${d.names}: ${d.firstS}–${d.lastS} s`).join(", ");
  const [largest, ...rest] = [...f.perDomain].sort((a, b) => b.names - a.names);
  const firsts = rest.map((d) => d.firstS);
  const lasts = rest.map((d) => d.lastS);
  return `${largest!.names}: ${largest!.firstS}–${largest!.lastS} s, the other ${rest.length}: first ${Math.min(...firsts)}–${Math.max(...firsts)} s, last ${Math.min(...lasts)}–${Math.max(...lasts)} s`;
}

/** The report line. */
export function workerOnboardingLine(f: WorkerOnboardingFigures): string {
  return `  ${f.names} names (${f.perDomain.length + (f.others?.domains ?? 0)} registered domains) through the Worker (workerd, ${f.ca ?? "Pebble"} behind the limits on a ${f.windowS} s window, cron every ${f.cronEveryS} s, ${f.queueMax !== undefined ? `BUDGET_QUEUE_MAX ${f.queueMax}, ` : ""}${f.bulk > 0 ? `added in bulk, ${f.bulk} a request` : "added one POST each, 16 open"}): ${f.issued} issued (${f.valid} valid), ${f.refusals} refused, ${f.elapsedS} s vs ${f.allowedS} s the limits allow (${f.ratio}x ${f.ratio <= 1.05 ? "✓" : "✗"} ≤ 1.05x; names added in ${f.addS} s), per domain first–last ${domainsText(f)}; refill lost: account ${lost(f.refill.orders)}, largest domain ${lost(f.refill.domain)} (${f.cpuS ?? "–"} s workerd CPU, ${f.wallS} s wall, load ${f.load[0]}→${f.load[1]})`;
}

if (process.argv[1] === fileURLToPath(import.meta.url) && (process.argv[2] === "100k" || process.argv[2] === "10k")) {
  const f = process.argv[2] === "100k" ? await workerOnboarding100kBench() : await workerOnboardingMixBench(0.1);
  console.log(workerOnboardingLine(f));
  console.log(JSON.stringify(f));
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const pebble = await startPebble();
  try {
    const f = await workerOnboardingBench(pebble);
    console.log(workerOnboardingLine(f));
    console.log(JSON.stringify(f));
  } finally {
    await pebble.stop();
  }
}
