/**
 * Onboarding within the CA's limits (issue 26): the 300-name, six-domain workload (150/50/40/30/20/10)
 * against the stand-in CA enforcing Let's Encrypt's rules on a scaled window (80 new orders per
 * account and 40 certificates per registered domain per 60 s), with 1 and 3 managers on one store,
 * in accelerated time (test/support/onboarding-sim.ts).
 */
import { onboard } from "../test/support/onboarding-sim.ts";

/** One run's figures. */
export interface OnboardingFigures {
  managers: number;
  names: number;
  issued: number;
  refusals: number;
  virtualSeconds: number;
  allowedSeconds: number;
  ratio: number;
  wallSeconds: number;
  perDomain: Array<{ domain: string; names: number; firstS: number; lastS: number }>;
}

/** Runs the workload with 1 and 3 managers. */
export async function onboardingBench(): Promise<OnboardingFigures[]> {
  const counts = [150, 50, 40, 30, 20, 10];
  const limits = { orders: { count: 80, periodMs: 60_000 }, domain: { count: 40, periodMs: 60_000 } };
  const out: OnboardingFigures[] = [];
  for (const managers of [1, 3]) {
    const started = Date.now();
    const r = await onboard(managers, counts, limits);
    out.push({
      managers,
      names: r.names.length,
      issued: r.finals.length,
      refusals: r.refusals,
      virtualSeconds: Math.round(r.ratio * r.allowedS * 10) / 10,
      allowedSeconds: r.allowedS,
      ratio: Math.round(r.ratio * 1000) / 1000,
      wallSeconds: Math.round((Date.now() - started) / 100) / 10,
      perDomain: r.perDomain.map((d) => ({ domain: d.domain, names: d.names, firstS: Math.round(d.firstS * 10) / 10, lastS: Math.round(d.lastS * 10) / 10 })),
    });
  }
  return out;
}

/** The report line of one run. */
export function onboardingLine(f: OnboardingFigures): string {
  return `  ${f.names} names, ${f.managers} manager(s): ${f.issued} issued, ${f.refusals} refused, ${f.virtualSeconds} s vs ${f.allowedSeconds} s the limits allow (${f.ratio}x ${f.ratio <= 1.05 ? "✓" : "✗"} ≤ 1.05x), per domain first–last ${f.perDomain.map((d) => `${d.names}: ${d.firstS}–${d.lastS} s`).join(", ")} (${f.wallSeconds} s wall)`;
}
