import { describe, expect, it, vi } from "vitest";
import type { PebbleInstance } from "../support/pebble.ts";
import { startWorker, type WorkerInstance } from "../support/worker.ts";

// Issue 26, review of the bulk add (POST /admin/certificates/bulk): the certificates it adds are due a
// millisecond apart (in the order a tick hands them out) and it kicks an extra tick to start them
// without waiting for the cron. That tick must find every one of them due. No cron tick runs here, and
// no CA: each attempt fails at once (the directory is a 404), which is all the test needs to see that
// it was started. Cost: about 10 s.
const noCa = { directoryUrl: "https://ca.bulk-kick.test/directory" } as unknown as PebbleInstance;
const NAMES = 300;

/** Certificates in `state`, every page. */
async function count(w: WorkerInstance, state: string): Promise<number> {
  let n = 0;
  let cursor: string | null = null;
  do {
    const page = (await (await w.admin(`/admin/certificates?state=${state}&limit=200${cursor ? `&cursor=${cursor}` : ""}`)).json()) as { certificates: unknown[]; cursor: string | null };
    n += page.certificates.length;
    cursor = page.cursor;
  } while (cursor);
  return n;
}

describe("a bulk add's kicked tick", () => {
  it(`starts all ${NAMES} certificates it added, without a cron tick`, { timeout: 120_000 }, async () => {
    const w = await startWorker(noCa, { port: 0, vars: { RENEW_BATCH: "500", RENEW_CHUNK: "50" }, outbound: () => new Response("no CA here", { status: 404 }) });
    try {
      const certificates = Array.from({ length: NAMES }, (_, i) => ({ names: [`n${i}.c${i % 6}.bulk-kick.test`] }));
      const res = await w.admin("/admin/certificates/bulk", { method: "POST", body: JSON.stringify({ certificates }) });
      expect(res.status).toBe(202);
      // Old code: the tick kicked for the request's time ran a few ms later and claimed only those due
      // by then (22 of 1,000 here), fewer than RENEW_BATCH, so nothing kicked another: the rest stayed
      // pending until the cron tick.
      await vi.waitFor(async () => expect(await count(w, "pending")).toBe(0), { timeout: 60_000, interval: 1_000 });
      expect(await count(w, "failed")).toBe(NAMES);
    } finally {
      await w.stop();
    }
  });
});
