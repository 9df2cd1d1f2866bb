import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";
import { rateLimitingCa } from "../support/rate-limiting-ca.ts";
import { startWorker } from "../support/worker.ts";

// Issue 26, onboarding through the Worker: every customer's first certificate comes early, however
// many names a larger customer added before it. While the CA's budget has tokens to spare, the order
// in which the Worker starts its renewals is the order the CA sees, and the budget's fair queue has
// nothing to reorder; so the ticks themselves start each registered domain's first name before any
// domain's second, and a bulk add's tick does not wait behind another tick's batch. The old Worker
// put a customer with one name in the middle of its request's batch, and ran extra ticks one after
// another (each until its whole batch was handed out): onboarding 10,000 names in bulk, the small
// customers' first certificates came at up to 75 % of the run. Positions of orders are counted, not
// seconds. Real Worker in workerd, real Pebble behind the rate-limiting stand-in (limits it never
// reaches here). No cron tick is run. Cost: about 10 s (30-40 issuances).
let pebble: PebbleInstance;

beforeAll(async () => {
  pebble = await startPebble();
});
afterAll(async () => {
  await pebble?.stop();
});

const BATCH = 50;
const LARGE = 150;

describe("first certificates through the Worker", () => {
  it(`each small customer's first order is among the first ${BATCH} the CA sees, after a large customer's ${LARGE} names in bulk`, { timeout: 120_000 }, async () => {
    const limit = { count: 1000, periodMs: 60_000 };
    const ca = rateLimitingCa(pebble.fetch, { now: Date.now, ordersPerAccount: limit, certificatesPerDomain: limit });
    // A tick claims 50 (RENEW_BATCH) and starts one renewal per chunk, 6 at a time: the CA sees orders
    // nearly in the order the ticks start them (give or take the renewals of the ticks under way).
    const w = await startWorker(pebble, { vars: { CA_LIMITS: "orders=1000/60s,domain=1000/60s", RENEW_BATCH: String(BATCH), RENEW_CHUNK: "1" }, outbound: (request) => ca.fetch(request) });
    try {
      const add = async (names: string[]) => {
        const res = await w.admin("/admin/certificates/bulk", { method: "POST", body: JSON.stringify({ certificates: names.map((n) => ({ names: [n] })) }) });
        expect(res.status).toBe(202);
      };
      const orders = () => ca.events.filter((e) => e.kind === "newOrder").map((e) => e.names[0]!).slice(1);
      // One certificate first: the ACME account exists before the bulk adds (renewals that start
      // together otherwise wait for its creation, then race one another).
      await add(["www.first.test"]);
      await vi.waitFor(() => expect(ca.events.filter((e) => e.kind === "finalize")).toHaveLength(1), { timeout: 60_000, interval: 100 });
      const small = Array.from({ length: 8 }, (_, i) => `www.small${i}.test`);
      // As a signup export lists them: the large customer's names, then four small customers'; then
      // four more small customers in a second request.
      await add([...Array.from({ length: LARGE }, (_, i) => `n${i}.large.test`), ...small.slice(0, 4)]);
      await add(small.slice(4));
      // Until every small customer has an order, or twice the bound have gone (the old Worker: the
      // first four in the large customer's second batch, the others after all of its names).
      await vi.waitFor(() => expect(small.every((n) => orders().includes(n)) || orders().length >= 2 * BATCH).toBe(true), { timeout: 100_000, interval: 100 });
      const seen = orders();
      const positions = small.map((n) => (seen.includes(n) ? seen.indexOf(n) : Infinity));
      console.log(`small customers' first orders at positions ${positions.join(", ")} of the ${seen.length} the CA has seen`);
      expect(ca.refusals()).toEqual([]);
      expect(Math.max(...positions)).toBeLessThan(BATCH);
    } finally {
      await w.stop();
    }
  });
});
