/**
 * Makes a stored certificate due now, as the passing of time would (its renewal time reached, no
 * failure backoff), without waiting two thirds of its lifetime: the record and its due-index entry are
 * rewritten under the certificate's own lock, fenced, so no holder's write interleaves.
 * @module
 */
import { keys } from "../../src/manager/storage-keys.ts";
import type { CertificateRecord } from "../../src/manager/records.ts";
import { readJson, replacing, writeJson } from "../../src/manager/stored-json.ts";
import { dueIndexOf } from "../../src/storage/due-index.ts";
import type { Storage } from "../../src/storage/storage.ts";

/** Sets certificate `id`'s renewal time to `at` (clearing its failures); false when it is not stored. */
export async function makeDue(storage: Storage, id: string, at: number): Promise<boolean> {
  // Waits out a lease a killed or stopped holder left (the lease bounds it).
  const lease = await storage.lock(keys.certificateLock(id), { ttlMs: 60_000, waitMs: 180_000 });
  try {
    const read = await readJson<CertificateRecord>(storage, keys.certificate(id));
    if (!read) return false;
    const fence = { name: lease.name, token: lease.token };
    // The due index's rule: its entry never later than the record's time, so it moves first.
    await dueIndexOf(storage)?.setDue(id, at, { fence, earlierOnly: true });
    await writeJson(storage, keys.certificate(id), { ...read.value, renewal: { renewAt: at, failures: 0 } }, replacing(storage, read, fence));
    return true;
  } finally {
    await lease.release().catch(() => undefined);
  }
}
