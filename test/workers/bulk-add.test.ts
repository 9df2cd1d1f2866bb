import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";
import { rateLimitingCa } from "../support/rate-limiting-ca.ts";
import { certificateSummary, startWorker, type CertificateSummary, type WorkerInstance } from "../support/worker.ts";

// Issue 26, onboarding through the Worker: many names in one request (POST /admin/certificates/bulk),
// started at once by an extra tick (the kick alarm) rather than at the next cron minute, and the CA
// budget's queue holding every waiting order — a parked order is run again by the queue when its turn
// comes, without a cron tick. Real Worker in workerd, real Pebble behind Let's Encrypt's limits
// (rate-limiting-ca.ts). No cron tick is run in this file. Cost: about 20 s.
let pebble: PebbleInstance;

beforeAll(async () => {
  pebble = await startPebble();
});
afterAll(async () => {
  await pebble?.stop();
});

type Bulk = { created: number; certificates: Array<CertificateSummary & { created: boolean }> };
const get = certificateSummary;
const bulk = (w: WorkerInstance, body: unknown) => w.admin("/admin/certificates/bulk", { method: "POST", body: typeof body === "string" ? body : JSON.stringify(body) });

describe("POST /admin/certificates/bulk", () => {
  it("checks every certificate first: one refused adds nothing, with a typed error naming it", { timeout: 60_000 }, async () => {
    const w = await startWorker(pebble, { vars: { ALLOWED_NAMES: "*.bulk.test" } });
    try {
      const refused = async (body: unknown, status: number, code: string, message?: RegExp) => {
        const res = await bulk(w, body);
        const answer = (await res.json()) as { error: { code: string; message: string } };
        expect({ status: res.status, code: answer.error.code }).toEqual({ status, code });
        if (message) expect(answer.error.message).toMatch(message);
      };
      const ok = { names: ["a.bulk.test"] };
      await refused("not json", 400, "invalid_json");
      await refused([ok], 400, "invalid_body");
      await refused({}, 400, "invalid_certificates");
      await refused({ certificates: [] }, 400, "invalid_certificates");
      await refused({ certificates: ok }, 400, "invalid_certificates");
      await refused({ certificates: Array.from({ length: 1001 }, (_, i) => ({ names: [`n${i}.bulk.test`] })) }, 400, "invalid_certificates");
      await refused({ certificates: [ok], extra: 1 }, 400, "unknown_field");
      await refused({ certificates: [ok, "b.bulk.test"] }, 400, "invalid_body", /^certificates\[1\]: /);
      await refused({ certificates: [ok, { names: ["b.bulk.test"], colour: "red" }] }, 400, "unknown_field", /^certificates\[1\]: /);
      await refused({ certificates: [ok, { names: ["b.bulk.test"] }, { names: ["not a name"] }] }, 400, "invalid_names", /^certificates\[2\]: /);
      await refused({ certificates: [ok, { names: ["c.elsewhere.test"] }] }, 403, "name_not_allowed", /^certificates\[1\]: .*ALLOWED_NAMES/);
      await refused({ certificates: [ok, { names: ["*.bulk.test"], challenge: "http-01" }] }, 400, "invalid_challenge", /^certificates\[1\]: /);
      await refused({ certificates: [{ ...ok, profile: "no profile" }] }, 400, "invalid_profile", /^certificates\[0\]: /);
      await refused(JSON.stringify({ certificates: [ok] }).padEnd(600 * 1024, " "), 413, "body_too_large");
      // Nothing of any refused request was added.
      expect(await (await w.index()).count()).toBe(0);
    } finally {
      await w.stop();
    }
  });

  it("issues what it adds without a cron tick, taking turns across customers, and adds each certificate once", { timeout: 120_000 }, async () => {
    // Two new orders at once, then one a second: the seven orders wait for the budget together.
    const ca = rateLimitingCa(pebble.fetch, { now: Date.now, ordersPerAccount: { count: 2, periodMs: 2_000 } });
    // Four a tick (RENEW_BATCH): the small customer's name, listed last, is among the first batch.
    const w = await startWorker(pebble, { vars: { CA_LIMITS: "orders=2/2s", RENEW_BATCH: "4", RENEW_CHUNK: "2" }, outbound: (request) => ca.fetch(request) });
    try {
      // One customer's six names before another's one, as a signup export lists them.
      const certificates = [...Array.from({ length: 6 }, (_, i) => ({ names: [`n${i}.big-bulk.test`] })), { names: ["www.small-bulk.test"] }];
      const res = await bulk(w, { certificates });
      expect(res.status).toBe(202);
      const added = (await res.json()) as Bulk;
      expect(added.created).toBe(7);
      expect(added.certificates.map((c) => [c.names[0], c.created, c.status])).toEqual(certificates.map((c) => [c.names[0], true, "pending"]));
      // Due in the order a tick hands them out: the small customer's within the first batch of four.
      const due = added.certificates.map((c) => ({ name: c.names[0], at: Date.parse(c.nextWorkAt) })).sort((a, b) => a.at - b.at);
      expect(due.findIndex((d) => d.name === "www.small-bulk.test")).toBeLessThan(4);
      const ids = added.certificates.map((c) => c.id);
      // No cron tick: the extra tick kicked by the request starts them.
      await vi.waitFor(async () => expect((await Promise.all(ids.map((id) => get(w, id)))).filter((c) => c.status === "valid")).toHaveLength(7), { timeout: 90_000, interval: 250 });
      const order = ca.events.filter((e) => e.kind === "newOrder").map((e) => e.names[0]!);
      console.log(`order at the CA: ${order.join(" ")}`);
      expect(ca.refusals()).toEqual([]);
      expect(order).toHaveLength(7);
      // The small customer's name is among the first three orders (in the order added: the 7th).
      expect(order.indexOf("www.small-bulk.test")).toBeLessThanOrEqual(2);

      // Added again (and one twice in the same request): nothing new, each listed as it is.
      const again = await bulk(w, { certificates: [...certificates, certificates[0]] });
      expect(again.status).toBe(200);
      const second = (await again.json()) as Bulk;
      expect(second.created).toBe(0);
      expect(second.certificates.map((c) => [c.id, c.created, c.status])).toEqual([...ids, ids[0]].map((id) => [id, false, "valid"]));
      expect(await (await w.index()).count()).toBe(7);
    } finally {
      await w.stop();
    }
  });
});

