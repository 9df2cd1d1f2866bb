import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AcmeClient, generateKeyPair } from "../../src/index.ts";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";

// Found by the fleet chaos test (test/fleet/fleet-chaos.test.ts, seed 2, round 17 on PostgreSQL): a
// holder's storage went down right after its newOrder, so the order URL was never recorded; the next
// holder looked for the order in the account's orders list, read only its first 10 pages — Pebble
// lists 3 orders a page, oldest first — never reached the newest order, and ordered a second time
// while the first was still pending. The list is now read to its end.

let pebble: PebbleInstance;
beforeAll(async () => {
  pebble = await startPebble({ ordersPerPage: 2 });
});
afterAll(async () => {
  await pebble?.stop();
});

describe("findOrder on a long orders list (RFC 8555 §7.1.2.1, paged with Link rel=next)", () => {
  it("finds the newest pending order behind more than 10 pages of older ones", async () => {
    const acme = new AcmeClient({ directoryUrl: pebble.directoryUrl, accountKey: await generateKeyPair("ES256"), fetch: pebble.fetch });
    await acme.newAccount({ termsOfServiceAgreed: true });
    // 24 older orders: 12 pages of 2, beyond the 10 pages read before.
    for (let i = 0; i < 24; i++) await acme.newOrder({ identifiers: [`older-${i}.find-order.test`] });
    const wanted = await acme.newOrder({ identifiers: ["wanted.find-order.test"] });
    expect((await acme.listOrders()).length).toBeGreaterThanOrEqual(25);
    const found = await acme.findOrder(["wanted.find-order.test"]);
    expect(found?.url).toBe(wanted.url);
  }, 60_000);
});
