import { describe, expect, it } from "vitest";
import { CertificateManager, RENEWAL_SPREAD_FRACTION, StorageHttp01Solver, type CertificateRecord, type RenewBefore } from "../../src/manager/index.ts";
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
    it(`${days}-day certificates without ARI renew once each, when about a third of the lifetime remains`, async () => {
      const r = await simulate(days);
      // Three lifetimes: issued at 0, then renewed near 2/3, 4/3, 6/3, 8/3 of a lifetime, each within the spread.
      expect(r.issued).toBe(5);
      const half = RENEWAL_SPREAD_FRACTION / 2;
      for (const gap of r.gaps) expect(gap).toBeGreaterThanOrEqual(2 / 3 - half - 1e-9), expect(gap).toBeLessThanOrEqual(2 / 3 + half + r.tickFraction + 1e-9);
      expect(r.expiredTicks).toBe(0);
    });

    it(`${days}-day certificates with ARI renew inside the CA's window`, async () => {
      const r = await simulate(days, { ari: { start: 0.5, end: 0.6 } });
      expect(r.issued).toBeGreaterThanOrEqual(5);
      for (const gap of r.gaps) expect(gap).toBeGreaterThanOrEqual(0.5 - 1e-9), expect(gap).toBeLessThanOrEqual(0.6 + r.tickFraction + 1e-9);
      expect(r.expiredTicks).toBe(0);
    });
  }

  it("certificates issued together without ARI come due spread over a window, not at one instant", async () => {
    const now = Date.UTC(2027, 0, 1);
    const storage = new MemoryStorage();
    const http01 = new StorageHttp01Solver(storage);
    const ca = new StandInCa({ now: () => now, lifetimeMs: 90 * DAY, token: (t) => http01.response(t) });
    const m = new CertificateManager({ termsOfServiceAgreed: true, storage, directoryUrl: ca.directoryUrl, fetch: ca.fetch, now: () => now });
    const names = Array.from({ length: 40 }, (_, i) => `n${i}.spread.example`);
    await Promise.all(names.map((n) => m.manage([n])));
    const keys = (await storage.list("certificates/")).keys;
    const renewAts = await Promise.all(keys.map(async (k) => (JSON.parse(new TextDecoder().decode((await storage.get(k))!)) as CertificateRecord).renewal.renewAt));
    const planned = now + 60 * DAY;
    const window = 90 * DAY * RENEWAL_SPREAD_FRACTION;
    const spanDays = (Math.max(...renewAts) - Math.min(...renewAts)) / DAY;
    console.log(`spread: 40 certificates issued at one instant come due over ${spanDays.toFixed(2)} days (window ${(window / DAY).toFixed(1)} days), ${new Set(renewAts.map((t) => Math.floor(t / 3_600_000))).size} distinct hours`);
    expect(renewAts).toHaveLength(40);
    for (const t of renewAts) expect(Math.abs(t - planned)).toBeLessThanOrEqual(window / 2);
    // Spread over most of the window, and no hour holds more than a few of them.
    expect(spanDays).toBeGreaterThan((window / DAY) * 0.6);
    expect(new Set(renewAts.map((t) => Math.floor(t / 3_600_000))).size).toBeGreaterThanOrEqual(30);
  });

  it("renew() asked in the very millisecond the certificate was stored renews it (manager-recovery's defect 6 flake)", async () => {
    const now = Date.UTC(2027, 0, 1);
    const storage = new MemoryStorage();
    const http01 = new StorageHttp01Solver(storage);
    const ca = new StandInCa({ now: () => now, lifetimeMs: 90 * DAY, token: (t) => http01.response(t) });
    const m = new CertificateManager({ termsOfServiceAgreed: true, storage, directoryUrl: ca.directoryUrl, fetch: ca.fetch, now: () => now });
    const first = await m.manage(["same-ms.example.test"]);
    // The clock has not moved: the stored certificate's issuedAt equals the moment renew() is asked.
    const renewed = await m.renew(["same-ms.example.test"]);
    expect(renewed.serialNumber).not.toBe(first.serialNumber);
    expect(ca.certificates.size).toBe(2);
  });

  it("renewBefore of 30 days on 6-day certificates is clamped to half the lifetime: no renewal loop", async () => {
    const r = await simulate(6, { renewBefore: { ms: 30 * DAY } });
    // Renewed every half lifetime (0, 1/2, … 5/2 of a lifetime), never two in one tick.
    expect(r.issued).toBe(6);
    for (const gap of r.gaps) expect(gap).toBeGreaterThanOrEqual(0.5 - 1e-9);
  });
});
