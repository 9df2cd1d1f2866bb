import type { PebbleInstance } from "../test/support/pebble.ts";
import { startWorker } from "../test/support/worker.ts";

/**
 * A cron tick of the real Worker (in workerd) over `certificates` index entries of which `dueShare` are
 * due: index rows read and renewer subrequests dispatched, then an idle tick's rows read. The due
 * entries' renewals are real issuances against Pebble (RENEW_BATCH of them per tick).
 */
export async function renewalScale(pebble: PebbleInstance, certificates: number, dueShare: number) {
  const batch = 50;
  const worker = await startWorker(pebble, { vars: { RENEW_BATCH: String(batch) } });
  try {
    const index = await worker.index();
    const now = Date.now();
    const due = Math.round(certificates * dueShare);
    for (let start = 0; start < certificates; start += 5_000) {
      const entries = [];
      for (let i = start; i < Math.min(certificates, start + 5_000); i++) {
        entries.push({ id: `scale-${i}`, names: [`scale-${i}.example.test`], dueAt: i < due ? now - 1_000 : now + 86_400_000 + i, status: "valid", failures: 0, updatedAt: now });
      }
      await index.upsertMany(entries);
    }
    await worker.cron(now);
    const busy = await index.lastTick();
    // The due entries left after one batch stay due; an idle tick is measured with a clock before them.
    await worker.cron(now - 60_000);
    const idle = await index.lastTick();
    return { certificates, due, batch, rowsRead: busy?.rowsRead ?? NaN, dispatched: busy?.dispatched ?? NaN, outcomes: busy?.outcomes ?? {}, idleRowsRead: idle?.rowsRead ?? NaN };
  } finally {
    await worker.stop();
  }
}
