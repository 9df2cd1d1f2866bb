/**
 * Let's Encrypt checks Certificates per Registered Domain (and per exact set of names) when an order is
 * created but spends it when the certificate is issued (rate-limiting-ca.ts does the same), so the CA's
 * bucket refills from the issuance. The budget spends when it admits the order; when the order takes
 * longer than the budget's send margin (1 s) to be issued — validation, a loaded CA or client — the
 * CA's bucket is behind the budget's, and an order sent the moment the budget refills is refused.
 * Now the manager counts those buckets' spends from when the finalize goes (FleetBudget.sending).
 * Found onboarding 300 names through the Worker in real time (16-101 refusals, all for the largest
 * customer's domain, whose bucket was in use without a pause); the accelerated-time simulation never
 * saw it because work takes no virtual time there. Here each order takes 5 s (virtual) from newOrder
 * to finalize (the challenge takes that long to be ready). Old code: the fifth order was sent at 11 s, before the CA's refill at 15 s, and refused.
 */
import { describe, expect, it } from "vitest";
import { CertificateManager } from "../../src/manager/certificate-manager.ts";
import type { Solver } from "../../src/acme/solver.ts";
import { StorageHttp01Solver } from "../../src/manager/storage-http01-solver.ts";
import { bed } from "../support/onboarding-sim.ts";

