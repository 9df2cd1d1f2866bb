/**
 * Onboarding within the CA's limits (issue 26), in accelerated time (test/support/onboarding-sim.ts),
 * against the stand-in CA enforcing Let's Encrypt's rules (rate-limiting-ca.ts) on scaled windows,
 * with 1 and 3 managers on one store:
 * - the issue's workload: 300 names over six registered domains (150/50/40/30/20/10), 80 new orders
 *   per account and 40 certificates per registered domain per 60 s; real WebCrypto throughout.
 * - 100,000 names (BENCH_ONBOARDING_100K=1; alone: `npx tsx bench/onboarding.ts 100k [managers…]`, which
 *   runs them in a child process with a larger heap and young generation: `node
 *   --max-semi-space-size=64 --max-old-space-size=6144`, V8's defaults spent over a third of the
 *   time collecting garbage at this size): one customer
 *   with 30,000 names, ten with 2,000, and 10,000 small ones with 1-9 names (50,000), under 2,000 new
 *   orders per account and 600 certificates per registered domain per 60 s — so the big customer's
 *   own limit and the account's both need 2,940 s. Signing and key generation are modelled
 *   (test/support/modelled-crypto.ts: constant signatures, pooled keys, exports computed once); the
 *   manager, its budget and fleet-wide queue, the ACME exchange, storage and certificate encoding and
 *   parsing run as they do for real.
 */
import { spawn } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { installModelledCrypto } from "../test/support/modelled-crypto.ts";
import { onboard, onboardingMix, type DomainSpread } from "../test/support/onboarding-sim.ts";

/** A class of registered domains (by size) and when they got their certificates. */
export interface DomainClass {
  /** e.g. `30,000 names` or `1-9 names`. */
  what: string;
  domains: number;
  names: number;
  /** Seconds from the start: earliest and latest first certificate, and the domains' last certificates (median, 99th percentile, latest). */
  firstS: { min: number; max: number };
  lastS: { min: number; median: number; p99: number; max: number };
}

/** One run's figures. */
export interface OnboardingFigures {
  managers: number;
  names: number;
  domains: number;
  issued: number;
  refusals: number;
  virtualSeconds: number;
  allowedSeconds: number;
  ratio: number;
  wallSeconds: number;
  /** CPU of this process during the run (main thread and WebCrypto's thread pool). */
  cpuSeconds: number;
  /** Resident memory at the end of the run, and the largest heap in use seen during it (sampled every 0.5 s), MB. */
  rssMb: number;
  peakHeapMb: number;
  /** The machine's 1-minute load average at the end (2 cores, shared). */
  load: number;
  /** Times the virtual clock moved. */
  steps: number;
  /** Each domain's first–last (300 names); per size class (100,000 names). */
  perDomain?: Array<{ domain: string; names: number; firstS: number; lastS: number }>;
  classes?: DomainClass[];
  /** What was modelled rather than run for real. */
  modelled?: string;
}

const round1 = (x: number) => Math.round(x * 10) / 10;

function measure<T extends Awaited<ReturnType<typeof onboard>>>(managers: number, run: () => Promise<T>) {
  return async () => {
    const started = Date.now();
    const cpu = process.cpuUsage();
    let peakHeap = process.memoryUsage().heapUsed;
    const sampler = setInterval(() => (peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed)), 500);
    const r = await run().finally(() => clearInterval(sampler));
    const used = process.cpuUsage(cpu);
    const memory = process.memoryUsage();
    const figures: OnboardingFigures = {
      managers,
      names: r.names.length,
      domains: r.perDomain.length,
      issued: r.finals.length,
      refusals: r.refusals,
      virtualSeconds: round1(r.ratio * r.allowedS),
      allowedSeconds: r.allowedS,
      ratio: Math.round(r.ratio * 10_000) / 10_000,
      wallSeconds: round1((Date.now() - started) / 1000),
      cpuSeconds: round1((used.user + used.system) / 1e6),
      rssMb: Math.round(memory.rss / 1e6),
      peakHeapMb: Math.round(Math.max(peakHeap, memory.heapUsed) / 1e6),
      load: Math.round(loadavg()[0]! * 10) / 10,
      steps: r.steps,
    };
    if (r.failures.length > 0) console.log(`  ${r.failures.length} names failed, e.g. ${r.failures.slice(0, 3).join("; ")}`);
    return { figures, r };
  };
}

/** The issue's 300-name workload with 1 and 3 managers. */
export async function onboardingBench(): Promise<OnboardingFigures[]> {
  const counts = [150, 50, 40, 30, 20, 10];
  const limits = { orders: { count: 80, periodMs: 60_000 }, domain: { count: 40, periodMs: 60_000 } };
  const out: OnboardingFigures[] = [];
  for (const managers of [1, 3]) {
    const { figures, r } = await measure(managers, () => onboard(managers, counts, limits))();
    figures.perDomain = r.perDomain.map((d) => ({ domain: d.domain, names: d.names, firstS: round1(d.firstS), lastS: round1(d.lastS) }));
    out.push(figures);
  }
  return out;
}

