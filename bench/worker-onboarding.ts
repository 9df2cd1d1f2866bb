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
 */
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { startPebble, type PebbleInstance } from "../test/support/pebble.ts";
import { serverCpuSeconds } from "./process-usage.ts";
import type { RefillUse } from "../test/support/refill-use.ts";
import { onboardThroughWorker, type WorkerOnboardingResult } from "../test/support/worker-onboarding.ts";

/** The bench's figures. */
export interface WorkerOnboardingFigures extends WorkerOnboardingResult {
  windowS: number;
  cronEveryS: number;
  /** Certificates per bulk add request; 0: one POST /admin/certificates per name. */
  bulk: number;
  wallS: number;
  /** 1-minute load average before and after the run (2 cores, shared). */
  load: [number, number];
}

const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

const roundRefill = (u: RefillUse): RefillUse => ({ ...u, fullMs: Math.round(u.fullMs), fullBeforeFirstMs: Math.round(u.fullBeforeFirstMs), leftover: round(u.leftover, 2), lostMs: Math.round(u.lostMs) });

/** Runs the workload once through the Worker. */
export async function workerOnboardingBench(
  pebble: PebbleInstance,
  windowS = Number(process.env.BENCH_WORKER_ONBOARDING_WINDOW_S ?? 45),
  cronEveryS = Number(process.env.BENCH_WORKER_ONBOARDING_CRON_S ?? 5),
  bulk = Number(process.env.BENCH_WORKER_ONBOARDING_BULK ?? 0),
): Promise<WorkerOnboardingFigures> {
  const load0 = loadavg()[0]!;
  const started = Date.now();
  // BENCH_WORKER_ONBOARDING_LARGE=1: 3,000 names over 30 registered domains (1,500, 9 × 100, 20 × 30).
  const counts = process.env.BENCH_WORKER_ONBOARDING_LARGE === "1" ? [1500, ...Array<number>(9).fill(100), ...Array<number>(20).fill(30)] : [150, 50, 40, 30, 20, 10];
  const r = await onboardThroughWorker(pebble, {
    counts,
    limits: { orders: { count: 80, periodMs: windowS * 1000 }, domain: { count: 40, periodMs: windowS * 1000 } },
    cronEveryMs: cronEveryS * 1000,
    ...(bulk > 0 ? { bulk } : {}),
    // Bounded: twice what the limits allow, at least 4 windows.
    maxWallMs: Math.max(4, ((counts.reduce((a, b) => a + b, 0) - 80) / 80) * 2) * windowS * 1000,
    cpuSeconds: () => serverCpuSeconds("workerd"),
  });
  return {
    ...r,
    elapsedS: round(r.elapsedS),
    allowedS: round(r.allowedS, 2),
    ratio: round(r.ratio, 3),
    addS: round(r.addS),
    ...(r.cpuS !== undefined ? { cpuS: round(r.cpuS) } : {}),
    perDomain: r.perDomain.map((d) => ({ ...d, firstS: round(d.firstS), lastS: round(d.lastS) })),
    refill: { orders: roundRefill(r.refill.orders), domain: roundRefill(r.refill.domain) },
    windowS,
    cronEveryS,
    bulk,
    wallS: round((Date.now() - started) / 1000),
    load: [round(load0), round(loadavg()[0]!)],
  };
}

const lost = (u: RefillUse) => `${(u.lostMs / 1000).toFixed(1)} s (full ${(u.fullMs / 1000).toFixed(1)} s, ${(u.fullBeforeFirstMs / 1000).toFixed(1)} of them before its first spend; ${u.leftover.toFixed(1)} tokens unspent at the end)`;

/** Each domain's first–last; many domains: the largest, and the spread of the others' first and last. */
function domainsText(f: WorkerOnboardingFigures): string {
  if (f.perDomain.length <= 8) return f.perDomain.map((d) => `${d.names}: ${d.firstS}–${d.lastS} s`).join(", ");
  const [largest, ...rest] = [...f.perDomain].sort((a, b) => b.names - a.names);
  const firsts = rest.map((d) => d.firstS);
  const lasts = rest.map((d) => d.lastS);
  return `${largest!.names}: ${largest!.firstS}–${largest!.lastS} s, the other ${rest.length}: first ${Math.min(...firsts)}–${Math.max(...firsts)} s, last ${Math.min(...lasts)}–${Math.max(...lasts)} s`;
}

/** The report line. */
export function workerOnboardingLine(f: WorkerOnboardingFigures): string {
  return `  ${f.names} names (${f.perDomain.length} registered domains) through the Worker (workerd, Pebble behind the limits on a ${f.windowS} s window, cron every ${f.cronEveryS} s, ${f.bulk > 0 ? `added in bulk, ${f.bulk} a request` : "added one POST each, 16 open"}): ${f.issued} issued (${f.valid} valid), ${f.refusals} refused, ${f.elapsedS} s vs ${f.allowedS} s the limits allow (${f.ratio}x ${f.ratio <= 1.05 ? "✓" : "✗"} ≤ 1.05x; names added in ${f.addS} s), per domain first–last ${domainsText(f)}; refill lost: account ${lost(f.refill.orders)}, largest domain ${lost(f.refill.domain)} (${f.cpuS ?? "–"} s workerd CPU, ${f.wallS} s wall, load ${f.load[0]}→${f.load[1]})`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const pebble = await startPebble();
  try {
    const f = await workerOnboardingBench(pebble);
    console.log(workerOnboardingLine(f));
    console.log(JSON.stringify(f));
  } finally {
    await pebble.stop();
  }
}