describe("the budget counts a spend from when its request reaches the CA", () => {
  it("an order is not sent before the CA's bucket, refilling from the issuance, holds a token again", async () => {
    const domain = { count: 4, periodMs: 40_000 };
    const b = bed({ domain });
    let validating = 0;
    // The client's side of an order: 5 s (virtual) for the challenge to be ready, between newOrder and finalize.
    const http01 = new StorageHttp01Solver(b.storage);
    const slow: Solver = {
      present: (challenge, ctx) => http01.present(challenge, ctx),
      wait: async () => {
        validating++;
        await b.clock.sleep(5_000);
        validating--;
      },
      cleanup: (challenge) => http01.cleanup(challenge),
    };
    const m = new CertificateManager({
      storage: b.storage,
      directoryUrl: b.ca.directoryUrl,
      fetch: b.limited.fetch,
      solvers: { "http-01": slow },
      termsOfServiceAgreed: true,
      caLimits: { certificatesPerRegisteredDomain: domain },
      budgetClock: b.clock,
      retry: { maxAttempts: 1 },
    });
    const names = Array.from({ length: 8 }, (_, i) => `n${i}.slow.example`);
    let settled = 0;
    const outcomes = names.map((n) =>
      m.manage([n]).then(
        () => "ok",
        (err: unknown) => String(err),
      ).finally(() => settled++),
    );
    const start = b.clock.now();
    await b.clock.drive(() => settled === names.length, { ready: () => m.queued().length + validating === names.length - settled });
    const results = await Promise.all(outcomes);
    const newOrders = b.limited.events.filter((e) => e.kind === "newOrder").map((e) => `${(e.at - start) / 1000}${e.refused ? " refused" : ""}`);
    console.log(`newOrders at (s): ${newOrders.join(", ")}`);
    expect(b.limited.refusals()).toEqual([]);
    expect(results.filter((r) => r !== "ok")).toEqual([]);
    // Four from the full bucket, then one per 10 s interval counted from the first finalize (5 s):
    // the CA's own schedule (15, 25, 35, 45 s) plus the budget's 1 s send margin, no later.
    const sent = b.limited.events.filter((e) => e.kind === "newOrder").map((e) => (e.at - start) / 1000);
    expect(sent.slice(4)).toEqual([16, 26, 36, 46]);
  });
  it("an order that waited after its admission does not let the next one reach the CA before its refill", async () => {
    // New orders per account, 4 per 40 s. The four orders of the full bucket wait 5 s (virtual) between
    // their admission and their newOrder (their order intents are slow to write); later ones do not.
    const orders = { count: 4, periodMs: 40_000 };
    const b = bed({ orders });
    let writing = 0;
    let slowWrites = 4;
    const put: typeof b.storage.put = async (key, value, when) => {
      if (key.startsWith("orders/") && slowWrites > 0) {
        slowWrites--;
        writing++;
        await b.clock.sleep(5_000);
        writing--;
      }
      return b.storage.put(key, value, when);
    };
    // The same store (and due index), its order-intent writes slowed.
    const storage = new Proxy(b.storage, {
      get: (target, prop) => {
        if (prop === "put") return put;
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const m = new CertificateManager({ storage, directoryUrl: b.ca.directoryUrl, fetch: b.limited.fetch, termsOfServiceAgreed: true, caLimits: { newOrdersPerAccount: orders }, budgetClock: b.clock, retry: { maxAttempts: 1 } });
    const names = Array.from({ length: 6 }, (_, i) => `n${i}.late.example`);
    let settled = 0;
    const outcomes = names.map((n) => m.manage([n]).then(() => "ok", (err: unknown) => String(err)).finally(() => settled++));
    const start = b.clock.now();
    await b.clock.drive(() => settled === names.length, { ready: () => m.queuedCount() + writing === names.length - settled });
    const results = await Promise.all(outcomes);
    const sent = b.limited.events.filter((e) => e.kind === "newOrder").map((e) => `${Math.floor((e.at - start) / 1000)}${e.refused ? " refused" : ""}`);
    console.log(`newOrders at (s): ${sent.join(", ")}`);
    expect(b.limited.refusals()).toEqual([]);
    expect(results.filter((r) => r !== "ok")).toEqual([]);
    // The CA counted the first four at 5 s: its next tokens at 15 and 25 s (+ the 1 s send margin).
    // (Counted from their admission, the fifth went at 11 s and was refused.)
    expect(sent.slice(4)).toEqual(["16", "26"]);
  });

  it("after a refusal the budget lets one order go at the CA's Retry-After, then one per interval: no burst the CA refuses again", async () => {
    // 2 new orders per 20 s. The budget's record of the bucket is lost after two orders (a storage
    // restored from a backup, another fleet on the same account): it believes the bucket full, the CA
    // has it empty, refuses the next order and says when it holds a token again (10 s).
    const orders = { count: 2, periodMs: 20_000 };
    const b = bed({ orders });
    const m = b.manager();
    const run = async (list: string[]) => {
      let settled = 0;
      const results = list.map((n) => m.manage([n]).then(() => "ok", (err: unknown) => String(err)).finally(() => settled++));
      await b.clock.drive(() => settled === list.length, { ready: () => m.queuedCount() === list.length - settled });
      return Promise.all(results);
    };
    const start = b.clock.now();
    expect(await run(["a.lost.example", "b.lost.example"])).toEqual(["ok", "ok"]);
    const { keys } = await b.storage.list("budget/");
    for (const key of keys.filter((k) => /\/orders\//.test(k))) await b.storage.delete(key);
    expect((await run(["c.lost.example"]))[0]).toMatch(/rateLimited|too many new orders/);
    // Three more wait out the pause. Old pause: at 10 s the budget let two go (its stale bucket), the
    // CA refused the second.
    expect(await run(["d.lost.example", "e.lost.example", "f.lost.example"])).toEqual(["ok", "ok", "ok"]);
    // Whole seconds: the queue lets orders submitted together settle for 50 ms before the first goes.
    const sent = b.limited.events.filter((e) => e.kind === "newOrder").map((e) => `${Math.floor((e.at - start) / 1000)}${e.refused ? " refused" : ""}`);
    console.log(`newOrders at (s): ${sent.join(", ")}`);
    expect(b.limited.refusals()).toHaveLength(1);
    expect(sent.slice(3)).toEqual(["10", "20", "30"]);
  });

  it("a new order that reaches the CA late, while the CA's bucket sat full, does not let the order after the burst go early", async () => {
    // New orders per account, 4 per 40 s, all four admitted at once. The first newOrder takes 5 s
    // (virtual) to reach the CA, past the budget's 1 s send margin (a loaded runtime signing and
    // sending a burst at once), and the other three follow it (they wait for its nonce). The CA's
    // bucket sat full until 5 s: its next tokens at 15 and 25 s.
    const orders = { count: 4, periodMs: 40_000 };
    const b = bed({ orders });
    let inTransit = 0;
    let late = 1;
    const fetch: typeof globalThis.fetch = async (input, init) => {
      const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
      if (url.endsWith("/new-order") && late > 0) {
        late--;
        inTransit++;
        await b.clock.sleep(5_000);
        inTransit--;
      }
      return b.limited.fetch(input, init);
    };
    const m = new CertificateManager({ storage: b.storage, directoryUrl: b.ca.directoryUrl, fetch, termsOfServiceAgreed: true, caLimits: { newOrdersPerAccount: orders }, budgetClock: b.clock, retry: { maxAttempts: 1 } });
    const names = Array.from({ length: 6 }, (_, i) => `n${i}.transit.example`);
    let settled = 0;
    const outcomes = names.map((n) => m.manage([n]).then(() => "ok", (err: unknown) => String(err)).finally(() => settled++));
    const start = b.clock.now();
    // While the late request is in transit the others wait for its nonce (in real time): time moves on.
    await b.clock.drive(() => settled === names.length, { ready: () => inTransit > 0 || m.queuedCount() === names.length - settled });
    const results = await Promise.all(outcomes);
    const sent = b.limited.events.filter((e) => e.kind === "newOrder").map((e) => `${Math.floor((e.at - start) / 1000)}${e.refused ? " refused" : ""}`);
    console.log(`newOrders at (s): ${sent.join(", ")}`);
    expect(b.limited.refusals()).toEqual([]);
    expect(results.filter((r) => r !== "ok")).toEqual([]);
    // Counted from when the CA answered (5 s), not from when they were sent plus the margin (1 s: the
    // fifth went at 11 s and was refused).
    expect(sent.slice(4)).toEqual(["15", "25"]);
  });

  it("a refused new order is not resent by the client behind the budget: the budget sends it again after the pause", async () => {
    // The default retry policy (a 429 with Retry-After within a minute is resent inside the call).
    // The budget's record is lost after two orders, as above: the CA refuses the third.
    const orders = { count: 2, periodMs: 20_000 };
    const b = bed({ orders });
    const m = new CertificateManager({ storage: b.storage, directoryUrl: b.ca.directoryUrl, fetch: b.limited.fetch, termsOfServiceAgreed: true, caLimits: { newOrdersPerAccount: orders }, budgetClock: b.clock });
    const run = async (list: string[]) => {
      let settled = 0;
      const results = list.map((n) => m.manage([n]).then(() => "ok", (err: unknown) => String(err)).finally(() => settled++));
      await b.clock.drive(() => settled === list.length, { ready: () => m.queuedCount() === list.length - settled });
      return Promise.all(results);
    };
    expect(await run(["a.resend.example", "b.resend.example"])).toEqual(["ok", "ok"]);
    const { keys } = await b.storage.list("budget/");
    for (const key of keys.filter((k) => /\/orders\//.test(k))) await b.storage.delete(key);
    // The refusal comes back to the manager at once (it pauses the bucket for the fleet); old code:
    // the client slept the CA's Retry-After (10 s) and resent the order, outside the budget's queue.
    expect((await run(["c.resend.example"]))[0]).toMatch(/rateLimited|too many new orders/);
    expect(b.limited.events.filter((e) => e.kind === "newOrder" && e.names[0] === "c.resend.example")).toHaveLength(1);
    // Sent again through the budget once its pause is over: it goes, the CA refuses nothing more.
    expect(await run(["c.resend.example", "d.resend.example"])).toEqual(["ok", "ok"]);
    expect(b.limited.refusals()).toHaveLength(1);
  });
});
