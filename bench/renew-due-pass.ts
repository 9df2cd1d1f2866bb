// The renewDue() figure of the fleet storage bench, runtime-neutral (run by Node for Redis and
// PostgreSQL, by the deno binary for Deno KV): 100,000 stored certificate records with 100 due, their
// due-index entries and the ready marker, then one pass through a read-counting wrapper; the 100 due
// are renewed through the in-process stand-in CA.
import type { DueIndex } from "../src/storage/due-index.ts";
import type { Storage } from "../src/storage/storage.ts";
import { CertificateManager } from "../src/manager/certificate-manager.ts";
import type { CertificateRecord } from "../src/manager/records.ts";
import { StorageHttp01Solver } from "../src/manager/storage-http01-solver.ts";
import { keys } from "../src/manager/storage-keys.ts";
import { probed } from "../test/support/probed-storage.ts";
import { placeholderRecord } from "../test/support/stored-records.ts";
import { StandInCa } from "../test/support/stand-in-ca.ts";

/** Stored certificate records in the pass. */
export const RECORDS = 100_000;
/** How many of them are due. */
export const DUE = 100;
const DAY = 86_400_000;

/** What one pass read and took. */
export interface RenewDueFigures {
  due: number;
  renewed: number;
  keysRead: number;
  certificatesRead: number;
  listings: number;
  wallMs: number;
  /** This process's CPU during the pass (the manager, the stand-in CA's signing, the client), ms. */
  cpuMs: number;
  /** Bulk load of the records and entries before the pass. */
  loadMs: number;
}

/** A stored certificate record as the manager writes it; the first `dueCount` fell due a second ago. */
export function benchRecord(i: number, now: number, dueCount = DUE): CertificateRecord {
  const due = i < dueCount;
  return placeholderRecord(`bench-${i}`, now, due ? now - 1_000 - i : now + 3_600_000 + i * 50_000, now + (due ? 5 : 60) * DAY, 20);
}

/** Loads `records` records (`dueCount` due) and their due entries through the storage API, `inFlight` at a time, then the ready marker. */
export async function loadRecords(storage: Storage & DueIndex, now: number, inFlight: number, records = RECORDS, dueCount = DUE): Promise<void> {
  for (let i = 0; i < records; i += inFlight) {
    await Promise.all(
      Array.from({ length: Math.min(inFlight, records - i) }, async (_, j) => {
        const r = benchRecord(i + j, now, dueCount);
        await storage.put(keys.certificate(r.id), JSON.stringify(r));
        await storage.setDue(r.id, r.renewal.renewAt);
      }),
    );
  }
  await storage.put(keys.dueIndexReady, "{}");
}

/** One renewDue() pass on a store already holding the records (`dueCount` due), their due entries and the ready marker. */
export async function renewDuePass(storage: Storage & DueIndex, now: number, loadMs: number, dueCount = DUE): Promise<RenewDueFigures> {
  const probe = probed(storage);
  const tokens = new StorageHttp01Solver(storage);
  const ca = new StandInCa({ now: () => now, lifetimeMs: 30 * DAY, token: (t) => tokens.response(t) });
  const manager = new CertificateManager({ storage: probe.storage, directoryUrl: ca.directoryUrl, fetch: ca.fetch, termsOfServiceAgreed: true, now: () => now, retry: { maxAttempts: 1 } });
  const started = performance.now();
  const cpu = process.cpuUsage();
  const result = await manager.renewDue();
  const wallMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  if (result.failed.length > 0) throw new Error(`bench renewDue failed: ${JSON.stringify(result.failed.slice(0, 3))}`);
  return {
    due: dueCount,
    renewed: result.renewed.length,
    keysRead: probe.reads.keys.length,
    certificatesRead: probe.reads.keys.filter((k) => k.startsWith(keys.certificatePrefix)).length,
    listings: probe.reads.lists,
    wallMs,
    cpuMs: Math.round((used.user + used.system) / 1000),
    loadMs,
  };
}