describe("the CA budget's queue runs a parked order when its turn comes", () => {
  it("a certificate held back past its invocation's wait is issued when the budget refills, without a cron tick", { timeout: 120_000 }, async () => {
    // One new order per 10 s: the second certificate, added once the first's order reached the CA
    // (not once it was issued: the wait no longer depends on how long issuing takes), finds its token
    // ~10 s away, beyond the 3 s an invocation waits; its order stays parked in the queue.
    const ca = rateLimitingCa(pebble.fetch, { now: Date.now, ordersPerAccount: { count: 1, periodMs: 10_000 } });
    const w = await startWorker(pebble, { vars: { CA_LIMITS: "orders=1/10s" }, outbound: (request) => ca.fetch(request) });
    try {
      const add = async (name: string) => ((await (await w.admin("/admin/certificates", { method: "POST", body: JSON.stringify({ names: [name] }) })).json()) as CertificateSummary).id;
      const first = await add("first.parked.test");
      await vi.waitFor(() => expect(ca.events.some((e) => e.kind === "newOrder" && e.names[0] === "first.parked.test")).toBe(true), { timeout: 60_000, interval: 50 });
      const second = await add("second.parked.test");
      await vi.waitFor(async () => expect((await get(w, second)).queuedFor).toMatch(/^orders /), { timeout: 60_000, interval: 200 });
      await vi.waitFor(async () => expect((await get(w, first)).status).toBe("valid"), { timeout: 60_000, interval: 200 });
      // No cron tick: the queue runs its renewer when the bucket refills (old code: it waited for a tick).
      await vi.waitFor(async () => expect((await get(w, second)).status).toBe("valid"), { timeout: 60_000, interval: 250 });
      expect(ca.events.filter((e) => e.kind === "newOrder").map((e) => e.names[0])).toEqual(["first.parked.test", "second.parked.test"]);
      expect(ca.refusals()).toEqual([]);
      expect((await get(w, second)).queuedFor).toBeNull();
    } finally {
      await w.stop();
    }
  });
});