/** Domains of `perDomain` grouped by size class, with their spread. */
function classes(perDomain: DomainSpread[]): DomainClass[] {
  const groups: Array<[string, DomainSpread[]]> = [
    ["30,000 names", perDomain.filter((d) => d.names >= 10_000)],
    ["2,000 names", perDomain.filter((d) => d.names >= 1_000 && d.names < 10_000)],
    ["1-9 names", perDomain.filter((d) => d.names < 1_000)],
  ];
  return groups
    .filter(([, g]) => g.length > 0)
    .map(([what, g]) => {
      const lasts = g.map((d) => d.lastS).sort((a, b) => a - b);
      const firsts = g.map((d) => d.firstS);
      return {
        what,
        domains: g.length,
        names: g.reduce((n, d) => n + d.names, 0),
        firstS: { min: round1(Math.min(...firsts)), max: round1(Math.max(...firsts)) },
        lastS: { min: round1(lasts[0]!), median: round1(lasts[Math.floor(lasts.length / 2)]!), p99: round1(lasts[Math.min(lasts.length - 1, Math.floor(lasts.length * 0.99))]!), max: round1(lasts.at(-1)!) },
      };
    });
}

/** 100,000 names with 1 and 3 managers (modelled signing, see the module comment). */
export async function onboarding100kBench(managerCounts: readonly number[] = [1, 3]): Promise<OnboardingFigures[]> {
  const { counts, limits } = onboardingMix(1);
  const uninstall = await installModelledCrypto();
  const out: OnboardingFigures[] = [];
  try {
    for (const managers of managerCounts) {
      const { figures, r } = await measure(managers, () => onboard(managers, counts, limits, { maxRealMs: 30 * 60_000 }))();
      figures.classes = classes(r.perDomain);
      figures.modelled = "ECDSA signatures (constant bytes), key generation (a pool of 64 real P-256 pairs), key export (once per key)";
      out.push(figures);
      console.log(onboardingLine(figures));
    }
  } finally {
    uninstall();
  }
  return out;
}

/** The report line of one run. */
export function onboardingLine(f: OnboardingFigures): string {
  const spread = f.perDomain
    ? `per domain first–last ${f.perDomain.map((d) => `${d.names}: ${d.firstS}–${d.lastS} s`).join(", ")}`
    : `per domain ${(f.classes ?? []).map((c) => `${c.domains.toLocaleString("en")} × ${c.what}: first by ${c.firstS.max} s, last ${c.lastS.min}–${c.lastS.max} s (median ${c.lastS.median}, p99 ${c.lastS.p99})`).join("; ")}`;
  return `  ${f.names.toLocaleString("en")} names, ${f.managers} manager(s): ${f.issued.toLocaleString("en")} issued, ${f.refusals} refused, ${f.virtualSeconds} s vs ${f.allowedSeconds} s the limits allow (${f.ratio}x ${f.ratio <= 1.05 ? "✓" : "✗"} ≤ 1.05x), ${spread} (${f.wallSeconds} s wall, ${f.cpuSeconds} s CPU, peak heap ${f.peakHeapMb} MB, ${f.rssMb} MB RSS, load ${f.load}${f.modelled ? `; modelled: ${f.modelled}` : ""})`;
}

/**
 * {@link onboarding100kBench} in a child process per run, with the heap flags it needs (see the module
 * comment); what it measured, or the reason it failed.
 */
export async function onboarding100kInChild(managerCounts: readonly number[] = [1, 3]): Promise<OnboardingFigures[]> {
  const out: OnboardingFigures[] = [];
  // One child per run: each starts with an empty heap (the figures of one run do not carry the other's).
  for (const managers of managerCounts) {
    const file = join(tmpdir(), `edgecert-onboarding-100k-${process.pid}-${managers}.json`);
    try {
      await new Promise<void>((resolve, reject) => {
        const args = ["--max-semi-space-size=64", "--max-old-space-size=6144", "--import", "tsx", fileURLToPath(import.meta.url), "100k", String(managers), "--json", file];
        const child = spawn(process.execPath, args, { stdio: ["ignore", "inherit", "inherit"] });
        child.on("error", reject);
        child.on("exit", (code, signal) => (code === 0 ? resolve() : reject(new Error(`the 100,000-name onboarding with ${managers} manager(s) exited with ${signal ?? code}`))));
      });
      out.push(...(JSON.parse(readFileSync(file, "utf8")) as OnboardingFigures[]));
    } finally {
      rmSync(file, { force: true });
    }
  }
  return out;
}

// Alone: `npx tsx bench/onboarding.ts [100k] [managers…] [--json FILE]` (100k: in a child process with a larger heap).
if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const json = args.includes("--json") ? args[args.indexOf("--json") + 1] : undefined;
  const big = args[0] === "100k";
  const managers = args.slice(big ? 1 : 0).filter((a) => /^\d+$/.test(a)).map(Number);
  const counts = managers.length > 0 ? managers : [1, 3];
  if (big && json) writeFileSync(json, JSON.stringify(await onboarding100kBench(counts)));
  else if (big) await onboarding100kInChild(counts);
  else for (const f of await onboardingBench()) console.log(onboardingLine(f));
}
