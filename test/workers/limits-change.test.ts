import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";
import { certificateSummary, startWorker, type CertificateSummary } from "../support/worker.ts";

// Issue 26, review: CA_LIMITS changed while certificates wait for the CA budget. A certificate the
// budget held back is due again at its estimated turn under the limits of then (an hour here; at Let's
// Encrypt's 50 certificates per registered domain a week, days). A deployment with other limits — an
// operator raising them, or removing them — restarts every object: nothing parked survives, and the
// waiting certificates must not sit out the old estimate. Real Worker in workerd on persisted state,
// Pebble. Cost: about 7 s.
let pebble: PebbleInstance;
let dir: string;

beforeAll(async () => {
  pebble = await startPebble();
  dir = await mkdtemp(join(tmpdir(), "edgecert-limits-change-"));
});
afterAll(async () => {
  await pebble?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("CA_LIMITS changed while certificates wait for the budget", () => {
  it("the next tick under the new limits takes the waiting certificates, not their old estimate", { timeout: 240_000 }, async () => {
    let w = await startWorker(pebble, { persistTo: dir, vars: { CA_LIMITS: "orders=1/1h" } });
    const add = async (name: string) => ((await (await w.admin("/admin/certificates", { method: "POST", body: JSON.stringify({ names: [name] }) })).json()) as CertificateSummary).id;
    const get = (id: string) => certificateSummary(w, id);
    let second: string;
    try {
      const first = await add("first.limits-change.test");
      await vi.waitFor(async () => expect((await get(first)).status).toBe("valid"), { timeout: 60_000, interval: 200 });
      second = await add("second.limits-change.test");
      await vi.waitFor(async () => expect((await get(second)).queuedFor).toMatch(/^orders /), { timeout: 60_000, interval: 200 });
      // Due again in about an hour: the bucket's refill.
      expect(Date.parse((await get(second)).nextWorkAt)).toBeGreaterThan(Date.now() + 30 * 60_000);
    } finally {
      await w.stop();
    }
    // Redeployed with the limit raised: the next tick takes the held-back certificate (old code: still
    // due an hour on, the tick passed it by). Then issued at once: the account's bucket, one of 1 an hour
    // spent, holds 99 of 100 an hour (it used to read as all 100 spent, and the order waited 36 s from
    // the first: test/budget/budget.test.ts, "a bucket written under other limits").
    w = await startWorker(pebble, { persistTo: dir, vars: { CA_LIMITS: "orders=100/1h" } });
    try {
      await w.cron(Date.now());
      expect((await (await w.index()).lastTick())?.dispatched).toBe(1);
      // Issued by the tick already (then due at its renewal), or due within minutes, not the hour.
      const after = await get(second);
      expect(after.status === "valid" || Date.parse(after.nextWorkAt) < Date.now() + 10 * 60_000, `${after.status}, due ${after.nextWorkAt}`).toBe(true);
      await vi.waitFor(async () => expect((await get(second)).status).toBe("valid"), { timeout: 120_000, interval: 250 });
      expect((await get(second)).queuedFor).toBeNull();
    } finally {
      await w.stop();
    }
  });
});
