/**
 * Onboarding many names within a CA's limits, in accelerated time (issue 26): the in-process stand-in CA
 * (stand-in-ca.ts) behind Let's Encrypt's rate limits (rate-limiting-ca.ts, scaled windows), managers
 * sharing one MemoryStorage and one account, their budget on a {@link VirtualClock}. Used by
 * test/budget/onboarding.test.ts and the bench.
 * @module
 */
import type { CaLimits } from "../../src/budget/ca-limits.ts";
import { CertificateManager } from "../../src/manager/certificate-manager.ts";
import { MemoryStorage } from "../../src/storage/memory-storage.ts";
import { rateLimitingCa, type Limit } from "./rate-limiting-ca.ts";
import { StandInCa } from "./stand-in-ca.ts";
import { VirtualClock } from "./virtual-clock.ts";

const DAY = 86_400_000;

/** The stand-in CA behind `limits`, a shared store, a virtual clock, and managers with the same budget. */
export function bed(limits: { orders?: Limit; domain?: Limit; nameSet?: Limit }) {
  const clock = new VirtualClock();
  const storage = new MemoryStorage();
  const ca = new StandInCa({
    now: Date.now,
    lifetimeMs: 90 * DAY,
    token: async (t) => {
      const v = await storage.get(`challenges/http-01/${t}`);
      return v === undefined ? undefined : new TextDecoder().decode(v);
    },
  });
  const limited = rateLimitingCa(ca.fetch, {
    now: clock.now,
    ...(limits.orders ? { ordersPerAccount: limits.orders } : {}),
    ...(limits.domain ? { certificatesPerDomain: limits.domain } : {}),
    ...(limits.nameSet ? { certificatesPerNameSet: limits.nameSet } : {}),
    orderNames: (url) => ca.orders.get(new URL(url).pathname)?.identifiers.map((i) => i.value),
  });
  const caLimits: CaLimits = {
    ...(limits.orders ? { newOrdersPerAccount: limits.orders } : {}),
    ...(limits.domain ? { certificatesPerRegisteredDomain: limits.domain } : {}),
    ...(limits.nameSet ? { certificatesPerNameSet: limits.nameSet } : {}),
  };
  const manager = (budget: CaLimits | false = caLimits) =>
    new CertificateManager({
      storage,
      directoryUrl: ca.directoryUrl,
      fetch: limited.fetch,
      termsOfServiceAgreed: true,
      caLimits: budget,
      budgetClock: clock,
      retry: { maxAttempts: 1 },
    });
  return { clock, storage, ca, limited, manager };
}

/** Names spread over registered domains as counts, e.g. [150, 50] → 150 under cust0.example, 50 under cust1.example. */
function workload(counts: readonly number[]): string[][] {
  return counts.map((n, d) => Array.from({ length: n }, (_, i) => `n${i}.cust${d}.example`));
}

/** Interleaves per-domain name lists as a caller would submit them: all of the first customer first. */
function submitted(domains: string[][]): string[] {
  return domains.flat();
}

/**
 * The 100,000-name mix at `scale` (1 = 100,000): one customer with 30 % of the names, ten with 2 % each,
 * and small customers with 1-9 names (50 %), under limits scaled with it (2,000 new orders per account
 * and 600 certificates per registered domain per 60 s at 1), so that the big customer's own limit and
 * the account's both need 2,940 s at any scale.
 */
export function onboardingMix(scale = 1): { counts: number[]; limits: { orders: Limit; domain: Limit } } {
  const small = Array.from({ length: Math.round(10_000 * scale) }, (_, d) => [1, 8, 6, 4, 2, 9, 7, 5, 3][d % 9]!);
  small[small.length - 1]! += Math.round(50_000 * scale) - small.reduce((a, b) => a + b, 0);
  return {
    counts: [Math.round(30_000 * scale), ...Array<number>(10).fill(Math.round(2_000 * scale)), ...small],
    limits: { orders: { count: Math.round(2_000 * scale), periodMs: 60_000 }, domain: { count: Math.round(600 * scale), periodMs: 60_000 } },
  };
}

/** One registered domain's outcome: seconds from the start to its first and last certificate. */
export interface DomainSpread {
  domain: string;
  names: number;
  issued: number;
  firstS: number;
  lastS: number;
}

/** Onboards `counts` names per registered domain through `managerCount` managers; what the CA saw. */
export async function onboard(managerCount: number, counts: readonly number[], limits: { orders: Limit; domain: Limit }, { maxRealMs = 240_000 } = {}) {
  const b = bed(limits);
  const managers = Array.from({ length: managerCount }, () => b.manager());
  const domains = workload(counts);
  const names = submitted(domains);
  const start = b.clock.now();
  const wallStart = Date.now();
  let settled = 0;
  const failures: string[] = [];
  const done = names.map((name, i) =>
    managers[i % managerCount]!.manage([name]).then(
      () => void settled++,
      (err: unknown) => {
        settled++;
        failures.push(`${name} (virtual +${((b.clock.now() - start) / 1000).toFixed(1)} s, wall +${((Date.now() - wallStart) / 1000).toFixed(1)} s): ${String(err)}`);
      },
    ),
  );
  // Time moves only while every unfinished name waits in a queue: the work itself takes no virtual time.
  // The count is exact (queuedCount), so the clock needs no quiet real milliseconds per step.
  const ready = () => managers.reduce((n, m) => n + m.queuedCount(), 0) === names.length - settled;
  const { steps } = await b.clock.drive(() => settled === names.length, { maxRealMs, maxSteps: 10_000_000, ready, exact: true });
  await Promise.all(done);
  const finals = b.limited.events.filter((e) => e.kind === "finalize");
  const endedAt = finals.reduce((latest, e) => Math.max(latest, e.at), start);
  // The time the limits allow: each bucket's demand beyond its size, at its refill rate.
  const allowed = Math.max(
    ((names.length - limits.orders.count) * limits.orders.periodMs) / limits.orders.count,
    ...counts.map((n) => ((n - limits.domain.count) * limits.domain.periodMs) / limits.domain.count),
  );
  const times = domains.map(() => [] as number[]);
  for (const e of finals) times[Number(/\.cust(\d+)\.example$/.exec(e.names[0]!)![1])]!.push((e.at - start) / 1000);
  const perDomain: DomainSpread[] = domains.map((list, d) => ({
    domain: `cust${d}.example`,
    names: list.length,
    issued: times[d]!.length,
    firstS: Math.min(...times[d]!),
    lastS: Math.max(...times[d]!),
  }));
  return { b, names, failures, steps, ratio: (endedAt - start) / allowed, allowedS: allowed / 1000, perDomain, refusals: b.limited.refusals().length, finals };
}
