import { describe, expect, it, vi } from "vitest";
import type { PebbleInstance } from "../support/pebble.ts";
import { startWorker, type WorkerInstance } from "../support/worker.ts";

// Issue 26, review of the bulk add (POST /admin/certificates/bulk): the certificates it adds are due a
// millisecond apart (in the order a tick hands them out) and it kicks an extra tick to start them
// without waiting for the cron. That tick must find every one of them due, also when another request's
// kick comes first. No cron tick runs here, and the CA never answers: every certificate a tick claims
// stays claimed (nextWorkAt 15 minutes on) while its run waits, so the test sees which were claimed
// without running them. Cost: about 10 s.
const silentCa = { directoryUrl: "https://ca.bulk-kick.test/directory" } as unknown as PebbleInstance;

const start = () => startWorker(silentCa, { port: 0, vars: { RENEW_BATCH: "2000", RENEW_CHUNK: "50" }, outbound: () => new Promise<Response>(() => undefined) });
const bulk = (w: WorkerInstance, names: string[]) => w.admin("/admin/certificates/bulk", { method: "POST", body: JSON.stringify({ certificates: names.map((n) => ({ names: [n] })) }) });
const names = (n: number, domain: string) => Array.from({ length: n }, (_, i) => `n${i}.c${i % 6}.${domain}`);

/** Certificates no tick has claimed (due within 5 minutes), every page; only those of the 1,000-name adds. */
async function unclaimed(w: WorkerInstance): Promise<number> {
  let n = 0;
  let cursor: string | null = null;
  do {
    const page = (await (await w.admin(`/admin/certificates?limit=200${cursor ? `&cursor=${cursor}` : ""}`)).json()) as { certificates: Array<{ names: string[]; nextWorkAt: string }>; cursor: string | null };
    n += page.certificates.filter((c) => /^n\d/.test(c.names[0]!) && Date.parse(c.nextWorkAt) < Date.now() + 5 * 60_000).length;
    cursor = page.cursor;
  } while (cursor);
  return n;
}

describe("a bulk add's kicked tick", () => {
  it("claims all 1,000 certificates it added, without a cron tick", { timeout: 120_000 }, async () => {
    const w = await start();
    try {
      expect((await bulk(w, names(1000, "one-kick.test"))).status).toBe(202);
      // Old code: the tick, kicked for the request's time, ran a few ms later and claimed only those due
      // by then, fewer than RENEW_BATCH, so nothing kicked another: the rest waited for the cron tick.
      await vi.waitFor(async () => expect(await unclaimed(w)).toBe(0), { timeout: 60_000, interval: 1_000 });
    } finally {
      await w.stop();
    }
  });

  it("another bulk add's earlier kick does not leave the first one's certificates for the cron", { timeout: 120_000 }, async () => {
    const w = await start();
    try {
      expect((await bulk(w, names(1000, "late-kick.test"))).status).toBe(202);
      // A one-certificate bulk add right after: its kick, for its own time, comes before the first one's
      // last certificate was due (when they were due after the request's time, the kick for the last
      // one's time was replaced by this earlier one, whose tick claimed 70 of 1,001). Its own certificate
      // may wait for the next extra tick (the one under way keeps the alarm until its renewals end).
      expect((await bulk(w, ["one.late-kick.test"])).status).toBe(202);
      await vi.waitFor(async () => expect(await unclaimed(w)).toBe(0), { timeout: 60_000, interval: 1_000 });
    } finally {
      await w.stop();
    }
  });
});
