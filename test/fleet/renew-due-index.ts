/**
 * renewDue() on a storage with a due index (Redis, PostgreSQL, Deno KV): a pass reads only what is
 * due, and a process killed between a certificate write and its due-index write still has that
 * certificate renewed in time. The CA is the stand-in (its clock is the test's, so certificates fall
 * due without waiting); storage is the real backend.
 */
import { describe, expect, it } from "vitest";
import { CertificateManager } from "../../src/manager/certificate-manager.ts";
import type { CertificateRecord } from "../../src/manager/records.ts";
import { StorageHttp01Solver } from "../../src/manager/storage-http01-solver.ts";
import { keys } from "../../src/manager/storage-keys.ts";
import type { DueIndex } from "../../src/storage/due-index.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { probed, type ProbedStorage } from "../support/probed-storage.ts";
import { StandInCa } from "../support/stand-in-ca.ts";
import { placeholderRecord } from "../support/stored-records.ts";

const DAY = 86_400_000;

/** A fresh, empty store of the backend (its own prefix / table / file) and how to close it. */
export type FreshStore = () => Promise<{ storage: Storage & DueIndex; close?: () => Promise<void> }>;

/** A record that is not due for a year, as this version writes it (record, then its due entry). */
const notDueRecord = (i: number, now: number): CertificateRecord => placeholderRecord(`filler-${i}`, now, now + 365 * DAY, now + 400 * DAY);

function bed(storage: Storage, clock: { now: number }) {
  const tokens = new StorageHttp01Solver(storage);
  const ca = new StandInCa({ now: () => clock.now, lifetimeMs: 30 * DAY, token: (t) => tokens.response(t) });
  const manager = (s: Storage, extra: Partial<ConstructorParameters<typeof CertificateManager>[0]> = {}) =>
    new CertificateManager({ storage: s, directoryUrl: ca.directoryUrl, fetch: ca.fetch, termsOfServiceAgreed: true, now: () => clock.now, retry: { maxAttempts: 1 }, cacheTtlMs: 0, ...extra });
  return { ca, manager };
}

const certificateReads = (p: ProbedStorage) => p.reads.keys.filter((k) => k.startsWith(keys.certificatePrefix));

export function runRenewDueIndexTests(name: string, fresh: FreshStore): void {
  describe(`${name}: renewDue() through the due index`, () => {
    it("a pass over 1,000 stored certificates with 4 due reads the 4, not the 1,000, and renews them", async () => {
      const { storage, close } = await fresh();
      try {
        const clock = { now: Date.UTC(2027, 0, 1) };
        const probe = probed(storage);
        const { manager } = bed(storage, clock);
        const m = manager(probe.storage);
        const due = await Promise.all([0, 1, 2, 3].map((i) => m.manage([`due-${i}.example`])));
        await m.renewDue(); // first pass on this store: lists every certificate once and marks the index ready
        const filler = Array.from({ length: 1000 }, (_, i) => notDueRecord(i, clock.now));
        for (let i = 0; i < filler.length; i += 50) {
          await Promise.all(
            filler.slice(i, i + 50).map(async (r) => {
              await storage.put(keys.certificate(r.id), JSON.stringify(r));
              await storage.setDue(r.id, r.renewal.renewAt);
            }),
          );
        }
        clock.now += 25 * DAY; // past 2/3 of the 30-day lifetime of the four
        probe.reset();
        const result = await m.renewDue();
        expect(result.renewed.sort()).toEqual(due.map((c) => c.id).sort());
        expect(result.failed).toEqual([]);
        // Read: each due certificate a few times (pass, under the lock, after renewal), never a filler.
        expect(certificateReads(probe).filter((k) => k.includes("filler"))).toEqual([]);
        expect(certificateReads(probe).length).toBeLessThanOrEqual(4 * 4);
        expect(probe.reads.keys.length).toBeLessThan(100);
        expect(probe.reads.lists).toBeLessThanOrEqual(3); // the sweep's token and intent listings only
        for (const c of due) expect((await m.find(c.names))!.serialNumber).not.toBe(c.serialNumber);
        // The next pass finds nothing due and reads no certificate.
        probe.reset();
        expect((await m.renewDue()).checked).toBe(0);
        expect(certificateReads(probe)).toEqual([]);
      } finally {
        await close?.();
      }
    });

    it("killed between the certificate write and its due-index write: the next pass still renews it in time", async () => {
      const { storage, close } = await fresh();
      try {
        const clock = { now: Date.UTC(2027, 0, 1) };
        const { manager } = bed(storage, clock);
        await manager(storage).renewDue(); // the index is ready before the crash
        const dying = probed(storage, (id) => id.startsWith("crash.example"));
        // The default lease: a short one lapsed on a loaded machine before the certificate was written;
        // the dying process's lease lapses when it dies (test/support/probed-storage.ts).
        await expect(manager(dying.storage).manage(["crash.example"])).rejects.toThrow();
        const survivor = manager(storage, { lockWaitMs: 20_000 });
        const stored = await survivor.find(["crash.example"]);
        expect(stored).toBeDefined(); // the certificate landed; its exact due entry did not
        clock.now += 21 * DAY; // due (renewal at 20 of 30 days), and still valid
        const result = await survivor.renewDue();
        expect(result.renewed).toEqual([stored!.id]);
        const renewed = await survivor.find(["crash.example"]);
        expect(renewed!.serialNumber).not.toBe(stored!.serialNumber);
        expect(renewed!.notAfter.getTime()).toBeGreaterThan(clock.now + 25 * DAY);
      } finally {
        await close?.();
      }
    });
  });
}
