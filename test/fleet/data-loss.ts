/**
 * What a backend must keep true when it loses data (a restart without persistence, a failover to a
 * replica that lagged, an older backup restored): a version or fencing token handed out before the loss
 * is never handed out again for something else, so a compare-and-set or a fenced write made with a stale
 * one is refused (ARCHITECTURE.md invariant 9). `takeBackup` / `restoreBackup` are the backend's real
 * means (copy the data directory while the server is down, dump the rows and the sequence, copy the
 * SQLite file); a loss of everything is `takeBackup` of an empty store.
 */
import { expect } from "vitest";
import type { Storage } from "../../src/storage/storage.ts";
import { expectCode } from "../storage/conformance.ts";

export interface DataLoss {
  /** Remembers the store as it is now. */
  takeBackup(): Promise<void>;
  /** Puts the store back to the backup, losing every later write (and counter). */
  restoreBackup(): Promise<void>;
}

const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));

/**
 * The lost update of issue 23 defect 3: a reader holds version V of a key; the store goes back to an
 * older state; the next writes of the key must not be given V again, so the reader's compare-and-set
 * with V is a conflict and the value written after the loss stays. Likewise a lease's fencing token.
 */
export async function expectNoReuseAfterDataLoss(storage: () => Storage, loss: DataLoss, prefix: string): Promise<void> {
  const key = `${prefix}/record`;
  const lockName = `${prefix}/lock`;
  await storage().put(key, "in the backup");
  const early = await storage().lock(lockName, { ttlMs: 60_000 });
  await early.release();
  await loss.takeBackup();
  // After the backup (`storage()` again: taking it may have restarted the server or process): a write
  // someone reads, and a lease someone holds.
  const s = storage();
  await s.put(key, "read before the loss");
  const read = (await s.getEntry(key))!;
  const stale = await s.lock(lockName, { ttlMs: 60_000 });
  await loss.restoreBackup();

  const after = storage();
  // Written after the loss: with a counter restored from the backup, this write gets `read.version` again.
  for (let i = 0; i < 3; i++) {
    await after.put(key, `written after the loss ${i}`);
    expect((await after.getEntry(key))!.version).not.toBe(read.version);
  }
  await expectCode(after.put(key, "lost update", { ifVersion: read.version }), "conflict");
  await expectCode(after.delete(key, { ifVersion: read.version }), "conflict");
  expect(text(await after.get(key))).toBe("written after the loss 2");

  // The lock row is back at the backup's token: the next holder must still outrank the stale one.
  const next = await after.lock(lockName, { ttlMs: 60_000, waitMs: 5_000 });
  expect(next.token).toBeGreaterThan(stale.token);
  await expectCode(after.put(key, "stale holder", { fence: { name: lockName, token: stale.token } }), "lease_lost");
  await after.put(key, "new holder", { fence: next });
  await next.release();
}
