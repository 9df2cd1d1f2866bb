import { describe, expect, it } from "vitest";
import { CertificateManager, StorageHttp01Solver, type RenewBefore } from "../../src/manager/index.ts";
import { MemoryStorage } from "../../src/storage/memory-storage.ts";
import { StandInCa } from "../support/stand-in-ca.ts";

// Renewal timing over several lifetimes with a controlled clock, against the RFC 8555 stand-in CA
// (test/support/stand-in-ca.ts): Pebble cannot issue 6-day certificates or move its clock.
const DAY = 86_400_000;

async function simulate(lifetimeDays: number, options: { renewBefore?: RenewBefore; ari?: { start: number; end: number } } = {}) {
  let now = Date.UTC(2027, 0, 1);
  const storage = new MemoryStorage();
  const http01 = new StorageHttp01Solver(storage);
  const ca = new StandInCa({
    now: () => now,
    lifetimeMs: lifetimeDays * DAY,
    token: (t) => http01.response(t),
    ...(options.ari ? { ari: { ...options.ari, retryAfterSeconds: 6 * 3600 } } : {}),
  });
  const m = new CertificateManager({ termsOfServiceAgreed: true, storage, directoryUrl: ca.directoryUrl, fetch: ca.fetch, now: () => now, ...(options.renewBefore ? { renewBefore: options.renewBefore } : {}) });
  await m.manage(["timing.example.test"]);
  const tick = (lifetimeDays * DAY) / 200;
  let expiredTicks = 0;
  for (const end = now + 3 * lifetimeDays * DAY; now < end; now += tick) {
    const result = await m.renewDue();
    expect(result.failed).toEqual([]);
    const served = await m.getCertificate("timing.example.test");
    if (!served || served.notAfter.getTime() <= now) expiredTicks++;
  }
  const issued = [...ca.certificates.values()].map((c) => c.notBefore).sort((a, b) => a - b);
  const gaps = issued.slice(1).map((t, i) => (t - issued[i]!) / (lifetimeDays * DAY));
  return { issued: issued.length, gaps, expiredTicks, tickFraction: tick / (lifetimeDays * DAY) };
}

describe("renewal timing with a controlled clock", () => {
  for (const days of [6, 45, 90]) {
    it(`${days}-day certificates without ARI renew once each, when a third of the lifetime remains`, async () => {
      const r = await simulate(days);
      // Three lifetimes: issued at 0, then renewed at 2/3, 4/3, 6/3, 8/3 of a lifetime.
      expect(r.issued).toBe(5);
      for (const gap of r.gaps) expect(gap).toBeGreaterThanOrEqual(2 / 3 - 1e-9), expect(gap).toBeLessThanOrEqual(2 / 3 + r.tickFraction + 1e-9);
      expect(r.expiredTicks).toBe(0);
    });

    it(`${days}-day certificates with ARI renew inside the CA's window`, async () => {
      const r = await simulate(days, { ari: { start: 0.5, end: 0.6 } });
      expect(r.issued).toBeGreaterThanOrEqual(5);
      for (const gap of r.gaps) expect(gap).toBeGreaterThanOrEqual(0.5 - 1e-9), expect(gap).toBeLessThanOrEqual(0.6 + r.tickFraction + 1e-9);
      expect(r.expiredTicks).toBe(0);
    });
  }

  it("renewBefore of 30 days on 6-day certificates is clamped to half the lifetime: no renewal loop", async () => {
    const r = await simulate(6, { renewBefore: { ms: 30 * DAY } });
    // Renewed every half lifetime (0, 1/2, … 5/2 of a lifetime), never two in one tick.
    expect(r.issued).toBe(6);
    for (const gap of r.gaps) expect(gap).toBeGreaterThanOrEqual(0.5 - 1e-9);
  });
});
